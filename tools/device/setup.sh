#!/usr/bin/env bash
# Make a bare GPU machine (no registry, no Node) ready for pokepsro, from the copied .device_kit/
# (made by tools/device/pack.sh on a machine with a registry). Run once on the GPU machine, then use pokepsro:
#     bash tools/device/setup.sh && pokepsro battle ...
# Idempotent and quick (a machine kept warm between calls is not redone). What it does:
#   - Node -> /tmp/node (NODE_DIR), linked into a folder on PATH (/usr/local/bin, else python3's bin folder)
#   - the kit's wheels -> the machine's own python3 environment (pip --no-index: only what is missing or
#     too old there is installed; torch, numpy, ... stay the image's)
#   - pokepsro from this working tree: a .pth file (no build step) and a `pokepsro` launcher
#   - Showdown -> envs/showdown/node_modules, where pokepsro.gen1.simulator.showdown_root() looks
# Set DEVICE_SETUP_QUIET=1 to skip the version report; PY (python3), NODE_DIR and LINKDIR may be overridden.
set -euo pipefail

START=$(date +%s.%N)
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KIT="$REPO/.device_kit"
PY=${PY:-python3}
log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }
untar_xz() {  # tar -xJ, or Python's tarfile where the image has no xz
    if command -v xz >/dev/null; then tar -xJf "$1" -C "$2"
    else "$PY" -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], filter="tar")' "$1" "$2"; fi
}

[[ -d "$KIT/wheels" ]] || die "$KIT is missing: run tools/device/pack.sh on a machine with a registry and copy .device_kit/ into this checkout"
PYBIN=$(dirname "$(command -v "$PY")")
# A folder on PATH to link programs into: /usr/local/bin if on PATH and writable, else python3's bin folder.
if [[ -z "${LINKDIR:-}" ]]; then
    LINKDIR=$PYBIN
    case ":$PATH:" in *:/usr/local/bin:*) [[ -w /usr/local/bin ]] && LINKDIR=/usr/local/bin ;; esac
fi
NODE_DIR=${NODE_DIR:-/tmp/node}

# ---------------------------------------------------------------- Node
NODE_TAR=$(ls "$KIT"/node-v*-linux-x64.tar.xz | head -1)
NODE_VERSION=$(basename "$NODE_TAR" | sed -E 's/^node-(v[0-9.]+)-.*/\1/')
if [[ "$("$NODE_DIR/bin/node" --version 2>/dev/null || true)" != "$NODE_VERSION" ]]; then
    rm -rf "$NODE_DIR" && mkdir -p "$NODE_DIR"
    untar_xz "$NODE_TAR" "$NODE_DIR"
fi
ln -sf "$NODE_DIR/bin/node" "$LINKDIR/node"
export PATH="$NODE_DIR/bin:$PATH"

# ---------------------------------------------------------------- Showdown
SD_TAR=$(ls "$KIT"/showdown-*.tar.xz | head -1)
SD_MARK="$REPO/envs/showdown/node_modules/.kit"
if [[ "$(cat "$SD_MARK" 2>/dev/null || true)" != "$(basename "$SD_TAR")" ]]; then
    rm -rf "$REPO/envs/showdown/node_modules"
    untar_xz "$SD_TAR" "$REPO"
    basename "$SD_TAR" >"$SD_MARK"
fi

# ---------------------------------------------------------------- Python packages
# Only requirements the image does not already satisfy are installed, all from the kit (no index).
REPORT=$(mktemp /tmp/pokepsro-pip-report.XXXXXX.json)
PIP_DISABLE_PIP_VERSION_CHECK=1 "$PY" -m pip install -q --no-index --find-links "$KIT/wheels" --no-compile \
    --root-user-action=ignore --report "$REPORT" -r "$KIT/wheels/requirements.txt"
INSTALLED=$("$PY" -c 'import json, sys; r = json.load(open(sys.argv[1]))["install"]
print(len(r), " ".join(sorted(i["metadata"]["name"] + "==" + i["metadata"]["version"] for i in r)))' "$REPORT")
rm -f "$REPORT"
# pokepsro itself, from this working tree, without a build step.
SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$REPO" >"$SITE/pokepsro-worktree.pth"
PYEXE=$("$PY" -c 'import sys; print(sys.executable)')
printf '#!%s\nimport sys\nfrom pokepsro.cli import main\nsys.exit(main())\n' "$PYEXE" >"$PYBIN/pokepsro"
chmod +x "$PYBIN/pokepsro"
[[ "$LINKDIR" == "$PYBIN" ]] || for tool in pokepsro snakemake; do ln -sf "$PYBIN/$tool" "$LINKDIR/$tool"; done

# ---------------------------------------------------------------- check + report
"$PY" - <<'EOF'
from pokepsro.gen1.simulator import check_showdown_install, node_executable, showdown_root
check_showdown_install(showdown_root())
node_executable()
EOF
SECONDS_TAKEN=$("$PY" -c "import time; print(round(time.time() - $START, 1))")
if [[ "${DEVICE_SETUP_QUIET:-0}" != 1 ]]; then
    log "node $(node --version) ($(command -v node)); showdown $(node -p "require('$REPO/envs/showdown/node_modules/pokemon-showdown/package.json').version")"
    "$PY" - <<'EOF'
import importlib.metadata as md, sys, torch
names = ["poke-env", "snakemake", "jsonschema", "websockets", "orjson", "numpy", "scipy", "matplotlib", "pyyaml",
         "tqdm", "tensorboard", "pulp"]
print(f"[setup] python {sys.version.split()[0]} ({sys.executable}); torch {torch.__version__}, "
      f"cuda {torch.cuda.is_available()} {torch.cuda.get_device_name(0) if torch.cuda.is_available() else ''}")
print("[setup] " + ", ".join(f"{n} {md.version(n)}" for n in names))
EOF
fi
log "pip installed ${INSTALLED%% *} packages from the kit (the image had the rest): ${INSTALLED#* }"
log "ready in ${SECONDS_TAKEN}s (pokepsro, snakemake, node on PATH via $LINKDIR)"

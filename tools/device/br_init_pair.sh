#!/usr/bin/env bash
# Both `br_init` settings side by side on the GPU machine, each a Snakemake run of its own (tools/device/gpu_run.sh)
# in a copy of this checkout, from one saved state (the shared phase 0 + BR_0) or each from its own:
#     bash tools/device/setup.sh && STATE_IN=.device_state/shared.tgz bash tools/device/br_init_pair.sh
#     STATE_start=start_state.tgz STATE_previous=... bash tools/device/br_init_pair.sh   # go on
# Knobs: GPU_CONFIGS (config/gpu.yaml config/gpu_br_init.yaml), RUN_S (each run's wall limit, 520 s), CORES per run
# (half the machine). Back in OUT (8 files at most come back from a device command): per setting SETTING.tgz (the
# run's report, logs and results, as gpu_run.sh packs them) and its state SETTING_state.tgz.N (parts of 15 MiB; join
# with `cat SETTING_state.tgz.* > SETTING_state.tgz` and load with tools/device/run_state.sh).
set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUTDIR=${OUT:-/tmp/br-init-pair-out}
CONFIGS=${GPU_CONFIGS:-"config/gpu.yaml config/gpu_br_init.yaml"}
mkdir -p "$OUTDIR"
for setting in start previous; do
    copy=/tmp/br_init_$setting
    state_var=STATE_$setting
    state=${!state_var:-${STATE_IN:?set STATE_IN or STATE_$setting}}
    mkdir -p "$copy" && tar -C "$REPO" --exclude=./.device_kit --exclude=./.device_state --exclude=./.venv \
        --exclude=./results --exclude=./logs --exclude=./.snakemake -cf - . | tar -xf - -C "$copy"
    cp "$state" "$copy/state_in.tgz"
    (cd "$copy" && OUT="$OUTDIR/$setting" CORES=${CORES:-$(( $(nproc) / 2 ))} GPU_CONFIGS="$CONFIGS" \
        STATE_IN=state_in.tgz STATE_OUT=state.tgz \
        EXTRA="--config br_init=$setting --rerun-triggers mtime params input software-env" \
        bash tools/device/gpu_run.sh >/dev/null 2>&1; echo "$setting: exit $?") &
done
wait
for setting in start previous; do
    dir="$OUTDIR/$setting"
    for part in "$dir"/state.tgz.*; do [[ -f "$part" ]] && mv "$part" "$OUTDIR/${setting}_state.tgz.${part##*.}"; done
    tail -n 30 "$dir/run.log" | sed "s/^/[$setting] /"
    tar -C "$dir" -czf "$OUTDIR/$setting.tgz.tmp" . && mv "$OUTDIR/$setting.tgz.tmp" "$OUTDIR/$setting.tgz" &&
        rm -rf "$dir"
done
ls -la "$OUTDIR"

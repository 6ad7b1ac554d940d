#!/usr/bin/env bash
# The whole workflow on the GPU machine through Snakemake, with the GPU config, inside one device command:
#     bash tools/device/setup.sh && bash tools/device/gpu_run.sh
# Default: config/gpu.yaml with the overlay config/gpu_smoke.yaml (phase 0 + 1 PSRO iteration + the exploiter
# + the analysis; BR_0 is evaluated within 10 minutes, the exploiter not yet);
# GPU_CONFIGS="config/gpu.yaml" runs the full scale.
# While it runs, nvidia-smi is sampled every second (GPU utilisation and memory, and the processes on the GPU).
# At the end tools/device/gpu_stage_report.py turns the benchmark files and the GPU trace into a table of stage
# times with the GPU use in each stage plus σ per iteration and the best responses' win rates, and everything
# is packed into the output folder (OUT, default /tmp/gpu-run-out): run.log, report.md, stages.json, gpu.csv, gpu_apps.csv,
# results.tgz (results/analysis/*.json, every meta_strategy.json, meta_game_analysis.json, br_eval.json,
# population.json, interaction_matrix.json, metrics.csv and learning curves, the figures, logs/ with the
# benchmark TSVs).
# Knobs: GPU_CONFIGS, RUN_S (Snakemake's wall limit, 520 s), CORES (all), EXTRA (more snakemake arguments).
# A run longer than one command goes on from a saved state (tools/device/run_state.sh): STATE_IN, a file carried
# with the checkout, is loaded first; STATE_OUT, a name, gets the state at the end, in the output folder as parts
# of 15 MiB (a device command returns no larger file); join them with `cat STATE_OUT.* > STATE_OUT`.
set -uo pipefail
export PYTHONUNBUFFERED=1
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
OUTDIR=${OUT:-/tmp/gpu-run-out}
mkdir -p "$OUTDIR"
CONFIGS=${GPU_CONFIGS:-"config/gpu.yaml config/gpu_smoke.yaml"}
RUN_S=${RUN_S:-520}
exec > >(tee -a "$OUTDIR/run.log") 2>&1
[[ -n "${STATE_IN:-}" ]] && { bash tools/device/run_state.sh load "$STATE_IN" || exit 2; }

nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 1 >"$OUTDIR/gpu.csv" 2>&1 &
SMI=$!
( while sleep 1; do echo "# $(date +%s)"; nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader; done ) \
    >"$OUTDIR/gpu_apps.csv" 2>&1 &
APPS=$!

# shellcheck disable=SC2086
CMD="snakemake --cores ${CORES:-all} --configfile $CONFIGS ${EXTRA:-}"
echo "=== $(date -u) $(nproc) cores, $(nvidia-smi --query-gpu=name --format=csv,noheader)"
echo "=== $CMD   (wall limit ${RUN_S}s)"
# shellcheck disable=SC2086
$CMD --dry-run 2>&1 | sed -n '/^Job stats/,/^total/s/^/[to run] /p'
START=$(date +%s.%N)
# shellcheck disable=SC2086
timeout -s INT -k 30 "$RUN_S" $CMD
RC=$?
WALL=$(python3 -c "import time; print(round(time.time() - $START, 1))")
echo "=== snakemake exit $RC after ${WALL}s"
kill "$SMI" "$APPS" 2>/dev/null; wait "$SMI" "$APPS" 2>/dev/null

python3 tools/device/gpu_stage_report.py --root . --gpu "$OUTDIR/gpu.csv" --apps "$OUTDIR/gpu_apps.csv" \
    --out "$OUTDIR"
python3 - "$OUTDIR/stages.json" "$WALL" "$RC" "$CMD" <<'PY'
import json, sys
path = sys.argv[1]
data = json.load(open(path))
data.update(snakemake_wall_s=float(sys.argv[2]), snakemake_exit=int(sys.argv[3]), command=sys.argv[4])
json.dump(data, open(path, "w"), indent=1)
PY
pokepsro criteria results/analysis/success.json 2>&1 | tail -20
find results logs -type f \( -name '*.json' -o -name '*.csv' -o -name '*.png' -o -name '*.tsv' -o -name '*.log' \) \
    ! -path '*/trajectories/*' ! -name 'battles.jsonl' ! -path '*/tensorboard/*' -size -4M -print0 \
    | tar czf "$OUTDIR/results.tgz" --null -T -
if [[ -n "${STATE_OUT:-}" ]]; then
    bash tools/device/run_state.sh save "$OUTDIR/$STATE_OUT" &&
        split -b 15M -d -a 1 "$OUTDIR/$STATE_OUT" "$OUTDIR/$STATE_OUT." && rm "$OUTDIR/$STATE_OUT"
fi
ls -la "$OUTDIR"
exit "$RC"

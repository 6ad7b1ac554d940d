#!/usr/bin/env bash
# Short measurements on the GPU machine (after setup.sh), about 7 minutes; everything lands in the output folder (OUT, default /tmp/gpu-measure):
#   1. trainer throughput of small/base/large on the GPU (benchmarks/trainer_throughput.py, MFU against the
#      H100/H200 dense bf16 peak, 989 TFLOP/s)
#   2. neural battles: battle worker processes x inference device (benchmarks/neural_battles.py --workers ...),
#      each worker with its own policy copy, on cuda and on cpu; small model, then base/large on cuda
#   3. the PPO oracle's battles/s per model size: `pokepsro best-response` from an untrained checkpoint of each
#      size against gym_leader, 7 rollout workers (each with its own CUDA model), GPU sampled
#   4. a Snakemake dry run of config/gpu.yaml (+ config/gpu_smoke.yaml)
# Usage: bash tools/device/setup.sh && bash tools/device/gpu_measure.sh
# Knobs: MEASURE_S (total seconds, 540), ORACLE_BATTLES (640), WORKERS ("1 4 8 14").
set -uo pipefail
export PYTHONUNBUFFERED=1
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
OUTDIR=${OUT:-/tmp/gpu-measure}
WORK=/tmp/gpu-measure-work
mkdir -p "$OUTDIR" "$WORK"
exec > >(tee -a "$OUTDIR/measure.log") 2>&1
START=$(date +%s)
BUDGET=${MEASURE_S:-540}
ORACLE_BATTLES=${ORACLE_BATTLES:-640}
WORKERS=${WORKERS:-"1 4 8 14"}
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
step() { printf '\n=== [%4ds] %s\n' "$(( $(date +%s) - START ))" "$*"; }
quiet() { grep -vE 'WARNING|it/s\]|battle/s\]|s/battle\]|^\s*$' || true; }
# Run "$@" with at most $1 seconds, never past the budget (30 s kept for packing up).
bounded() { local limit=$1; shift; local l=$(( $(left) - 30 )); (( l < limit )) && limit=$l
    if (( limit < 10 )); then echo "skipped (budget spent): $*"; return 0; fi
    timeout -k 5 "$limit" "$@"; local rc=$?; (( rc == 124 )) && echo "!!! timed out after ${limit}s: $*"; return 0; }

step "machine"
nproc; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -lms 500 >"$WORK/gpu.csv" 2>&1 &
SMI=$!
( while sleep 1; do echo "# $(date +%s)"; nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader; done ) \
    >"$WORK/gpu_apps.csv" 2>&1 &
APPS=$!

step "dry run: snakemake -n --configfile config/gpu.yaml config/gpu_smoke.yaml"
( d=$(mktemp -d) && snakemake -n --cores 16 --directory "$d" -s "$REPO/Snakefile" \
    --configfile config/gpu.yaml config/gpu_smoke.yaml 2>&1 | tail -28 )

step "trainer throughput (bf16 autocast, MFU vs 989 TFLOP/s)"
bounded 40 python3 benchmarks/trainer_throughput.py --model small --batch-sizes 1024 16384 65536 --json "$WORK/trainer_small.json"
bounded 60 python3 benchmarks/trainer_throughput.py --model base --batch-sizes 1024 4096 32768 --json "$WORK/trainer_base.json"
bounded 90 python3 benchmarks/trainer_throughput.py --model large --batch-sizes 1024 4096 16384 --json "$WORK/trainer_large.json"

step "neural battles, small model: workers {$WORKERS} x {cuda, cpu}, 16 battles in flight per worker"
# shellcheck disable=SC2086
bounded 200 python3 benchmarks/neural_battles.py --model small --workers $WORKERS --devices cuda cpu \
    --battles 100 --battles-per-worker 40 --json "$WORK/neural_small.json" 2> >(quiet >&2)

step "PPO oracle battles/s per model size (untrained checkpoints, gym_leader, 7 rollout workers, $ORACLE_BATTLES battles)"
python3 - "$WORK" <<'EOF'
import sys
from pathlib import Path
from pokepsro.learning.features import FEATURE_VERSION, OBS_DIM
from pokepsro.learning.model import build_model, load_model_config, save_checkpoint, count_parameters
for name in ("small", "base", "large"):
    config = load_model_config(name)
    model = build_model(config, OBS_DIM)
    save_checkpoint(Path(sys.argv[1]) / f"{name}.pt", model, model_config=config, obs_dim=OBS_DIM,
                    feature_version=FEATURE_VERSION, train_config={}, epoch=0, metrics={})
    print(name, count_parameters(model))
EOF
for model in small base large; do
    echo "--- $model"
    s=$(date +%s.%N)
    bounded 100 pokepsro best-response "$WORK/$model.pt" --opponent gym_leader --battles "$ORACLE_BATTLES" \
        --workers 7 --concurrency 112 --out "$WORK/oracle_$model" 2> >(quiet >&2)
    echo "$model wall $(python3 -c "import time; print(round(time.time() - $s, 1))") s"
    cp "$WORK/oracle_$model/br_training/metrics.csv" "$WORK/oracle_metrics_$model.csv" 2>/dev/null
    python3 -c "import csv, sys; rows = list(csv.DictReader(open(sys.argv[1])))
print(f'{len(rows)} rounds; ' + '; '.join(f\"r{r['round']} {float(r['battles_per_s']):.1f} b/s play {float(r['play_s']):.1f}s update {float(r['update_s']):.2f}s\" for r in rows))" \
        "$WORK/oracle_metrics_$model.csv" 2>/dev/null
done

step "neural battles, base and large on cuda (and large on cpu), 1 and 14 workers"
bounded 60 python3 benchmarks/neural_battles.py --model base --workers 14 --devices cuda \
    --battles 100 --battles-per-worker 40 --json "$WORK/neural_base.json" 2> >(quiet >&2)
bounded 90 python3 benchmarks/neural_battles.py --model large --workers 1 14 --devices cuda \
    --battles 100 --battles-per-worker 40 --json "$WORK/neural_large.json" 2> >(quiet >&2)
bounded 60 python3 benchmarks/neural_battles.py --model large --workers 14 --devices cpu \
    --battles 56 --battles-per-worker 4 --json "$WORK/neural_large_cpu.json" 2> >(quiet >&2)

step "pack up"
kill "$SMI" "$APPS" 2>/dev/null; wait "$SMI" "$APPS" 2>/dev/null
tar czf "$OUTDIR/measure.tgz" -C "$WORK" --exclude='*.pt' --exclude='state.pt' --exclude='tensorboard' . 2>/dev/null
ls -la "$OUTDIR"
echo "done after $(( $(date +%s) - START )) s"

#!/usr/bin/env bash
# A short end-to-end check of a device machine after tools/device/setup.sh (about 1-2 minutes on an H200 node):
# versions, a Snakemake dry run of the default workflow, heuristic battles (direct backend, worker processes),
# a few battles through a local Showdown server, and battles of an untrained neural checkpoint on the GPU
# while nvidia-smi is sampled. Writes smoke.log, gpu.csv, gpu_apps.csv and the battle records to the output folder
# (SMOKE_OUT or OUT, default /tmp/pokepsro-smoke).     bash tools/device/setup.sh && bash tools/device/smoke.sh
# Scale with SMOKE_BATTLES (heuristic, 200), SMOKE_NEURAL_BATTLES (100), SMOKE_WORKERS (4).
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUTDIR=${SMOKE_OUT:-${OUT:-/tmp/pokepsro-smoke}}
N=${SMOKE_BATTLES:-200}
NN=${SMOKE_NEURAL_BATTLES:-100}
W=${SMOKE_WORKERS:-4}
mkdir -p "$OUTDIR"
export PYTHONUNBUFFERED=1
cd "$REPO"
exec > >(tee -a "$OUTDIR/smoke.log") 2>&1
FAILED=0
step() { printf '\n=== %s\n' "$*"; }
check() { local rc=$?; [[ $rc == 0 ]] || { echo "!!! step failed (exit $rc)"; FAILED=1; }; }
# Battle commands print a tqdm bar on stderr; keep only the summary lines.
summary() { grep -vE '^battles:|it/s\]|battle/s\]|s/battle\]' || true; }

step "machine"
date -u; uname -srm; echo "nproc $(nproc)"; free -g | head -2
nvidia-smi -L 2>&1; check

step "snakemake"
snakemake --version; check
python3 -m pip check 2>&1 | grep -Ei 'poke|snakemake|jsonschema|pulp|pydantic|sqlmodel|websockets' || echo "pip check: nothing about the kit's packages"
( d=$(mktemp -d) && snakemake -n --cores "$(nproc)" --directory "$d" -s "$REPO/Snakefile" 2>&1 | tail -22 ); check

step "heuristic battles: pokepsro battle max_base_power random -n $N --team-set competitive --workers $W"
time pokepsro battle max_base_power random -n "$N" --team-set competitive \
    --workers "$W" --seed 1 --out "$OUTDIR/heuristic.jsonl" 2> >(summary >&2); check

step "server backend: pokepsro battle random max_base_power -n 40 --backend server"
pokepsro battle random max_base_power -n 40 --team-set competitive --backend server --seed 2 \
    --server-log /tmp/pokepsro-smoke-server.log 2> >(summary >&2); check

step "neural checkpoint on the GPU: pokepsro battle CKPT max_base_power -n $NN --workers $W"
CKPT_DIR=$(mktemp -d)
python3 - "$CKPT_DIR/epoch_0.pt" <<'EOF'; check
import sys, torch
from pokepsro.learning.features import FEATURE_VERSION, OBS_DIM
from pokepsro.learning.model import build_model, load_model_config, save_checkpoint, pick_device
config = load_model_config("small")
model = build_model(config, OBS_DIM)
save_checkpoint(sys.argv[1], model, model_config=config, obs_dim=OBS_DIM, feature_version=FEATURE_VERSION,
                train_config={}, epoch=0, metrics={})
print(f"untrained 'small' model, {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters; "
      f"policies will run on {pick_device()}")
EOF
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -lms 500 >"$OUTDIR/gpu.csv" 2>&1 &
SMI=$!
( while sleep 1; do nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader; done ) \
    >"$OUTDIR/gpu_apps.csv" 2>&1 &
APPS=$!
time pokepsro battle "$CKPT_DIR/epoch_0.pt" max_base_power -n "$NN" \
    --team-set competitive --workers "$W" --seed 3 --out "$OUTDIR/neural.jsonl" 2> >(summary >&2); check
kill "$SMI" "$APPS" 2>/dev/null; wait "$SMI" "$APPS" 2>/dev/null
echo "GPU samples: $(($(wc -l <"$OUTDIR/gpu.csv") - 1)), max utilization $(tail -n +2 "$OUTDIR/gpu.csv" | cut -d, -f2 | tr -dc '0-9\n' | sort -n | tail -1) %, max memory $(tail -n +2 "$OUTDIR/gpu.csv" | cut -d, -f3 | tr -dc '0-9\n' | sort -n | tail -1) MiB"
echo "processes seen on the GPU: $(cut -d, -f1 "$OUTDIR/gpu_apps.csv" | sort -u | grep -c .) ($(sort -u -t, -k1,1 "$OUTDIR/gpu_apps.csv" | head -8 | tr '\n' ';'))"

step "done: $([[ $FAILED == 0 ]] && echo 'all steps passed' || echo 'SOME STEPS FAILED')"
exit $FAILED

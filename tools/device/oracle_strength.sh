#!/usr/bin/env bash
# The oracle strength benchmark on the 16-core GPU machine with 4x the default budget, both σ at once (7 rollout
# workers each), from the bootstrap carried along (results/phase0/bootstrap/refined.pt, the one the 2-core run
# used). Usage (after setup.sh): bash tools/device/oracle_strength.sh
set -uo pipefail
export PYTHONUNBUFFERED=1
out=${OUT:-/tmp/oracle-strength-out}
budget=$(( 4 * $(python3 -c "import yaml; print(yaml.safe_load(open('config/config.yaml'))['oracle_battles'])") ))
mkdir -p "$out"
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader -l 5 > "$out/gpu.csv" &
monitor=$!
timeout "${RUN_S:-480}" python3 benchmarks/oracle_strength.py --init results/phase0/bootstrap/refined.pt --battles "$budget" \
  --workers 7 --eval-workers 7 --parallel --out benchmarks/out/oracle_strength_gpu 2>&1 | tee "$out/oracle_strength.log" \
  | grep -v WARNING
kill "$monitor"
cp benchmarks/out/oracle_strength_gpu/results.json benchmarks/out/oracle_strength_gpu/*.png "$out/" 2>/dev/null
for sigma in benchmarks/out/oracle_strength_gpu/*/; do  # the learning curves, also when the run was cut short
  cp "$sigma/training/metrics.csv" "$out/metrics_$(basename "$sigma").csv" 2>/dev/null
done

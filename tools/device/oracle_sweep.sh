#!/usr/bin/env bash
# PPO settings compared in parallel on the 16-core GPU machine: the phase-0 imitation bootstrap, then one
# oracle_strength run per setting against gym_leader (2 rollout workers each).
# Usage (after setup.sh): B=2048 bash tools/device/oracle_sweep.sh
set -uo pipefail
export PYTHONUNBUFFERED=1
out=${OUT:-/tmp/sweep-out}
budget=${B:-2048}
mkdir -p sweep "$out"
start=$(date +%s)
timeout 150 snakemake --cores 16 results/phase0/bootstrap/ckpts/epoch_8.pt --config workers=7 concurrency=32 \
  > sweep/phase0.log 2>&1
echo "phase0 done after $(( $(date +%s) - start )) s"
init=results/phase0/bootstrap/ckpts/epoch_8.pt
run() {
  name=$1; shift
  timeout "${RUN_S:-400}" python3 benchmarks/oracle_strength.py --init "$init" --battles "$budget" --sigma gym_leader \
    --acting greedy --eval-battles 300 --workers 2 --eval-workers 2 --out "sweep/$name" "$@" > "sweep/$name.log" 2>&1 &
}
run base
run t05 --skip-init-eval --ppo temperature=0.5
run t03 --skip-init-eval --ppo temperature=0.3
run r64 --skip-init-eval --ppo round_battles=64
wait
echo "sweep done after $(( $(date +%s) - start )) s"
grep -h "^| gym\|^| σ" sweep/*.log > "$out/table.txt"
for f in sweep/*/*/training/metrics.csv; do echo "== $f"; cut -d, -f1-4,9-13 "$f"; done > "$out/curves.txt"
tar czf "$out/sweep.tgz" sweep/*.log sweep/*/results.json sweep/*/*.png logs/phase0 2>/dev/null
cp "$init" "$out/bootstrap_bc.pt"

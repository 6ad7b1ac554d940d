#!/usr/bin/env bash
# Where the PPO oracle's time goes with many rollout workers: one oracle_scaling run (WORKERS, default 14) under
# py-spy (every Python process: the learner's and each worker's), as collapsed stacks for
# benchmarks/profile_summary.py. Usage (after setup.sh and `pip install py-spy`):
#     bash tools/device/oracle_profile.sh     (OUT: where profile.txt and the run's log go; PPO_ARGS: oracle overrides)
set -uo pipefail
export PYTHONUNBUFFERED=1
out=${OUT:-/tmp/oracle-profile-out}
init=${INIT:-results/phase0/bootstrap/refined.pt}
mkdir -p "$out"
timeout "${PROFILE_S:-120}" py-spy record --subprocesses --rate "${RATE:-20}" --format raw -o "$out/profile.txt" -- \
  python3 benchmarks/oracle_scaling.py --init "$init" --workers "${WORKERS:-14}" \
  --battles-per-worker "${PER_WORKER:-128}" ${PPO_ARGS:---ppo policy_lag=2} --out "$out/profiled" 2>&1 \
  | grep -v WARNING | tee "$out/profile.log"

#!/usr/bin/env bash
# The PPO oracle's battles/s against rollout workers on the 16-core GPU machine (benchmarks/oracle_scaling.py), from
# the bootstrap carried along, then the same on 2 of its cores (taskset) with 1 and 2 workers.
# Usage (after setup.sh): bash tools/device/oracle_scaling.sh
#     (OUT: where the tables go; PPO_ARGS: oracle overrides, default "--ppo policy_lag=2")
set -uo pipefail
export PYTHONUNBUFFERED=1
out=${OUT:-/tmp/oracle-scaling-out}
init=${INIT:-results/phase0/bootstrap/refined.pt}
mkdir -p "$out"
timeout "${SCALE_S:-330}" python3 benchmarks/oracle_scaling.py --init "$init" --workers ${WORKERS:-1 2 4 8 14} \
  --battles-per-worker "${PER_WORKER:-256}" ${PPO_ARGS:---ppo policy_lag=2} --out "$out/scaling" 2>&1 | grep -v WARNING | tee "$out/scaling.log"
timeout "${TWO_CORE_S:-100}" taskset -c 0,1 python3 benchmarks/oracle_scaling.py --init "$init" --workers 1 2 \
  --battles-per-worker 192 ${PPO_ARGS:---ppo policy_lag=2} --out "$out/two_cores" 2>&1 | grep -v WARNING \
  | tee "$out/two_cores.log"

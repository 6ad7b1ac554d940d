#!/usr/bin/env bash
# The oracle strength benchmark on the 16-core GPU machine: one best response from the bootstrap carried along
# (results/phase0/bootstrap/refined.pt) against gym_leader, with 14 rollout workers, then 400 greedy battles on the
# held-out teams (bootstrap and best response). Usage (after setup.sh):
#     B=32768 bash tools/device/oracle_strength.sh
# B: training battles; TEAMS: training team set (default competitive); PPO: more PPO overrides, e.g.
# "defer_after_turns=48"; SEED: the run seed; SKIP_INIT=1: do not measure the bootstrap again; LAG: policy_lag;
# OUT: where results go.
set -uo pipefail
export PYTHONUNBUFFERED=1
out=${OUT:-/tmp/oracle-strength-out}
mkdir -p "$out"
timeout "${RUN_S:-560}" python3 benchmarks/oracle_strength.py --init results/phase0/bootstrap/refined.pt \
  --battles "${B:-32768}" --sigma gym_leader --acting greedy --eval-battles 400 --workers "${WORKERS:-14}" \
  --eval-workers "${WORKERS:-14}" --concurrency "$(( 8 * ${WORKERS:-14} ))" --team-set "${TEAMS:-competitive}" \
  ${SKIP_INIT:+--skip-init-eval} ${SEED:+--seed "$SEED"} --ppo "policy_lag=${LAG:-2}" ${PPO:-} \
  --out benchmarks/out/oracle_strength_gpu 2>&1 | grep -v WARNING | tee "$out/oracle_strength.log"
cp benchmarks/out/oracle_strength_gpu/results.json benchmarks/out/oracle_strength_gpu/*.png "$out/" 2>/dev/null
cp benchmarks/out/oracle_strength_gpu/gym_leader/training/metrics.csv "$out/metrics.csv" 2>/dev/null
cp benchmarks/out/oracle_strength_gpu/gym_leader/training/greedy_eval.csv "$out/greedy_eval.csv" 2>/dev/null

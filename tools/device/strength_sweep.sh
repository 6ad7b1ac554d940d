#!/usr/bin/env bash
# What makes the oracle stronger, measured in one call on the 16-core GPU machine (after setup.sh):
#   1. phase-0 bootstrap variants, each through bootstrap_eval.json in its own folder (4 cores each);
#   2. PPO runs, each an oracle_strength run from a variant's refined bootstrap against pure gym_leader
#      (2 rollout workers each: the 2-core machine's setting), greedy evaluation over EVAL battles.
# PLAN=ppo: the default bootstrap and three BC variants, then PPO settings from the default bootstrap.
# PLAN=bootstrap: longer / gym_leader-only BC, then the default PPO from each.
# (PLAN=features, on branch `teamset`: the team-set inference block A/B, docs/measurements there.)
# Usage: PLAN=ppo OUT=... B=4096 EVAL=400 bash tools/device/strength_sweep.sh
# Results: $OUT/table.txt (one line per variant), $OUT/curves.txt (per-round training metrics), $OUT/sweep.tgz.
set -uo pipefail
export PYTHONUNBUFFERED=1
out=${OUT:-/tmp/sweep-out}
budget=${B:-4096}
eval_battles=${EVAL:-400}
repo=$(pwd)
mkdir -p sweep "$out"
start=$(date +%s)
elapsed() { echo "$(( $(date +%s) - start )) s"; }

train_config() {  # $1 name, then KEY=VALUE overrides of config/train/bootstrap.yaml
  local name=$1; shift
  cp config/train/bootstrap.yaml "sweep/$name.yaml"
  for pair in "$@"; do sed -i "s/^${pair%%=*}:.*/${pair%%=*}: ${pair#*=}/" "sweep/$name.yaml"; done
  echo "$repo/sweep/$name.yaml"
}

phase0() {  # $1 variant name, $2 YAML overlay of config/config.yaml
  local name=$1
  mkdir -p "sweep/$name"
  printf '%s\n' "$2" > "sweep/$name.config.yaml"
  timeout "${PHASE0_S:-330}" snakemake --snakefile Snakefile --directory "sweep/$name" \
    --configfile config/config.yaml "sweep/$name.config.yaml" --cores "${P0_CORES:-4}" results/phase0/bootstrap_eval.json \
    --config workers=$(( ${P0_CORES:-4} - 1 )) concurrency=32 logger=none > "sweep/$name.log" 2>&1
  echo "phase0 $name exit $? after $(elapsed)"
}

oracle() {  # $1 run name, $2 the phase-0 variant it starts from, then oracle_strength arguments
  local name=$1 init=sweep/$2/results/phase0/bootstrap/refined.pt; shift 2
  [[ -f $init ]] || { echo "oracle $name: no $init"; return; }
  timeout "${ORACLE_S:-330}" python3 benchmarks/oracle_strength.py --init "$init" \
    --battles "$budget" --sigma gym_leader --acting greedy --eval-battles "$eval_battles" --workers "${ORACLE_WORKERS:-2}" \
    --eval-workers 2 --out "sweep/$name" "$@" > "sweep/$name.log" 2>&1
  echo "oracle $name exit $? after $(elapsed)"
}

bc=$(train_config bc policy_loss=bc)
phase0_with() {  # phase0 variants differ in a few phase0 keys: KEY=YAML ... on top of the default's
  python3 - "$@" <<'EOF'
import sys, yaml
config = yaml.safe_load(open("config/config.yaml"))
overlay = {"phase0": dict(config["phase0"])}
for pair in sys.argv[1:]:
    key, _, value = pair.partition("=")
    (overlay["phase0"] if key in overlay["phase0"] else overlay)[key] = yaml.safe_load(value)
print(yaml.safe_dump(overlay))
EOF
}
if [[ ${PLAN:-ppo} == ppo ]]; then
  phase0 p0_default "$(phase0_with)" &
  default_pid=$!
  phase0 p1_bc "$(phase0_with bootstrap_train_config="$bc")" &
  phase0 p2_bc_gym_leader "$(phase0_with bootstrap_train_config="$bc" "bootstrap_imitate=[gym_leader]")" &
  phase0 p3_bc_16_epochs "$(phase0_with bootstrap_train_config="$bc" bootstrap_epochs=16)" &
  wait "$default_pid"
  oracle ppo_base p0_default &
  oracle ppo_lr1e-4 p0_default --skip-init-eval --ppo lr=1.0e-4 &
  oracle ppo_epochs8 p0_default --skip-init-eval --ppo epochs=8 &
  oracle ppo_round256 p0_default --skip-init-eval --ppo round_battles=256 minibatch_size=1024 &
else
  phase0 p3_bc_16_epochs "$(phase0_with bootstrap_train_config="$bc" bootstrap_epochs=16)" &
  phase0 p4_bc_32_epochs "$(phase0_with bootstrap_train_config="$bc" bootstrap_epochs=32)" &
  phase0 p5_bc_16_epochs_gym_leader "$(phase0_with bootstrap_train_config="$bc" bootstrap_epochs=16 \
    "bootstrap_imitate=[gym_leader]")" &
  phase0 p6_bc_32_epochs_gym_leader "$(phase0_with bootstrap_train_config="$bc" bootstrap_epochs=32 \
    "bootstrap_imitate=[gym_leader]")" &
  wait
  for variant in p3_bc_16_epochs p4_bc_32_epochs p5_bc_16_epochs_gym_leader p6_bc_32_epochs_gym_leader; do
    oracle "ppo_from_$variant" "$variant" &
  done
fi
wait
echo "sweep done after $(elapsed)"

{
  for f in sweep/[pf]*/results/phase0/bootstrap_eval.json; do
    echo "== $f"
    python3 - "$f" <<'EOF'
import json, sys
for name, row in json.load(open(sys.argv[1]))["opponents"].items():
    print(f"  vs {name}: {row['win_rate']:.3f} ({row['ci95'][0]:.3f}-{row['ci95'][1]:.3f}), n={row['battles']}")
EOF
  done
  for f in sweep/ppo_*.log; do echo "== $f"; grep -h "^| gym" "$f"; done
} > "$out/table.txt" 2>&1
for f in sweep/*/br_training/metrics.csv sweep/*/*/br_training/metrics.csv sweep/*/*/training/metrics.csv; do
  [[ -f $f ]] && { echo "== $f"; cut -d, -f1-4,8-12 "$f"; }
done > "$out/curves.txt" 2>/dev/null
tar czf "$out/sweep.tgz" sweep/*.log sweep/*.yaml sweep/ppo_*/results.json sweep/ppo_*/*.png \
  sweep/[pf]*/results/phase0/bootstrap_eval.json sweep/[pf]*/results/phase0/bootstrap/metrics.csv \
  sweep/[pf]*/results/phase0/bootstrap/refine_training/metrics.csv 2>/dev/null
echo "collected after $(elapsed)"

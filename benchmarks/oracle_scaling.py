"""Oracle scaling: the PPO oracle's battles/s against the number of rollout workers, in one run.

    python benchmarks/oracle_scaling.py [--init CKPT] [--workers 1 2 4 8 14] [--battles-per-worker 256]
        [--opponent gym_leader] [--concurrency-per-worker 8] [--ppo KEY=VALUE ...] [--out DIR]

For each worker count the oracle trains from the same start checkpoint (--init, else untrained `small` weights
seeded from --seed) against one heuristic, for `battles-per-worker × workers` battles (at least 4 rounds), greedy
points off. It prints, per count: the steady battles/s (the battles of the rounds after the first two over the wall
time from the second commit to the last), the whole job's battles/s (start-up included), how many cores the job
kept busy (CPU seconds of the job and its processes over its wall time), the learner's idle share, and the
fraction of linear scaling, steady(w) / (w · steady(1)), and the share of battles trained on by a later update than
their round's (`--ppo defer_after_turns=T`). Results go to --out/scaling.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pokepsro.core.files import atomic_write_json  # noqa: E402
from pokepsro.learning.features import FEATURE_VERSION, OBS_DIM  # noqa: E402
from pokepsro.learning.model import build_model, load_model_config, save_checkpoint  # noqa: E402
from pokepsro.learning.oracle import BestResponseTask, ppo_oracle, train_best_response  # noqa: E402
from pokepsro.learning.oracle.ppo import load_ppo_config  # noqa: E402
from pokepsro.metagame.population import Population, heuristic_entry, player_factories  # noqa: E402

STEADY_AFTER_ROUNDS = 2


def untrained_checkpoint(folder: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    config = load_model_config("small")
    return save_checkpoint(folder / "untrained.pt", build_model(config, OBS_DIM), model_config=config, obs_dim=OBS_DIM,
                           feature_version=FEATURE_VERSION, train_config={}, epoch=0, metrics={})


def cpu_seconds() -> float:
    """CPU time of this process and of its ended children (the rollout workers and, through them, their
    simulators)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(init: Path, workers: int, args: argparse.Namespace, ppo: dict, work: Path) -> dict:
    population = Population((heuristic_entry(args.opponent),))
    battles = max(args.battles_per_worker * workers, 4 * ppo["round_battles"])
    task = BestResponseTask(learner_name="scaling", init_checkpoint=init, opponents=player_factories(population),
                            sigma=np.ones(1), work_dir=work, seed=args.seed, team_set="competitive",
                            battle={"battle_format": "gen1ou", "max_turns": 500, "battle_timeout_s": 600},
                            runtime={"concurrency": args.concurrency_per_worker * workers, "backend": "direct",
                                     "workers": workers},
                            options=ppo_oracle.Options(battles=battles, hyper=ppo), progress=False)
    cpu_before = cpu_seconds()
    started = time.perf_counter()
    result = train_best_response("ppo", task)
    job_s = time.perf_counter() - started
    cores_busy = (cpu_seconds() - cpu_before) / job_s
    steady = result.metrics[STEADY_AFTER_ROUNDS:]
    return {"workers": workers, "battles": battles, "job_s": job_s, "job_battles_per_s": battles / job_s,
            "cores_busy": cores_busy,
            "steady_battles_per_s": sum(row["battles_per_s"] * row["round_s"] for row in steady)
            / sum(row["round_s"] for row in steady),
            "deferred_share": sum(row["deferred"] for row in result.metrics) / battles,
            "learner_idle_share": sum(row["learner_idle_s"] for row in steady) / sum(row["round_s"] for row in steady),
            "update_s": statistics.median(row["update_s"] for row in steady),
            "win_rate_last_round": result.metrics[-1]["win_rate"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--init", type=Path)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8, 14])
    parser.add_argument("--battles-per-worker", type=int, default=256)
    parser.add_argument("--concurrency-per-worker", type=int, default=8)
    parser.add_argument("--opponent", default="gym_leader")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ppo", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/oracle_scaling"))
    args = parser.parse_args()
    ppo = load_ppo_config("ppo")
    for item in args.ppo:
        key, _, value = item.partition("=")
        ppo[key] = type(ppo[key])(value) if key in ppo else value
    ppo = load_ppo_config({**ppo, "greedy_eval_every_rounds": 0})
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        init = args.init or untrained_checkpoint(Path(scratch), args.seed)
        for workers in args.workers:
            rows.append(measure(init, workers, args, ppo, Path(scratch) / f"w{workers}"))
            print(json.dumps(rows[-1]), flush=True)
    base = rows[0]["steady_battles_per_s"] / rows[0]["workers"]
    print(f"\nPPO oracle against {args.opponent}, policy_lag {ppo['policy_lag']}, rounds of {ppo['round_battles']}, "
          f"defer_after_turns {ppo['defer_after_turns']}, {args.concurrency_per_worker} battles in flight per worker, "
          f"init {args.init or 'untrained small'}")
    print("| rollout workers | steady battles/s | of linear | whole job battles/s | cores busy | learner idle | update s "
          "| trained later |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        row["of_linear"] = row["steady_battles_per_s"] / (row["workers"] * base)
        print(f"| {row['workers']} | {row['steady_battles_per_s']:.1f} | {row['of_linear']:.2f} | "
              f"{row['job_battles_per_s']:.1f} | {row['cores_busy']:.2f} | {row['learner_idle_share']:.0%} | "
              f"{row['update_s']:.2f} | {row['deferred_share']:.1%} |")
    atomic_write_json(args.out / "scaling.json", {"ppo": ppo, "opponent": args.opponent, "rows": rows})


if __name__ == "__main__":
    main()

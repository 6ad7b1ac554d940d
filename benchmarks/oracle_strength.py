"""Oracle strength: train a best response from the bootstrap against a fixed σ, then measure it, in one run.

    python benchmarks/oracle_strength.py [--init results/phase0/bootstrap/refined.pt] [--battles N]
        [--sigma gym_leader | gym_leader+simple_heuristics ...] [--eval-battles 400] [--parallel]

For each σ (default: pure gym_leader, and gym_leader/simple_heuristics 50/50) the PPO oracle trains for the
default budget (config/config.yaml oracle.ppo.battles, or --battles), then the initial policy and the best response
play σ (opponent drawn per battle) for --eval-battles battles each, acting greedily and sampling at T = 1.
Training battles use --team-set (default: config.yaml's team_set); evaluations use --eval-team-set (default:
config.yaml's eval_team_set, teams no policy trains on).
Prints the win rates with their 95 % intervals, the wall time, the job's battles/s and samples/s, and writes a learning
curve PNG per σ and all figures as JSON under --out. `--ppo KEY=VALUE` overrides a PPO hyper-parameter.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pokepsro.core.files import atomic_write_json  # noqa: E402
from pokepsro.core.seeding import derive_seed  # noqa: E402
from pokepsro.gen1.teams import load_team_set  # noqa: E402
from pokepsro.learning.oracle import BestResponseTask, ppo_oracle, train_best_response  # noqa: E402
from pokepsro.learning.oracle.ppo import load_ppo_config  # noqa: E402
from pokepsro.metagame.evaluation import evaluate_against_mixture  # noqa: E402
from pokepsro.metagame.population import PolicyEntry, Population, heuristic_entry, player_factories  # noqa: E402
from pokepsro.workflow.config import MIN_ROLLOUT_WORKERS, resolve_workers  # noqa: E402
from pokepsro.workflow.plots import plot_learning_curve  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SIGMAS = ["gym_leader", "gym_leader+simple_heuristics"]
ACTING = {"greedy": {"greedy": True}, "T=1": {"temperature": 1.0}}


def sigma_population(text: str) -> tuple[Population, np.ndarray]:
    """`a+b+c`: a uniform mixture of those heuristic baselines."""
    names = text.split("+")
    return Population(tuple(heuristic_entry(name) for name in names)), np.full(len(names), 1 / len(names))


def evaluate(checkpoint: Path, name: str, sigma_text: str, acting: dict, battles: int, seed: int,
             runtime: dict, team_set: str) -> dict:
    population, sigma = sigma_population(sigma_text)
    policy = PolicyEntry(name=name, kind="checkpoint", spec=str(checkpoint), options=acting)
    summary = evaluate_against_mixture(policy, population, sigma, battles,
                                       team_set=load_team_set(team_set, "gen1ou"),
                                       seed=derive_seed(seed, "oracle_strength_eval", sigma_text), backend="direct",
                                       concurrency=runtime["concurrency"], workers=runtime["workers"], progress=False)
    return {"win_rate": summary["win_rate"], "ci95": summary["ci95"], "battles": summary["battles"],
            "by_member": {member: row["win_rate"] for member, row in summary["by_member"].items()}}


def run_one(sigma_text: str, args: argparse.Namespace, ppo: dict) -> dict:
    """Train against one σ, then evaluate the initial policy and the best response with every acting mode."""
    population, sigma = sigma_population(sigma_text)
    out = args.out / sigma_text.replace("+", "_and_")
    shutil.rmtree(out, ignore_errors=True)  # a fresh run: the oracle would otherwise resume an earlier one
    runtime = {"concurrency": args.concurrency, "backend": "direct", "workers": args.workers, "parallel_matchups": 1}
    task = BestResponseTask(learner_name="br", init_checkpoint=args.init, opponents=player_factories(population),
                            sigma=sigma, work_dir=out / "training", seed=args.seed, team_set=args.team_set,
                            battle={"battle_format": "gen1ou", "max_turns": 500, "battle_timeout_s": 600},
                            runtime=runtime, options=ppo_oracle.Options(battles=args.battles, hyper=ppo),
                            progress=not args.parallel)
    started = time.perf_counter()
    result = train_best_response("ppo", task)
    wall = time.perf_counter() - started
    rows = result.metrics
    curve = plot_learning_curve(rows, args.out / f"learning_curve_{sigma_text.replace('+', '_and_')}.png",
                                title=f"PPO best response vs σ = {sigma_text}", greedy_rows=result.greedy_eval)
    eval_runtime = {**runtime, "workers": args.eval_workers}
    measured = {}
    for label, acting in ACTING.items():
        if label not in args.acting:
            continue
        if not args.skip_init_eval:
            measured[f"init {label}"] = evaluate(args.init, "init", sigma_text, acting, args.eval_battles, args.seed,
                                                 eval_runtime, args.eval_team_set)
        measured[f"br {label}"] = evaluate(result.checkpoint, "br", sigma_text, acting, args.eval_battles,
                                           args.seed, eval_runtime, args.eval_team_set)
    return {"sigma": sigma_text, "training_battles": args.battles, "ppo": ppo, "wall_s": wall,
            "team_set": args.team_set, "eval_team_set": args.eval_team_set, "battles_per_s": args.battles / wall,
            "samples_per_s": sum(row["samples"] for row in rows) / wall, "greedy_eval": result.greedy_eval,
            "final_training_win_rate": rows[-1]["win_rate"], "learning_curve": str(curve), "eval": measured,
            "checkpoint": str(result.checkpoint)}


def print_table(results: list[dict]) -> None:
    print("| σ | training battles | wall | battles/s | samples/s | policy | acting | eval teams | win rate vs σ (95 % CI) |")
    print("|---|---:|---:|---:|---:|---|---|---|---|")
    for result in results:
        for key, value in result["eval"].items():
            who, acting = key.split(" ", 1)
            low, high = value["ci95"]
            print(f"| {result['sigma']} | {result['training_battles']} | {result['wall_s'] / 60:.1f} min "
                  f"| {result['battles_per_s']:.1f} | {result['samples_per_s']:.0f} | "
                  f"{'bootstrap' if who == 'init' else 'PPO best response'} | {acting} | {result['eval_team_set']} | "
                  f"{value['win_rate']:.3f} ({low:.3f}–{high:.3f}), n={value['battles']} |")


def parse_overrides(pairs: list[str]) -> dict:
    overrides = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        overrides[key] = yaml.safe_load(value)
    return overrides


def main(argv: list[str] | None = None) -> int:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--init", type=Path, default=REPO / "results/phase0/bootstrap/refined.pt",
                        help="initial policy (default: the workflow's refined bootstrap)")
    oracle = config["oracle"]["ppo"]
    parser.add_argument("--battles", type=int, default=oracle["battles"], help="training budget per σ")
    parser.add_argument("--sigma", nargs="+", default=DEFAULT_SIGMAS)
    parser.add_argument("--eval-battles", type=int, default=400)
    parser.add_argument("--team-set", default=config["team_set"], help="teams of the training battles")
    parser.add_argument("--eval-team-set", default=config["eval_team_set"], help="teams of the final evaluation")
    parser.add_argument("--workers", default=oracle["workers"], help="rollout worker processes (auto: half the cores, at least 2)")
    parser.add_argument("--eval-workers", default=config["workers"],
                        help="battle worker processes (auto: half the cores)")
    parser.add_argument("--acting", nargs="+", default=list(ACTING), choices=list(ACTING))
    parser.add_argument("--skip-init-eval", action="store_true", help="measure only the best response")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--ppo", nargs="*", default=[], metavar="KEY=VALUE", help="PPO hyper-parameter overrides")
    parser.add_argument("--parallel", action="store_true", help="train the σ at once, one process each")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/out/oracle_strength")
    args = parser.parse_args(argv)
    if not args.init.is_file():
        parser.error(f"initial policy {args.init} not found: build it with "
                     "`snakemake --cores all results/phase0/population.json` or pass --init")
    args.workers = resolve_workers(args.workers, key="--workers", at_least=MIN_ROLLOUT_WORKERS)
    args.eval_workers = resolve_workers(args.eval_workers, key="--eval-workers")
    ppo = load_ppo_config({**load_ppo_config(oracle["hyper"]), **parse_overrides(args.ppo)})
    print(f"oracle strength: budget {args.battles} battles per σ, {args.workers} rollout workers, init {args.init}, "
          f"cores {os.cpu_count()}, "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    if args.parallel:
        spawn = multiprocessing.get_context("spawn")  # poke-env's loop thread does not survive a fork
        with ProcessPoolExecutor(len(args.sigma), mp_context=spawn) as pool:
            results = list(pool.map(run_one, args.sigma, [args] * len(args.sigma), [ppo] * len(args.sigma)))
    else:
        results = [run_one(sigma, args, ppo) for sigma in args.sigma]
    print_table(results)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out / "results.json", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""CPU per battle of this checkout against a baseline commit, in one run: what the rollout side costs per core.

    python benchmarks/per_core_cost.py [--baseline 47bd704] [--checkpoint CKPT] [--battles 200] [--repeats 3]
        [--opponents gym_leader neural] [--json out.json]

Each opponent is a matchup: the policy of --checkpoint, sampling at temperature 0.5 with its decisions recorded as
the PPO oracle's rollout workers record them, against `gym_leader` or against a second copy of itself (`neural`,
sampling too). Both code paths play the same seeded battles (teams `competitive`, 16 in flight, one simulator),
each run in a fresh process, alternating baseline and current `--repeats` times so that a machine whose speed drifts
charges both alike. The baseline is a `git worktree` of --baseline, using this checkout's Showdown install.

Per matchup and path it prints the median over repeats of the CPU ms per battle of the Python process (poke-env,
features, inference, the opponent) and of the simulator (Node), battles per core-second (1000 / their sum: the
battles/s one fully busy core plays), and the ratio current / baseline. It also checks that both paths played the
same battles (winner and turns of each): a speed-up must not change a result.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BASELINE = "47bd704"  # the code path before this benchmark's optimisations (issue 21, item 2)
PPO_TEMPERATURE = 0.5


def play(root: Path, checkpoint: Path, opponent: str, battles: int, seed: int) -> dict:
    """Child process: play the matchup with the `pokepsro` found under `root`; CPU and battles as a dict."""
    sys.path.insert(0, str(root))
    from pokepsro.battles.api import run_battles
    from pokepsro.battles.spec import schedule_matchup
    from pokepsro.gen1.baselines import BASELINES
    from pokepsro.gen1.teams import load_team_set
    from pokepsro.learning.neural import NeuralPlayer
    from pokepsro.learning.recording import make_recording

    if not Path(sys.modules["pokepsro"].__file__).resolve().is_relative_to(root.resolve()):
        raise SystemExit(f"imported pokepsro from {sys.modules['pokepsro'].__file__}, not from {root}")
    learner = functools.partial(make_recording(NeuralPlayer), checkpoint=checkpoint, temperature=PPO_TEMPERATURE,
                                seed=seed)
    other = (functools.partial(NeuralPlayer, checkpoint=checkpoint, temperature=PPO_TEMPERATURE, seed=seed + 1)
             if opponent == "neural" else BASELINES[opponent])
    names = ("learner", f"{opponent}_opponent")
    specs = schedule_matchup(*names, battles, load_team_set("competitive"), seed)
    python_before = time.process_time()
    records = run_battles(specs, dict(zip(names, (learner, other))), concurrency=16, backend="direct",
                          progress=False)
    python_s = time.process_time() - python_before
    simulator = resource.getrusage(resource.RUSAGE_CHILDREN)  # the simulator, stopped and reaped by now
    return {"python_ms": 1000 * python_s / battles,
            "simulator_ms": 1000 * (simulator.ru_utime + simulator.ru_stime) / battles,
            "battles": [[record["winner"], record["turns"]] for record in records]}


def run_child(root: Path, args: argparse.Namespace, opponent: str) -> dict:
    from pokepsro.battles.worker_pool import ONE_THREAD  # this checkout's, in the parent only

    # One torch/BLAS thread, as every rollout and battle worker runs (worker_pool.ONE_THREAD): a second thread's
    # spin-waits would be charged to the Python side (~40 ms per battle on 2 cores).
    env = {**os.environ, **ONE_THREAD, "POKEPSRO_SHOWDOWN_DIR": str(ROOT / "envs" / "showdown" / "node_modules" /
                                                     "pokemon-showdown"), "PYTHONPATH": str(root)}
    command = [sys.executable, __file__, "--child", str(root), "--checkpoint", str(args.checkpoint),
               "--battles", str(args.battles), "--opponents", opponent, "--seed", str(args.seed)]
    done = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the {root} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summary(runs: list[dict]) -> dict:
    python_ms = statistics.median(run["python_ms"] for run in runs)
    simulator_ms = statistics.median(run["simulator_ms"] for run in runs)
    return {"python_ms": python_ms, "simulator_ms": simulator_ms,
            "battles_per_core_s": 1000 / (python_ms + simulator_ms),
            "runs": [{key: run[key] for key in ("python_ms", "simulator_ms")} for run in runs]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="commit to compare against")
    parser.add_argument("--checkpoint", type=Path, default=ROOT / "results" / "phase0" / "bootstrap" / "refined.pt")
    parser.add_argument("--battles", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--opponents", nargs="+", default=["gym_leader", "neural"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:  # imports only the pokepsro under args.child
        print(json.dumps(play(args.child, args.checkpoint.resolve(), args.opponents[0], args.battles, args.seed)))
        return
    sys.path.insert(0, str(ROOT))
    if not args.checkpoint.is_file():
        raise SystemExit(f"no checkpoint at {args.checkpoint}: pass --checkpoint (e.g. a bootstrap's refined.pt)")
    args.checkpoint = args.checkpoint.resolve()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    results: dict = {"baseline": args.baseline, "current": commit, "battles": args.battles, "matchups": {}}
    with tempfile.TemporaryDirectory(prefix="per_core_baseline_") as folder:
        baseline = Path(folder) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(baseline), args.baseline], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            for opponent in args.opponents:
                runs: dict[str, list[dict]] = {"baseline": [], "current": []}
                for _ in range(args.repeats):
                    for path, root in (("baseline", baseline), ("current", ROOT)):
                        runs[path].append(run_child(root, args, opponent))
                same = all(run["battles"] == runs["baseline"][0]["battles"] for path in runs for run in runs[path])
                row = {path: summary(path_runs) for path, path_runs in runs.items()}
                row["speedup"] = row["current"]["battles_per_core_s"] / row["baseline"]["battles_per_core_s"]
                row["same_battles"] = same
                results["matchups"][opponent] = row
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(baseline)], cwd=ROOT, check=False,
                           capture_output=True)
    print(f"CPU per battle, learner (sampling at T = {PPO_TEMPERATURE}, recorded) against each opponent, "
          f"{args.battles} battles, median of {args.repeats} alternating runs; baseline {args.baseline}, "
          f"current {commit}")
    print("| opponent | path | Python ms | simulator ms | battles per core-second | speed-up | same battles |")
    print("|---|---|---|---|---|---|---|")
    for opponent, row in results["matchups"].items():
        for path in ("baseline", "current"):
            cells = row[path]
            speedup = f"{row['speedup']:.2f}×" if path == "current" else ""
            same = ("yes" if row["same_battles"] else "NO") if path == "current" else ""
            print(f"| {opponent} | {path} | {cells['python_ms']:.1f} | {cells['simulator_ms']:.1f} | "
                  f"{cells['battles_per_core_s']:.1f} | {speedup} | {same} |")
    if args.json is not None:
        # Imported here, not at the top: a child imports the pokepsro of its own worktree (`play`).
        from pokepsro.core.files import atomic_write_json

        atomic_write_json(args.json, results)


if __name__ == "__main__":
    main()

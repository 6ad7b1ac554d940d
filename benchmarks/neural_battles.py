"""Neural player vs a heuristic: battles/s with batched inference (one forward pass for all pending decisions)
against one forward pass per decision, on this machine's device, in one run.

    python benchmarks/neural_battles.py [--checkpoint CKPT] [--model small] [--battles 200] [--concurrency 16]

Without --checkpoint a freshly initialised model of --model is used (speed does not depend on the weights).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pokepsro.battles.api import run_battles  # noqa: E402
from pokepsro.battles.spec import schedule_matchup  # noqa: E402
from pokepsro.gen1.baselines import BASELINES  # noqa: E402
from pokepsro.gen1.teams import load_team_set  # noqa: E402
from pokepsro.learning.features import FEATURE_VERSION, OBS_DIM  # noqa: E402
from pokepsro.learning.model import build_model, load_model_config, save_checkpoint  # noqa: E402
from pokepsro.learning.neural import NeuralPlayer, shared_policy  # noqa: E402


def fresh_checkpoint(model_name: str, folder: Path) -> Path:
    config = load_model_config(model_name)
    path = folder / "epoch_0.pt"
    save_checkpoint(path, build_model(config, OBS_DIM), model_config=config, obs_dim=OBS_DIM,
                    feature_version=FEATURE_VERSION, train_config={}, epoch=0, metrics={})
    return path


def measure(checkpoint: Path, opponent: str, *, batched: bool, battles: int, concurrency: int, backend: str,
            seed: int) -> dict:
    specs = schedule_matchup("neural", opponent, battles, load_team_set("competitive"), seed)
    players = {"neural": lambda **kw: NeuralPlayer(checkpoint=checkpoint, batched=batched, **kw),
               opponent: lambda **kw: BASELINES[opponent](**kw)}
    policy = shared_policy(checkpoint)
    before = sum(policy.batch_sizes.values()), sum(k * v for k, v in policy.batch_sizes.items())
    start = time.perf_counter()
    records = run_battles(specs, players, concurrency=concurrency, backend=backend, progress=False)
    seconds = time.perf_counter() - start
    passes = sum(policy.batch_sizes.values()) - before[0]
    decisions = sum(k * v for k, v in policy.batch_sizes.items()) - before[1]
    turns = sum(r["turns"] for r in records)
    return {"mode": "batched" if batched else "one at a time", "backend": backend, "battles": len(records),
            "seconds": seconds, "battles_per_s": len(records) / seconds, "turns_per_s": turns / seconds,
            "mean_batch": decisions / passes if passes else 1.0,
            "win_rate": sum(r["result_a"] == "win" for r in records) / len(records)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--model", default="small", help="model config when no checkpoint is given")
    parser.add_argument("--opponent", default="max_base_power", choices=sorted(BASELINES))
    parser.add_argument("--battles", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--backend", default="direct", choices=["direct", "server"])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest for inference)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"nproc {os.cpu_count()}, load average {os.getloadavg()}, torch {torch.__version__}, "
          f"threads {args.threads}, backend {args.backend}, concurrency {args.concurrency}")
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = args.checkpoint or fresh_checkpoint(args.model, Path(folder))
        rows = [measure(checkpoint, args.opponent, batched=batched, battles=args.battles,
                        concurrency=args.concurrency, backend=args.backend, seed=seed)
                for seed, batched in ((1, True), (2, False), (3, True))]
    print(f"\n| neural ({checkpoint.name}) vs {args.opponent} | battles | battles/s | turns/s | mean batch |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['mode']} | {row['battles']} | {row['battles_per_s']:.1f} | {row['turns_per_s']:.0f} "
              f"| {row['mean_batch']:.1f} |")
    batched = [r["battles_per_s"] for r in rows if r["mode"] == "batched"]
    single = [r["battles_per_s"] for r in rows if r["mode"] != "batched"][0]
    print(f"\nbatched / one-at-a-time: {sum(batched) / len(batched) / single:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Calibrate tests/test_oracle.py's tiny-budget PPO test: its statistic over several seeds, for the learner as it is
and for a broken one (a learning rate too small to move the weights), so the threshold can sit between them.

    python benchmarks/calibrate_ppo_test.py --seeds 1 2 3 4 5 [--broken]

Each seed draws the untrained start weights and every battle of the run; one line per seed: the greedy win rate
against `random` before and after 256 PPO battles (100 greedy evaluation battles each).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_oracle import tiny_budget_rates  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    parser.add_argument("--broken", action="store_true", help="lr 1e-9: a learner that cannot learn")
    parser.add_argument("--lr", type=float, help="another learning rate than the test's")
    parser.add_argument("--battles", type=int, default=256, help="PPO battles (the test's budget: 256)")
    parser.add_argument("--lag", type=int, help="another policy_lag than the test's (rounds played ahead of the learner)")
    args = parser.parse_args()
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as folder:
            overrides = {"lr": 1e-9} if args.broken else {"lr": args.lr} if args.lr else {}
            if args.lag is not None:
                overrides["policy_lag"] = args.lag
            before, after = tiny_budget_rates(Path(folder), seed, args.battles, **overrides)
        lag = "" if args.lag is None else f" policy_lag {args.lag}"
        print(f"seed {seed}{' broken' if args.broken else ''}{lag} ({args.battles} battles): before {before:.2f} after {after:.2f} "
              f"rise {after - before:+.2f}", flush=True)


if __name__ == "__main__":
    main()

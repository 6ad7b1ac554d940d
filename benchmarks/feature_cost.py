"""Cost of the observation encoder per decision, on real battle states.

    python benchmarks/feature_cost.py [--battles 40] [--policy-a gym_leader] [--policy-b simple_heuristics]

Plays battles on the direct backend. At every decision of either side, before the player decides, the
battle is encoded the way the recording wrapper and the neural player do (`encode_battle` + `action_mask`)
and timed: the first call for the request ("cold": the real cost of a decision) and a second call for the
same request ("repeat": what the second caller of the same decision pays; the per-request cache makes it a
lookup). Also reports the heuristic's own decision time for scale. Times are the deciding thread's CPU time
(`time.thread_time`), so other processes on a shared machine disturb them little.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pokepsro.battles.api import run_battles
from pokepsro.battles.spec import schedule_matchup
from pokepsro.core.files import atomic_write_json
from pokepsro.gen1.baselines import BASELINES
from pokepsro.gen1.teams import load_team_set
from pokepsro.learning.features import FEATURE_VERSION, OBS_DIM, action_mask, encode_battle

TIMES: dict[str, list[float]] = {"cold": [], "repeat": [], "decide": []}


def timed(player_cls: type) -> type:
    """`player_cls` whose choose_move first times the encoder, then the player's own decision."""

    class Timed(player_cls):
        def choose_move(self, battle):
            start = time.thread_time()
            encode_battle(battle), action_mask(battle)
            middle = time.thread_time()
            encode_battle(battle), action_mask(battle)
            end = time.thread_time()
            choice = super().choose_move(battle)
            TIMES["decide"].append(time.thread_time() - end)
            TIMES["cold"].append(middle - start)
            TIMES["repeat"].append(end - middle)
            return choice

    Timed.__name__ = f"Timed{player_cls.__name__}"
    return Timed


def summary(values: list[float]) -> dict:
    micro = sorted(v * 1e6 for v in values)
    return {"mean_us": statistics.fmean(micro), "median_us": statistics.median(micro),
            "p90_us": micro[int(0.9 * (len(micro) - 1))]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--battles", type=int, default=40)
    parser.add_argument("--policy-a", default="gym_leader", choices=sorted(BASELINES))
    parser.add_argument("--policy-b", default="simple_heuristics", choices=sorted(BASELINES))
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    specs = schedule_matchup(args.policy_a, args.policy_b, args.battles, load_team_set("competitive"), args.seed)
    players = {name: timed(BASELINES[name]) for name in {args.policy_a, args.policy_b}}
    run_battles(specs, players, concurrency=args.concurrency, backend="direct", progress=False)
    result = {"feature_version": FEATURE_VERSION, "obs_dim": OBS_DIM, "decisions": len(TIMES["cold"]),
              "battles": args.battles, "load_average": os.getloadavg(),
              **{kind: summary(values) for kind, values in TIMES.items()}}
    print(f"{FEATURE_VERSION} (obs_dim {OBS_DIM}), {result['decisions']} decisions in {args.battles} battles "
          f"{args.policy_a} vs {args.policy_b}, load average {result['load_average'][0]:.2f}")
    print("| per decision (CPU) | mean µs | median µs | p90 µs |\n|---|---:|---:|---:|")
    for kind, label in (("cold", "encode + mask, first call"), ("repeat", "encode + mask, same request again"),
                        ("decide", "the heuristic's own choose_move")):
        row = result[kind]
        print(f"| {label} | {row['mean_us']:.0f} | {row['median_us']:.0f} | {row['p90_us']:.0f} |")
    if args.json:
        atomic_write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

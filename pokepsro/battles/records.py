"""What battle records add up to: win rates with honest uncertainty (ties count one half, Wilson score
intervals), per run, per pair and per end reason.

A record is one finished battle from side A's point of view (`result_a`: win, loss or tie).
"""

from __future__ import annotations

import collections
import math
import statistics
from collections.abc import Iterable

from pokepsro.core.errors import UsageError

Z95 = 1.959963984540054
SCORES = {"win": 1.0, "tie": 0.5, "loss": 0.0}  # a battle's score for side A: ties count one half


def win_rate(wins: int, losses: int, ties: int) -> float:
    """Ties count one half; an unplayed pair has no win rate."""
    battles = wins + losses + ties
    if battles <= 0:
        raise ValueError("win rate of zero battles is undefined")
    return (wins + 0.5 * ties) / battles


def wilson_interval(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """95 % Wilson score interval for a proportion (works at 0 and 1, unlike the normal one)."""
    if n <= 0:
        raise ValueError("interval of zero trials is undefined")
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def summarize(wins: int, losses: int, ties: int) -> dict:
    """Counts, win rate and its interval, as written into every result file."""
    battles = wins + losses + ties
    rate = win_rate(wins, losses, ties)
    low, high = wilson_interval(wins + 0.5 * ties, battles)
    return {"wins": wins, "losses": losses, "ties": ties, "battles": battles,
            "win_rate": rate, "ci95": [low, high]}


def summarize_results(records: Iterable[dict]) -> dict:
    """Side A's wins, losses, ties, win rate and its interval."""
    results = collections.Counter(r["result_a"] for r in records)
    return summarize(results["win"], results["loss"], results["tie"])


def summarize_outcomes(records: list[dict]) -> dict:
    """`summarize_results` plus how the battles ended (normal, turn limit, timeout)."""
    return {**summarize_results(records), "ends": dict(collections.Counter(r["end"] for r in records))}


def summarize_records(records: Iterable[dict]) -> dict:
    """Side A's results over all records and per (policy_a, policy_b) pair, with Wilson 95 % intervals."""
    records = list(records)
    if not records:
        raise ValueError("no records to summarize")
    summary = {**summarize_outcomes(records), "mean_turns": sum(r["turns"] for r in records) / len(records)}
    rate = battles_per_second(records)
    if rate is not None:
        summary["battles_per_s"] = rate
    pairs = collections.defaultdict(list)
    for record in records:
        pairs[(record["policy_a"], record["policy_b"])].append(record)
    summary["by_pair"] = [{"policy_a": a, "policy_b": b, **summarize_results(group)}
                          for (a, b), group in sorted(pairs.items())]
    return summary


def battles_per_second(records: list[dict]) -> float | None:
    """Battles per wall second over the span of the timed records (resumed runs mix several spans)."""
    timed = [r for r in records if "finished_at" in r and "wall_s" in r]
    if not timed:
        return None
    span = max(r["finished_at"] for r in timed) - min(r["finished_at"] - r["wall_s"] for r in timed)
    return len(timed) / span if span > 0 else None


def paired_score_difference(records: list[dict], baseline_records: list[dict]) -> dict:
    """Side A's mean per-battle score minus a baseline's on the very same battles, with a 95 % paired normal interval.

    Both lists must hold the same battles (index, opponent and seat), each once: the baseline played the same
    schedule (opponent draws, teams, seats, battle seeds). Scores are win 1, tie ½, loss 0; the interval is
    mean ± z·s/√n of the n per-battle differences (s their sample standard deviation), clipped to [-1, 1].
    Pairing cancels what a battle's draw does to both (a hard opponent, a bad team), so it is narrower than the
    two win rates' intervals would suggest. With one battle there is no spread to measure: the whole range.
    """
    mine, theirs = _by_battle(records), _by_battle(baseline_records)
    if mine.keys() != theirs.keys():
        raise UsageError(f"paired records differ in their battles: {len(mine)} and {len(theirs)} indices, "
                         f"{len(mine.keys() ^ theirs.keys())} unmatched")
    unmatched = [i for i in mine if _battle_of(mine[i]) != _battle_of(theirs[i])]
    if unmatched:
        raise UsageError(f"battle {unmatched[0]} was played against another opponent or seat by the baseline")
    differences = [SCORES[mine[i]["result_a"]] - SCORES[theirs[i]["result_a"]] for i in sorted(mine)]
    if not differences:
        raise UsageError("no battles to pair")
    mean = statistics.fmean(differences)
    half = Z95 * statistics.stdev(differences) / math.sqrt(len(differences)) if len(differences) > 1 else 2.0
    return {"mean": mean, "ci95": [max(-1.0, mean - half), min(1.0, mean + half)], "battles": len(differences),
            "interval": "paired normal (mean ± 1.96 s/√n of the per-battle score differences)"}


def _by_battle(records: list[dict]) -> dict[int, dict]:
    """Records keyed by battle index; a battle counted twice is refused, never averaged in twice."""
    by_index = {r["index"]: r for r in records}
    if len(by_index) != len(records):
        raise UsageError(f"{len(records) - len(by_index)} battle(s) recorded twice; each battle counts once")
    return by_index


def _battle_of(record: dict) -> tuple[str, str]:
    """What the schedule fixed for a battle besides its index: the opponent drawn and side A's seat."""
    return record["policy_b"], record["a_seat"]

"""What battle records add up to: win rates with honest uncertainty (ties count one half, Wilson score
intervals), per run, per pair and per end reason.

A record is one finished battle from side A's point of view (`result_a`: win, loss or tie).
"""

from __future__ import annotations

import collections
import math
from collections.abc import Iterable

Z95 = 1.959963984540054


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

"""Win rates with honest uncertainty: ties count one half, intervals are Wilson score intervals."""

from __future__ import annotations

import math

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

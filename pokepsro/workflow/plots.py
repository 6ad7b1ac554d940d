"""PNG plots of the meta-game and PSRO progress, written atomically (no half-written images)."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from pokepsro.core.errors import UsageError
from pokepsro.core.files import atomic_write_bytes
from pokepsro.metagame.matrix import InteractionMatrix
from pokepsro.metagame.ratings import MEAN_RATING
from pokepsro.workflow.criteria import SUCCESS_BR_WINRATE, SUCCESS_EXPLOITABILITY

DPI = 120


def plot_interaction_matrix(matrix: InteractionMatrix, path: str | os.PathLike) -> Path:
    """Heatmap of M (red: row loses, blue: row wins, white: even) with win rate and battles per cell."""
    names = matrix.policy_names
    payoff, battles = matrix.M, matrix.battles_matrix()
    size = len(names)
    side = max(4.0, 0.9 * size + 2.5)
    fig = Figure(figsize=(side + 1.2, side))
    ax = fig.add_subplot()
    image = ax.imshow(payoff, cmap="RdBu", norm=Normalize(vmin=0.0, vmax=1.0))
    fontsize = max(4.0, min(9.0, 60.0 / size))
    for i in range(size):
        for j in range(size):
            text = "—" if i == j else f"{payoff[i, j]:.2f}\nn={battles[i, j]}"
            shade = "white" if abs(payoff[i, j] - 0.5) > 0.35 else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=fontsize, color=shade)
    ax.set_xticks(range(size), names, rotation=45, ha="right")
    ax.set_yticks(range(size), names)
    ax.set_xlabel("opponent (column)")
    ax.set_ylabel("policy (row)")
    ax.set_title("P(row beats column), ties count ½")
    fig.colorbar(image, ax=ax, label="win rate of row")
    return _save(fig, path)


def plot_meta_strategy(names: Sequence[str], sigma: Any, path: str | os.PathLike, title: str) -> Path:
    """Horizontal bars of the meta-strategy's probability per policy."""
    probabilities = _same_length(names, sigma, "names", "sigma")
    fig = Figure(figsize=(7.0, max(2.5, 0.35 * len(names) + 1.5)))
    ax = fig.add_subplot()
    ax.barh(range(len(names)), probabilities, color="tab:blue")
    ax.set_yticks(range(len(names)), list(names))
    ax.invert_yaxis()
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("probability")
    ax.set_title(title)
    for row, probability in enumerate(probabilities):
        ax.text(min(probability + 0.01, 0.9), row, f"{probability:.3f}", va="center", fontsize=8)
    return _save(fig, path)


def plot_exploitability(labels: Sequence[Any], matrix_exploitability: Sequence[float | None],
                        br_gain: Sequence[float], br_gain_ci: Sequence[Sequence[float]], informative: Sequence[bool],
                        path: str | os.PathLike, measured_with: Sequence[str] | None = None) -> Path:
    """PSRO's progress: for each σ_k, its best response's gain (win rate − 0.5, 95 % CI in `br_gain_ci`), the
    exploitability it measures (max(0, gain)), and σ_k's exploitability in the grown matrix (None when there is
    no grown matrix, e.g. the final σ measured by an exploiter). A measurement whose gain interval lies entirely
    below 0 (`informative` False) is drawn hollow and labelled: it bounds σ's exploitability by nothing."""
    gains = _same_length(labels, br_gain, "labels", "br_gain")
    in_matrix = _same_length(labels, [np.nan if value is None else value for value in matrix_exploitability],
                             "labels", "matrix_exploitability")
    lows, highs = _interval_bounds(labels, br_gain_ci, "br_gain_ci")
    useful = _same_length(labels, informative, "labels", "informative").astype(bool)
    names = list(measured_with) if measured_with is not None else [""] * len(labels)
    if len(names) != len(labels):
        raise UsageError(f"measured_with has {len(names)} entries but labels has {len(labels)}")
    fig = Figure(figsize=(8.0, 4.8))
    ax = fig.add_subplot()
    positions = np.arange(len(labels))
    bars = _error_bars(gains, lows, highs)
    if useful.any():
        ax.errorbar(positions[useful] + 0.08, gains[useful], yerr=bars[:, useful], fmt="s", capsize=4,
                    color="tab:orange", label="best response gain on σ_k: win rate − 0.5 (95 % CI)")
        ax.plot(positions[useful], np.maximum(gains[useful], 0.0), "o", color="tab:blue", markersize=8,
                label="exploitability of σ_k measured: max(0, gain)")
    if (~useful).any():
        ax.errorbar(positions[~useful] + 0.08, gains[~useful], yerr=bars[:, ~useful], fmt="s", capsize=4,
                    color="tab:red", markerfacecolor="none",
                    label="gain interval below 0: best response lost, not informative")
        for position in positions[~useful]:
            ax.annotate("not informative", (position + 0.08, highs[position]), textcoords="offset points",
                        xytext=(0, 6), ha="center", fontsize=7, color="tab:red")
    if np.isfinite(in_matrix).any():
        ax.plot(positions, in_matrix, "--", marker=".", color="tab:grey", linewidth=1,
                label="in the grown matrix: max_j (M_{k+1} σ̃_k)_j − 0.5")
    ax.axhline(SUCCESS_EXPLOITABILITY, color="tab:green", linestyle="--", label=f"target < {SUCCESS_EXPLOITABILITY}")
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_xticks(positions, [f"{label}\n({name})" if name else str(label) for label, name in zip(labels, names)])
    ax.set_xlabel("σ_k of stage k (measured with)")
    ax.set_ylabel("gain over 0.5")
    ax.set_title("Exploitability of each Nash mixture")
    if not len(labels):
        ax.text(0.5, 0.5, "no measurement yet: σ_k is measured by the next best response",
                transform=ax.transAxes, ha="center")
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_nash_mixture_history(history: Sequence[tuple[str, Sequence[str], Any]], path: str | os.PathLike) -> Path:
    """Stacked bars of σ per iteration; a policy keeps its colour across iterations."""
    all_names: list[str] = []
    for label, names, sigma in history:
        _same_length(names, sigma, f"names of {label}", f"sigma of {label}")
        all_names.extend(name for name in names if name not in all_names)
    colours = _policy_colours(len(all_names))
    fig = Figure(figsize=(max(6.0, 0.6 * len(history) + 4.0), 4.5))
    ax = fig.add_subplot()
    bottoms = np.zeros(len(history))
    for colour, policy in zip(colours, all_names, strict=True):
        heights = np.array([_probability_of(policy, names, sigma) for _, names, sigma in history])
        ax.bar(range(len(history)), heights, bottom=bottoms, color=colour, label=policy)
        bottoms += heights
    ax.set_xticks(range(len(history)), [label for label, _, _ in history])
    ax.set_ylim(0.0, 1.0)
    ax.set_ylabel("probability in the meta-strategy")
    ax.set_title("Nash mixture per iteration")
    if all_names:
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _save(fig, path)


def plot_br_winrate(labels: Sequence[str], rates: Sequence[float], cis: Sequence[Sequence[float]],
                    path: str | os.PathLike) -> Path:
    """Each best response's win rate against the previous Nash mixture, with 95 % intervals."""
    values = _same_length(labels, rates, "labels", "rates")
    lows, highs = _interval_bounds(labels, cis, "cis")
    fig = Figure(figsize=(max(6.0, 0.7 * len(labels) + 3.0), 4.5))
    ax = fig.add_subplot()
    positions = np.arange(len(labels))
    ax.errorbar(positions, values, yerr=_error_bars(values, lows, highs), fmt="o", capsize=4,
                label="BR win rate vs previous Nash (95 % CI)")
    ax.axhline(SUCCESS_BR_WINRATE, color="tab:green", linestyle="--", label=f"target {SUCCESS_BR_WINRATE}")
    ax.axhline(0.5, color="grey", linewidth=0.8, label="even")
    ax.set_xticks(positions, list(labels))
    ax.set_ylim(0.0, 1.0)
    ax.set_ylabel("win rate")
    ax.set_title("Best responses against the previous Nash mixture")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_ratings(members: dict[str, dict], path: str | os.PathLike) -> Path:
    """Each member's Bradley–Terry rating (Elo scale) with its 95 % interval, strongest on top, and its GXE."""
    ranked = sorted(members.items(), key=lambda item: -item[1]["rating"])
    names = [name for name, _ in ranked]
    ratings = np.array([m["rating"] for _, m in ranked])
    lows, highs = _interval_bounds(names, [m["ci95"] for _, m in ranked], "ci95")
    fig = Figure(figsize=(7.5, max(2.5, 0.4 * len(names) + 1.5)))
    ax = fig.add_subplot()
    ax.errorbar(ratings, range(len(names)), xerr=_error_bars(ratings, lows, highs), fmt="o", capsize=4)
    for row, (_, member) in enumerate(ranked):
        low, high = member["gxe_ci95"]
        ax.annotate(f"GXE {100 * member['gxe']:.0f} % ({100 * low:.0f}–{100 * high:.0f})", (highs[row], row),
                    textcoords="offset points", xytext=(6, 0), va="center", fontsize=7)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.axvline(MEAN_RATING, color="grey", linewidth=0.8)
    ax.margins(x=0.25)
    ax.set_xlabel(f"Bradley–Terry rating, Elo scale (400·log10 odds; grey: the members' mean, {MEAN_RATING:.0f})")
    ax.set_title("Ratings of the members (95 % CI) and GXE, over every battle between members", fontsize=10)
    return _save(fig, path)


def _save(fig: Figure, path: str | os.PathLike) -> Path:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return atomic_write_bytes(path, buffer.getvalue())


def _same_length(keys: Sequence[Any], values: Any, keys_name: str, values_name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float).reshape(-1)
    if len(array) != len(keys):
        raise UsageError(f"{values_name} has {len(array)} entries but {keys_name} has {len(keys)}")
    return array


def _interval_bounds(keys: Sequence[Any], intervals: Sequence[Sequence[float]],
                     name: str) -> tuple[np.ndarray, np.ndarray]:
    """Split [low, high] pairs into two arrays, one pair per point."""
    bounds = np.asarray(intervals, dtype=float).reshape(len(intervals), -1) if len(intervals) else np.zeros((0, 2))
    if len(bounds) != len(keys):
        raise UsageError(f"{name} has {len(bounds)} intervals but there are {len(keys)} points")
    if bounds.shape[1] != 2:
        raise UsageError(f"{name} must hold [low, high] pairs, got {bounds.shape[1]} numbers per interval")
    return bounds[:, 0], bounds[:, 1]


def _error_bars(values: np.ndarray, lows: np.ndarray, highs: np.ndarray) -> np.ndarray:
    """matplotlib wants distances below and above each point, never negative."""
    return np.vstack([np.clip(values - lows, 0.0, None), np.clip(highs - values, 0.0, None)])


def _policy_colours(count: int) -> list[Any]:
    if count <= 10:
        palette = colormaps["tab10"]
    else:
        palette = colormaps["tab20"] if count <= 20 else colormaps["turbo"].resampled(count)
    return [palette(i) for i in range(count)]


def _probability_of(policy: str, names: Sequence[str], sigma: Any) -> float:
    names = list(names)
    return float(np.asarray(sigma, dtype=float)[names.index(policy)]) if policy in names else 0.0


def plot_learning_curve(rows: Sequence[dict], path: str | os.PathLike, title: str,
                        greedy_rows: Sequence[dict] = ()) -> Path | None:
    """A best response's win rate against σ per training round (95 % band) against battles played, sampled as it
    trains; with `greedy_rows`, the points where it played greedily, as every result measures it (95 % bars).

    Rows without a win rate (the offline oracle trains on collected data, with no battles of its own; a PPO update
    whose round's battles were all long enough to be trained on later) are left out; with none left, no plot.
    """
    rows = [row for row in rows if row.get("win_rate") not in (None, "")]
    if not rows:
        return None
    battles = np.array([float(row["battles"]) for row in rows])
    rates = np.array([float(row["win_rate"]) for row in rows])
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    ax.fill_between(battles, [float(r["win_rate_ci_low"]) for r in rows], [float(r["win_rate_ci_high"]) for r in rows],
                    alpha=0.2, label="95 % interval")
    ax.plot(battles, rates, marker="o", label="win rate vs σ while training (sampled)")
    if greedy_rows:
        _plot_greedy_points(ax, greedy_rows)
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("training battles played")
    ax.set_ylabel("win rate against σ (ties ½)")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(loc="lower right")
    return _save(fig, path)


def _plot_greedy_points(ax, rows: Sequence[dict]) -> None:
    """The greedy evaluation points (same battles at each), with their 95 % intervals as error bars."""
    battles = [float(row["battles"]) for row in rows]
    rates = np.array([float(row["win_rate"]) for row in rows])
    lows, highs = _interval_bounds(battles, [(row["win_rate_ci_low"], row["win_rate_ci_high"]) for row in rows],
                                   "greedy_rows")
    ax.errorbar(battles, rates, yerr=_error_bars(rates, lows, highs), fmt="s", color="tab:orange", capsize=3,
                label=f"greedy vs σ ({int(rows[0]['eval_battles'])} battles, 95 % interval)")

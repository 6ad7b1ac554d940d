"""Every plot writes a real PNG atomically and rejects inputs that do not line up."""

from __future__ import annotations

from pathlib import Path

import pytest

from pokepsro.core.errors import UsageError
from pokepsro.metagame.matrix import InteractionMatrix
from pokepsro.metagame.ratings import BattleBlock, fit_ratings
from pokepsro.workflow.plots import (
    plot_br_winrate,
    plot_exploitability,
    plot_interaction_matrix,
    plot_learning_curve,
    plot_meta_strategy,
    plot_nash_mixture_history,
    plot_ratings,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NAMES = ["Random", "MaxBP", "Heuristic", "BR_0"]


def small_matrix() -> InteractionMatrix:
    results = ("win", "loss", "tie")
    pairs = [(a, b) for i, a in enumerate(NAMES) for b in NAMES[i + 1:]]
    battles = [pair for pair in pairs for _ in range(5)]
    records = [{"index": k, "policy_a": a, "policy_b": b, "result_a": results[k % 3], "end": "normal"}
               for k, (a, b) in enumerate(battles)]
    return InteractionMatrix.from_records(NAMES, records)


def assert_single_png(folder: Path, name: str) -> None:
    assert [p.name for p in folder.iterdir()] == [name]  # no temp file left behind
    data = (folder / name).read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 5_000


@pytest.mark.parametrize("name, draw", [
    ("interaction_matrix.png", lambda path: plot_interaction_matrix(small_matrix(), path)),
    ("meta_strategy.png", lambda path: plot_meta_strategy(NAMES, [0.1, 0.2, 0.3, 0.4], path, "Nash σ_1")),
    ("exploitability.png", lambda path: plot_exploitability(
        ["phase0", "iteration_0", "iteration_1"], [0.31, 0.2, None], [0.28, -0.2, 0.05],
        [[0.2, 0.35], [-0.28, -0.1], [-0.02, 0.12]], [True, False, True], path,
        measured_with=["PSRO_BR0", "PSRO_BR1", "exploiter"])),
    ("exploitability_empty.png", lambda path: plot_exploitability([], [], [], [], [], path)),
    ("nash_history.png", lambda path: plot_nash_mixture_history(
        [("iter 0", NAMES[:3], [1.0, 0.0, 0.0]), ("iter 1", NAMES, [0.5, 0.0, 0.0, 0.5])], path)),
    ("br_winrate.png", lambda path: plot_br_winrate(
        ["BR_0", "BR_1"], [0.7, 0.55], [[0.6, 0.78], [0.45, 0.64]], path)),
    ("ratings.png", lambda path: plot_ratings(fit_ratings(NAMES, [
        BattleBlock("a", {("Random", "MaxBP", "loss"): 9, ("MaxBP", "Heuristic", "win"): 4,
                          ("Heuristic", "BR_0", "tie"): 3, ("BR_0", "Random", "win"): 5})], seed=0), path)),
])
def test_each_plot_writes_a_png_atomically(tmp_path: Path, name: str, draw) -> None:
    out = tmp_path / "plots"
    returned = draw(out / name)
    assert returned == out / name
    assert_single_png(out, name)


def test_replotting_replaces_the_file_in_place(tmp_path: Path) -> None:
    path = tmp_path / "meta_strategy.png"
    plot_meta_strategy(["A", "B"], [1.0, 0.0], path, "first")
    first = path.read_bytes()
    plot_meta_strategy(["A", "B"], [0.5, 0.5], path, "second")
    assert path.read_bytes() != first
    assert_single_png(tmp_path, "meta_strategy.png")


def test_large_populations_still_plot(tmp_path: Path) -> None:
    names = [f"policy_{i}" for i in range(25)]
    plot_nash_mixture_history([(f"iter {k}", names[:k + 1], [1.0 / (k + 1)] * (k + 1)) for k in range(25)],
                              tmp_path / "history.png")
    assert_single_png(tmp_path, "history.png")


@pytest.mark.parametrize("draw, message", [
    (lambda path: plot_meta_strategy(["A", "B"], [1.0], path, "t"), "sigma has 1 entries but names has 2"),
    (lambda path: plot_br_winrate(["BR_0"], [0.6], [], path), "cis has 0 intervals but there are 1 points"),
    (lambda path: plot_exploitability([0, 1], [0.2], [0.1, 0.1], [[0, 0.2]] * 2, [True, True], path),
     "matrix_exploitability has 1 entries but labels has 2"),
    (lambda path: plot_exploitability([0, 1], [0.2, 0.1], [0.1, 0.1], [[0, 0.2]] * 2, [True], path),
     "informative has 1 entries but labels has 2"),
    (lambda path: plot_br_winrate(["BR_0"], [0.6], [[0.5, 0.6, 0.7]], path), "cis must hold \\[low, high\\] pairs"),
    (lambda path: plot_nash_mixture_history([("iter 0", ["A"], [0.5, 0.5])], path),
     "sigma of iter 0 has 2 entries but names of iter 0 has 1"),
])
def test_mismatched_inputs_are_usage_errors_and_write_nothing(tmp_path: Path, draw, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        draw(tmp_path / "plot.png")
    assert list(tmp_path.iterdir()) == []


def test_learning_curve_draws_the_greedy_points_beside_the_training_curve(tmp_path):
    """The training rows alone, and with greedy points (rounds 0 and 2): both real PNGs, and the points show."""
    rows = [{"round": k, "battles": 8 * k, "win_rate": 0.4 + 0.05 * k, "win_rate_ci_low": 0.3,
             "win_rate_ci_high": 0.6} for k in (1, 2)]
    greedy = [{"round": k, "battles": 8 * k, "eval_battles": 6, "win_rate": 0.5, "win_rate_ci_low": 0.2,
               "win_rate_ci_high": 0.8, "eval_s": 1.0} for k in (0, 2)]
    plain = plot_learning_curve(rows, tmp_path / "plain.png", "br")
    with_points = plot_learning_curve(rows, tmp_path / "greedy.png", "br", greedy_rows=greedy)
    for path in (plain, with_points):
        assert path.read_bytes().startswith(PNG_SIGNATURE)
    assert with_points.read_bytes() != plain.read_bytes()

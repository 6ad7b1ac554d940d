"""Meta-solver and meta-game analysis: checked against closed forms, brute force and random games."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from pokepsro.core.errors import UsageError
from pokepsro.metagame.matrix import InteractionMatrix
from pokepsro.metagame.solver import (
    SOLVERS,
    analyze,
    entropy,
    exploitability,
    exploitability_of_previous,
    load_meta_strategy,
    solve,
    solve_matrix_file,
    solve_nash,
    uniform,
    write_meta_strategy,
)

ROCK_PAPER_SCISSORS = np.array([[0.5, 0.0, 1.0],
                                [1.0, 0.5, 0.0],
                                [0.0, 1.0, 0.5]])


def random_symmetric_game(rng: np.random.Generator, n: int, levels: int | None = None) -> np.ndarray:
    """M = 0.5 + (R − Rᵀ)/2: entries in [0, 1], M + Mᵀ = 1. `levels` makes ties and degenerate games."""
    raw = rng.random((n, n)) if levels is None else rng.integers(0, levels + 1, (n, n)) / levels
    return 0.5 + (raw - raw.T) / 2


def with_clone(M: np.ndarray, policy: int) -> np.ndarray:
    """The game with an exact copy of `policy` appended at the end."""
    order = np.append(np.arange(len(M)), policy)
    return M[np.ix_(order, order)]


def guide_spread(M: np.ndarray, sigma: np.ndarray, support_only: bool) -> float:
    """The public implementation's "exploitability": spread of the mixture's own win rates (wrong)."""
    rates = M @ sigma
    if support_only:
        rates = rates[sigma > 1e-9]
    return float(rates.max() - rates.min())


@pytest.mark.parametrize("solver", ["nash", "maxent_nash"])
def test_rock_paper_scissors_is_uniform_and_unexploitable(solver: str) -> None:
    sigma = solve(ROCK_PAPER_SCISSORS, solver)
    np.testing.assert_allclose(sigma, [1 / 3] * 3, atol=1e-12)
    assert abs(exploitability(ROCK_PAPER_SCISSORS, sigma)) < 1e-12


@pytest.mark.parametrize("solver", ["nash", "maxent_nash"])
def test_a_dominated_policy_gets_no_weight(solver: str) -> None:
    # WeakRock does no better than Rock against anyone and worse against Rock, Scissors and itself.
    M = np.array([[0.5, 0.0, 1.0, 0.6],
                  [1.0, 0.5, 0.0, 1.0],
                  [0.0, 1.0, 0.5, 0.2],
                  [0.4, 0.0, 0.8, 0.5]])
    sigma = solve(M, solver)
    assert sigma[3] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(sigma[:3], [1 / 3] * 3, atol=1e-12)


def test_exploitability_is_not_the_spread_of_the_mixture_win_rates() -> None:
    # A dominant policy: its pure Nash is unexploitable, yet the spread over all policies is 0.4
    # (the shape of the guide's "Nash = 100 % V1_SelfPlay, exploitability 0.44").
    dominant = np.array([[0.5, 0.9, 0.7],
                         [0.1, 0.5, 0.6],
                         [0.3, 0.4, 0.5]])
    sigma = solve_nash(dominant)
    np.testing.assert_allclose(sigma, [1.0, 0.0, 0.0], atol=1e-12)
    assert exploitability(dominant, sigma) == pytest.approx(0.0, abs=1e-12)
    assert guide_spread(dominant, sigma, support_only=False) == pytest.approx(0.4)
    # The other way round: a pure mixture has zero spread over its support but is badly exploitable.
    exploitable = np.array([[0.5, 0.1], [0.9, 0.5]])
    weak = np.array([1.0, 0.0])
    assert guide_spread(exploitable, weak, support_only=True) == 0.0
    assert exploitability(exploitable, weak) == pytest.approx(0.4)
    assert analyze(["a", "b"], exploitable, weak)["nash_conv"] == pytest.approx(0.8)


def test_no_policy_beats_the_lp_nash_in_1000_random_games() -> None:
    rng = np.random.default_rng(20240601)
    worst = -1.0
    for game in range(1000):
        n = int(rng.integers(2, 13))
        M = random_symmetric_game(rng, n, levels=None if game % 2 else 4)  # half with ties and degeneracy
        sigma = solve_nash(M)
        assert sigma.min() >= 0.0 and sigma.sum() == pytest.approx(1.0, abs=1e-12)
        worst = max(worst, exploitability(M, sigma))
    assert worst <= 1e-9


def brute_force_equilibria(M: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """All (σ, v) found by support enumeration: indifference on the support, nobody gains outside."""
    n = len(M)
    found = []
    for size in range(1, n + 1):
        for support in itertools.combinations(range(n), size):
            rows = list(support)
            # unknowns σ_S and v:  M_SS σ_S − v = 0,  Σ σ_S = 1
            system = np.zeros((size + 1, size + 1))
            system[:size, :size] = M[np.ix_(rows, rows)]
            system[:size, size] = -1.0
            system[size, :size] = 1.0
            target = np.append(np.zeros(size), 1.0)
            solution, *_ = np.linalg.lstsq(system, target, rcond=None)
            if np.abs(system @ solution - target).max() > 1e-10 or solution[:size].min() < -1e-12:
                continue
            sigma = np.zeros(n)
            sigma[rows] = solution[:size]
            value = solution[size]
            if (M @ sigma).max() <= value + 1e-9:
                found.append((sigma, value))
    return found


def test_lp_agrees_with_brute_force_support_enumeration_on_small_games() -> None:
    rng = np.random.default_rng(7)
    for game in range(150):
        n = int(rng.integers(2, 6))
        M = random_symmetric_game(rng, n, levels=None if game % 3 else 2)
        equilibria = brute_force_equilibria(M)
        assert equilibria, M
        values = {round(value, 9) for _, value in equilibria}
        assert values == {0.5}
        sigma = solve_nash(M)
        assert (M @ sigma).max() <= 0.5 + 1e-9
        assert (sigma @ M).min() == pytest.approx(0.5, abs=1e-9)  # the LP's value equals brute force's
        if game % 3:  # continuous payoffs: the equilibrium is unique, so the mixtures must agree too
            assert all(np.allclose(other, equilibria[0][0], atol=1e-9) for other, _ in equilibria)
            np.testing.assert_allclose(sigma, equilibria[0][0], atol=1e-9)


def test_max_entropy_nash_splits_a_cloned_policy_and_leaves_the_others_unchanged() -> None:
    clone_rock = with_clone(ROCK_PAPER_SCISSORS, 0)
    np.testing.assert_allclose(solve_nash(clone_rock, max_entropy=True), [1 / 6, 1 / 3, 1 / 3, 1 / 6], atol=1e-9)
    rng = np.random.default_rng(3)
    for _ in range(40):
        M = random_symmetric_game(rng, int(rng.integers(3, 9)))
        original = solve_nash(M, max_entropy=True)
        cloned_policy = int(np.argmax(original))  # clone a policy in the support
        cloned = solve_nash(with_clone(M, cloned_policy), max_entropy=True)
        assert exploitability(with_clone(M, cloned_policy), cloned) <= 1e-9
        assert cloned[cloned_policy] == pytest.approx(original[cloned_policy] / 2, abs=1e-7)
        assert cloned[-1] == pytest.approx(original[cloned_policy] / 2, abs=1e-7)
        others = np.arange(len(M)) != cloned_policy
        np.testing.assert_allclose(cloned[:-1][others], original[others], atol=1e-7)


def test_max_entropy_nash_is_a_nash_with_maximal_entropy_in_degenerate_games() -> None:
    np.testing.assert_allclose(solve_nash(np.full((4, 4), 0.5), max_entropy=True), [0.25] * 4)
    rng = np.random.default_rng(11)
    for _ in range(60):
        M = random_symmetric_game(rng, int(rng.integers(3, 9)), levels=1)  # win/loss/tie only: many Nash
        best = solve_nash(M, max_entropy=True)
        assert exploitability(M, best) <= 1e-9
        # Random mixtures of Nash mixtures are Nash; none may have more entropy.
        extreme = [solve_nash(M)] + [_nash_maximising_weight_on(M, i) for i in range(len(M))]
        for weights in rng.dirichlet(np.ones(len(extreme)), size=20):
            assert entropy(weights @ np.array(extreme)) <= entropy(best) + 1e-9


def _nash_maximising_weight_on(M: np.ndarray, policy: int) -> np.ndarray:
    from scipy.optimize import linprog

    n = len(M)
    objective = -np.eye(n)[policy]
    result = linprog(objective, A_ub=M, b_ub=np.full(n, 0.5), A_eq=np.ones((1, n)), b_eq=[1.0],
                     bounds=[(0, None)] * n, method="highs")
    return np.clip(result.x, 0, None) / np.clip(result.x, 0, None).sum()


def test_clone_invariance_needs_a_unique_original_nash() -> None:
    """Where every mixture is a Nash (all ties), a clone pulls weight towards itself (entropy counts it)."""
    clone_of_first = with_clone(np.full((2, 2), 0.5), 0)
    np.testing.assert_allclose(solve_nash(clone_of_first, max_entropy=True), [1 / 3] * 3)


def test_exploitability_of_previous_pads_the_old_mixture_with_zeros() -> None:
    # Old population [A, B], σ_prev = pure A. The newcomer C beats A 80 %; B only 30 % against A.
    M_new = np.array([[0.5, 0.7, 0.2],
                      [0.3, 0.5, 0.8],
                      [0.8, 0.2, 0.5]])
    gain, best = exploitability_of_previous(M_new, [1.0, 0.0])
    assert gain == pytest.approx(0.3)
    assert best == 2
    gain, best = exploitability_of_previous(M_new, [0.5, 0.5])  # (M σ̃) = [0.6, 0.4, 0.5]
    assert gain == pytest.approx(0.1)
    assert best == 0
    with pytest.raises(UsageError, match="previous meta-strategy has 4 entries but the new population has only 3"):
        exploitability_of_previous(M_new, [0.25] * 4)


def test_analyze_reports_the_real_exploitability_and_the_support() -> None:
    names = ["Rock", "Paper", "Scissors", "WeakRock"]
    M = np.array([[0.5, 0.0, 1.0, 0.6],
                  [1.0, 0.5, 0.0, 1.0],
                  [0.0, 1.0, 0.5, 0.2],
                  [0.4, 0.0, 0.8, 0.5]])
    sigma = np.array([0.5, 0.25, 0.25, 0.0])  # not a Nash: Paper exploits it
    report = analyze(names, M, sigma)
    assert report["exploitability_within_population"] == pytest.approx(0.125)  # (M σ)_Paper = 0.625
    assert report["nash_conv"] == pytest.approx(0.25)
    assert "nash_value" not in report  # σᵀMσ = ½ for every σ: it said nothing
    assert report["nash_winrate_vs_member"] == pytest.approx(
        {"Rock": 0.5, "Paper": 0.375, "Scissors": 0.625, "WeakRock": 0.6})
    assert report["expected_winrate_vs_nash"] == pytest.approx(
        {"Rock": 0.5, "Paper": 0.625, "Scissors": 0.375, "WeakRock": 0.4})
    assert [p["policy"] for p in report["dominant_policies"]] == ["Rock", "Paper", "Scissors"]
    assert report["dominant_policies"][0] == {"policy": "Rock", "probability": 0.5,
                                              "expected_winrate_vs_nash": 0.5}
    assert report["support_size"] == 3
    assert report["entropy"] == pytest.approx(-(0.5 * np.log(0.5) + 0.5 * np.log(0.25)))


def test_support_counts_only_members_of_real_weight() -> None:
    """Solver noise (a member left at 0.005) is not a policy σ plays: "support ≥ 3" must not pass on it."""
    names = ["Rock", "Paper", "Scissors"]
    sigma = [0.6, 0.395, 0.005]
    report = analyze(names, ROCK_PAPER_SCISSORS, sigma, support_threshold=0.01)
    assert report["support_size"] == 2 and report["support_threshold"] == 0.01
    assert [p["policy"] for p in report["dominant_policies"]] == names  # still listed, with its weight
    assert analyze(names, ROCK_PAPER_SCISSORS, sigma, support_threshold=0.005)["support_size"] == 3
    assert analyze(names, ROCK_PAPER_SCISSORS, [0.99, 0.01, 0.0])["support_size"] == 2  # ≥ 0.01 counts


def test_uniform_and_solver_registry() -> None:
    np.testing.assert_allclose(uniform(4), [0.25] * 4)
    assert set(SOLVERS) == {"nash", "maxent_nash", "uniform"}
    np.testing.assert_allclose(solve(ROCK_PAPER_SCISSORS, "uniform"), [1 / 3] * 3)
    with pytest.raises(UsageError, match="unknown meta-solver 'alpharank'; valid solvers: nash, maxent_nash, uniform"):
        solve(ROCK_PAPER_SCISSORS, "alpharank")
    with pytest.raises(UsageError, match="empty population"):
        uniform(0)


@pytest.mark.parametrize("M, message", [
    ([[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]], "matrix is 2x3, must be square"),
    ([[0.5, 1.3], [-0.3, 0.5]], r"M\[0\]\[1\] = 1.3 is outside \[0, 1\]"),
    ([[0.5, 0.7], [0.7, 0.5]], r"M\[0\]\[1\] \+ M\[1\]\[0\] = 1.4, must be 1"),
    ([[0.4, 0.5], [0.5, 0.5]], r"M\[0\]\[0\] \+ M\[0\]\[0\] = 0.8, must be 1"),
    ([], "empty population"),
    ([[0.5, float("nan")], [0.5, 0.5]], r"M\[0\]\[1\] = nan is outside \[0, 1\]"),
])
def test_bad_matrices_are_usage_errors(M, message: str) -> None:
    for call in (lambda: solve_nash(M), lambda: exploitability(M, [1.0]), lambda: solve(M, "uniform")):
        with pytest.raises(UsageError, match=message):
            call()


def test_bad_mixtures_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="meta-strategy has 2 entries but the population has 3 policies"):
        exploitability(ROCK_PAPER_SCISSORS, [0.5, 0.5])
    with pytest.raises(UsageError, match="sums to 0.9"):
        exploitability(ROCK_PAPER_SCISSORS, [0.3, 0.3, 0.3])
    with pytest.raises(UsageError, match="negative"):
        exploitability(ROCK_PAPER_SCISSORS, [1.2, -0.2, 0.0])


def test_meta_strategy_file_round_trip_and_validation(tmp_path: Path) -> None:
    names = ["Rock", "Paper", "Scissors"]
    path = write_meta_strategy(tmp_path / "meta_strategy.json", names, [0.2, 0.3, 0.5], {"solver": "nash"})
    assert json.loads(path.read_text()) == {"policy_names": names, "meta_strategy": [0.2, 0.3, 0.5],
                                            "metadata": {"solver": "nash"}}
    loaded = load_meta_strategy(path, expected_names=names)
    assert loaded.policy_names == names and loaded.metadata == {"solver": "nash"}
    np.testing.assert_allclose(loaded.sigma, [0.2, 0.3, 0.5])
    with pytest.raises(UsageError, match="covers 3 policies but the population has 4") as caught:
        load_meta_strategy(path, expected_names=names + ["BR_0"])
    assert str(caught.value).startswith(str(path))
    with pytest.raises(UsageError, match="policy 2 is 'Scissors' but the population has 'BR_0'"):
        load_meta_strategy(path, expected_names=["Rock", "Paper", "BR_0"])
    bad = tmp_path / "short.json"
    bad.write_text(json.dumps({"policy_names": names, "meta_strategy": [0.5, 0.5]}))
    with pytest.raises(UsageError, match="short.json: meta-strategy has 2 entries but the population has 3"):
        load_meta_strategy(bad)
    with pytest.raises(UsageError, match="meta-strategy has 2 entries"):
        write_meta_strategy(tmp_path / "never.json", names, [0.5, 0.5])
    assert not (tmp_path / "never.json").exists()


def test_solve_matrix_file_writes_strategy_and_analysis(tmp_path: Path) -> None:
    names = ["Rock", "Paper", "Scissors"]
    beats = {("Rock", "Scissors"), ("Paper", "Rock"), ("Scissors", "Paper")}
    records = [{"index": k, "policy_a": a, "policy_b": b, "result_a": "win" if (a, b) in beats else "loss",
                "end": "normal"}
               for k, (a, b) in enumerate(itertools.permutations(names, 2))]
    matrix_path = InteractionMatrix.from_records(names, records).save(tmp_path / "interaction_matrix.json")
    strategy_path, analysis_path = solve_matrix_file(matrix_path, tmp_path / "out", solver="nash")
    strategy = load_meta_strategy(strategy_path, expected_names=names)
    np.testing.assert_allclose(strategy.sigma, [1 / 3] * 3, atol=1e-12)
    analysis = json.loads(analysis_path.read_text())
    assert analysis["solver"] == "nash"
    assert analysis["exploitability_within_population"] == pytest.approx(0.0, abs=1e-12)
    assert analysis["support_size"] == 3
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["meta_game_analysis.json", "meta_strategy.json"]

    # Next iteration: the previous mixture, pure Rock, is measured against the grown population.
    previous = write_meta_strategy(tmp_path / "previous.json", names[:2], [1.0, 0.0])
    _, analysis_path = solve_matrix_file(matrix_path, tmp_path / "next", previous_strategy_path=previous)
    assert json.loads(analysis_path.read_text())["exploitability_of_previous"] == {
        "strategy_file": str(previous), "exploitability": 0.5, "best_response": "Paper"}
    mismatched = write_meta_strategy(tmp_path / "other.json", ["Paper", "Rock"], [1.0, 0.0])
    with pytest.raises(UsageError, match="are not the first 2 policies of the new population"):
        solve_matrix_file(matrix_path, tmp_path / "bad", previous_strategy_path=mismatched)
    with pytest.raises(UsageError, match="unknown meta-solver 'best'"):
        solve_matrix_file(matrix_path, tmp_path / "bad", solver="best")

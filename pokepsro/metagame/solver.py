"""The meta-game: solve the symmetric constant-sum game M for a Nash mixture σ and measure it.

Conventions (FACTS §2): M[i][j] = P(i beats j), M + Mᵀ = 1, game value 0.5. A mixture σ is a
Nash equilibrium exactly when no policy of the population beats it on average: (M σ)_i ≤ 0.5 for
every i. Its exploitability is therefore max_i (M σ)_i − 0.5 — not the spread of σ's own win rates.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.linalg import null_space
from scipy.optimize import linprog, minimize

from pokepsro.core.errors import SolverError, UsageError
from pokepsro.core.files import atomic_write_json, read_json
from pokepsro.metagame.matrix import InteractionMatrix, check_payoff_matrix, check_population

GAME_VALUE = 0.5
SUPPORT_THRESHOLD = 1e-9  # a probability above this counts as "in the support" when solving
REPORT_THRESHOLD = 1e-6  # a probability above this is listed among the dominant policies
SUPPORT_WEIGHT = 0.01  # a member with at least this weight counts in the reported support (config support_threshold)
SUM_TOLERANCE = 1e-6
NASH_TOLERANCE = 1e-9
_HIGHS_OPTIONS = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}


def solve_nash(M: Any, max_entropy: bool = False) -> np.ndarray:
    """A Nash mixture of the symmetric game M (LP); optionally the maximum-entropy one.

    The LP is max v s.t. (σᵀ A)_j ≥ v for every column j, σ ≥ 0, Σσ = 1, on A = M − 0.5; its
    optimum is v = 0, i.e. (M σ)_i ≤ 0.5 for all i. The Nash set is a polytope and is often not a
    single point; `max_entropy` picks its most spread-out point (Balduzzi et al. 2018).
    """
    payoff = check_payoff_matrix(M, "meta-game matrix")
    sigma = _lp_nash(payoff)
    if max_entropy:
        sigma = _max_entropy_nash(payoff, sigma)
    return sigma


def uniform(n: int) -> np.ndarray:
    if n < 1:
        raise UsageError("empty population: need at least one policy")
    return np.full(n, 1.0 / n)


def _uniform_for(M: Any) -> np.ndarray:
    return uniform(len(check_payoff_matrix(M, "meta-game matrix")))


SOLVERS: dict[str, Callable[[Any], np.ndarray]] = {
    "nash": solve_nash,
    "maxent_nash": functools.partial(solve_nash, max_entropy=True),
    "uniform": _uniform_for,
}


def solve(M: Any, solver_name: str) -> np.ndarray:
    if solver_name not in SOLVERS:
        raise UsageError(f"unknown meta-solver {solver_name!r}; valid solvers: {', '.join(SOLVERS)}")
    return SOLVERS[solver_name](M)


def exploitability(M: Any, sigma: Any) -> float:
    """How much the best policy of the population beats σ: max_i (M σ)_i − 0.5 (0 at a Nash).

    NashConv, the sum of both players' best-response gains, is 2 × this in a symmetric game.
    OpenSpiel scores battles ±1 (payoff 2M − 1), which doubles every number: its "exploitability"
    (NashConv / 2) equals our nash_conv, and its NashConv is 4 × our exploitability.
    """
    payoff = check_payoff_matrix(M, "meta-game matrix")
    return float(np.max(payoff @ _check_mixture(sigma, len(payoff))) - GAME_VALUE)


def exploitability_of_previous(M_new: Any, sigma_prev: Any) -> tuple[float, int]:
    """PSRO's progress measure: how much the grown population beats the previous Nash σ_prev.

    The new population extends the old one at the end, so σ_prev is padded with zeros for the
    newcomers. Returns (max_j (M_new σ̃_prev)_j − 0.5, index j of the policy attaining it).
    """
    payoff = check_payoff_matrix(M_new, "new meta-game matrix")
    previous = np.asarray(sigma_prev, dtype=float)
    if previous.ndim != 1 or len(previous) > len(payoff):
        raise UsageError(f"previous meta-strategy has {previous.size} entries but the new population has "
                         f"only {len(payoff)} policies; the new population must extend the old one")
    padded = np.zeros(len(payoff))
    padded[:len(previous)] = _check_mixture(previous, len(previous))
    rates = payoff @ padded
    best = int(np.argmax(rates))
    return float(rates[best] - GAME_VALUE), best


def measured_exploitability(win_rate: float, ci95: Sequence[float], rise: float, rise_ci95: Sequence[float]) -> dict:
    """σ's exploitability as measured by one best response: its win rate against σ with a 95 % interval, and how
    much it rose over the checkpoint it started from on the same battles (`rise`, its 95 % interval `rise_ci95`).

    A best response only shows how much σ can at least be exploited: its gain (win rate − 0.5) bounds σ's
    exploitability from below, so the value it measures is max(0, gain). When the whole interval of the gain
    lies below 0 the best response lost to σ, and that bound says nothing about σ: the measurement is not
    informative, its `exploitability` is None (never 0). `trained` says whether the best response demonstrably
    learned (the rise's interval lies above 0): only then may its failure to exploit σ speak for σ.
    """
    low, high = (float(bound) for bound in ci95)
    gain = float(win_rate) - GAME_VALUE
    gain_ci95 = [low - GAME_VALUE, high - GAME_VALUE]
    rise_low, rise_high = (float(bound) for bound in rise_ci95)
    informative = gain_ci95[1] >= 0.0
    if informative:
        reading = ("the best response beats σ: σ is exploitable by at least this much" if gain_ci95[0] > 0.0 else
                   "the best response is even with σ (interval holds 0): it found no exploit")
    else:
        reading = ("not informative: the best response lost to σ (gain interval entirely below 0), so it "
                   "bounds σ's exploitability by nothing")
    return {"exploitability": max(0.0, gain) if informative else None, "gain": gain, "gain_ci95": gain_ci95,
            "informative": informative, "reading": reading,
            "rise": float(rise), "rise_ci95": [rise_low, rise_high], "trained": rise_low > 0.0}


def exploitability_verdict(measurement: dict, threshold: float) -> str:
    """The guide's "exploitability < threshold" read honestly from one best response's measurement.

    "fail": the gain's interval lies at or above the threshold (σ is surely exploitable that much; a lower bound
    needs no training to hold). "pass": the best response demonstrably trained (its rise over its start has an
    interval above 0) and still the gain's upper end stays below the threshold (it tried, and found no exploit
    that large). "not shown" otherwise: an untrained best response, or an interval straddling the threshold,
    certifies nothing either way.
    """
    low, high = measurement["gain_ci95"]
    if low >= threshold:
        return "fail"
    if measurement["trained"] and high < threshold:
        return "pass"
    return "not shown"


def entropy(sigma: Any) -> float:
    """Shannon entropy in nats (0 log 0 = 0)."""
    positive = np.asarray(sigma, dtype=float)
    positive = positive[positive > 0]
    return float(-np.sum(positive * np.log(positive))) if len(positive) else 0.0


def analyze(policy_names: Sequence[str], M: Any, sigma: Any, support_threshold: float = SUPPORT_WEIGHT) -> dict:
    """The `meta_game_analysis.json` content for a population and its meta-strategy.

    `support_size` counts the members of weight at least `support_threshold`: a member the solver leaves at 1e-4
    is not a policy σ plays, and counting it would let "support ≥ 3" pass on solver noise.
    """
    names = check_population(policy_names)
    payoff = check_payoff_matrix(M, "meta-game matrix")
    if len(payoff) != len(names):
        raise UsageError(f"matrix is {len(payoff)}x{len(payoff)} but there are {len(names)} policy names")
    mixture = _check_mixture(sigma, len(names))
    rates = payoff @ mixture
    gain = exploitability(payoff, mixture)
    listed = [i for i in np.argsort(-mixture, kind="stable") if mixture[i] > REPORT_THRESHOLD]
    # σᵀMσ = ½ for every σ when M + Mᵀ = 1, so σ's "value" says nothing; its win rate against each member does.
    return {
        "exploitability_within_population": gain,
        "nash_conv": 2.0 * gain,  # both players' best-response gains against σ: twice the exploitability
        "nash_winrate_vs_member": {name: float(1.0 - rate) for name, rate in zip(names, rates, strict=True)},
        "expected_winrate_vs_nash": {name: float(rate) for name, rate in zip(names, rates, strict=True)},
        "dominant_policies": [{"policy": names[i], "probability": float(mixture[i]),
                               "expected_winrate_vs_nash": float(rates[i])} for i in listed],
        "support_size": int(np.sum(mixture >= support_threshold)),
        "support_threshold": support_threshold,
        "entropy": entropy(mixture),
    }


@dataclass
class MetaStrategy:
    policy_names: list[str]
    sigma: np.ndarray
    metadata: dict


def write_meta_strategy(path: str | os.PathLike, names: Sequence[str], sigma: Any,
                        metadata: dict | None = None) -> Path:
    """Write `meta_strategy.json`: {policy_names, meta_strategy, metadata}."""
    checked_names = check_population(names)
    mixture = _check_mixture(sigma, len(checked_names))
    return atomic_write_json(path, {"policy_names": checked_names, "meta_strategy": mixture.tolist(),
                                    "metadata": dict(metadata or {})})


def load_meta_strategy(path: str | os.PathLike, expected_names: Sequence[str] | None = None) -> MetaStrategy:
    """Read `meta_strategy.json`, checking it is a distribution over (optionally) the given population."""
    source = str(path)
    document = read_json(path, "policy_names", "meta_strategy")
    names = check_population(document["policy_names"], source)
    try:
        sigma = _check_mixture(document["meta_strategy"], len(names))
    except UsageError as error:
        raise UsageError(f"{source}: {error}") from None
    if expected_names is not None:
        expected = list(expected_names)
        if len(expected) != len(names):
            raise UsageError(f"{source}: meta-strategy covers {len(names)} policies but the population has "
                             f"{len(expected)}; re-solve the meta-game for this population")
        differing = [i for i, (a, b) in enumerate(zip(names, expected, strict=True)) if a != b]
        if differing:
            i = differing[0]
            raise UsageError(f"{source}: policy {i} is {names[i]!r} but the population has {expected[i]!r}; "
                             "re-solve the meta-game for this population")
    return MetaStrategy(names, sigma, dict(document.get("metadata") or {}))


def solve_matrix_file(matrix_path: str | os.PathLike, out_dir: str | os.PathLike, solver: str = "nash",
                      previous_strategy_path: str | os.PathLike | None = None,
                      extra_analysis: dict | None = None,
                      support_threshold: float = SUPPORT_WEIGHT) -> tuple[Path, Path]:
    """Solve `interaction_matrix.json` into `meta_strategy.json` and `meta_game_analysis.json` in out_dir.

    With `previous_strategy_path` (the previous iteration's meta-strategy, whose population must be
    a prefix of this one) the analysis also records how much this population exploits it, as the
    top-level `exploitability` (PSRO's progress measure). `extra_analysis` is merged in (e.g. the new
    best response's directly measured gain). `support_threshold` is the weight a member needs to count in
    `support_size`. A solver failure is a SolverError naming the matrix file.
    """
    matrix = InteractionMatrix.load(matrix_path)
    payoff = matrix.M
    try:
        sigma = solve(payoff, solver)
    except SolverError as error:
        raise SolverError(f"{matrix_path}: {error}") from None
    analysis = {"solver": solver, "matrix_file": str(matrix_path),
                **analyze(matrix.policy_names, payoff, sigma, support_threshold)}
    if previous_strategy_path is not None:
        previous = _previous_exploitability(matrix.policy_names, payoff, previous_strategy_path)
        analysis["exploitability"] = previous["exploitability"]
        analysis["exploitability_of_previous"] = previous
    analysis.update(extra_analysis or {})
    out = Path(out_dir)
    strategy_path = write_meta_strategy(out / "meta_strategy.json", matrix.policy_names, sigma,
                                        {"solver": solver, "matrix_file": str(matrix_path)})
    analysis_path = atomic_write_json(out / "meta_game_analysis.json", analysis)
    return strategy_path, analysis_path


def _previous_exploitability(names: list[str], payoff: np.ndarray,
                             previous_strategy_path: str | os.PathLike) -> dict:
    previous = load_meta_strategy(previous_strategy_path)
    if names[:len(previous.policy_names)] != previous.policy_names:
        raise UsageError(f"{previous_strategy_path}: its policies {previous.policy_names} are not the first "
                         f"{len(previous.policy_names)} policies of the new population {names}")
    gain, best = exploitability_of_previous(payoff, previous.sigma)
    return {"strategy_file": str(previous_strategy_path), "exploitability": gain,
            "best_response": names[best]}


def _check_mixture(sigma: Any, size: int) -> np.ndarray:
    """σ must be a probability vector over `size` policies."""
    try:
        mixture = np.asarray(sigma, dtype=float)
    except (TypeError, ValueError):
        raise UsageError("meta-strategy must be a list of probabilities") from None
    if mixture.ndim != 1 or len(mixture) != size:
        raise UsageError(f"meta-strategy has {mixture.size} entries but the population has {size} policies")
    if size == 0:
        raise UsageError("empty population: need at least one policy")
    if not np.all(np.isfinite(mixture)) or np.any(mixture < 0):
        raise UsageError(f"meta-strategy has a negative or non-finite probability: {mixture.min():g}")
    if abs(mixture.sum() - 1.0) > SUM_TOLERANCE:
        raise UsageError(f"meta-strategy sums to {mixture.sum():.9g}, must sum to 1")
    return mixture


def _as_distribution(weights: np.ndarray) -> np.ndarray:
    """Clip solver noise below zero and renormalise."""
    clipped = np.clip(weights, 0.0, None)
    return clipped / clipped.sum()


def _lp_nash(payoff: np.ndarray) -> np.ndarray:
    n = len(payoff)
    advantage = payoff - GAME_VALUE
    objective = np.zeros(n + 1)
    objective[-1] = -1.0  # maximise v
    column_constraints = np.hstack([-advantage.T, np.ones((n, 1))])  # v − (σᵀA)_j ≤ 0
    result = linprog(objective, A_ub=column_constraints, b_ub=np.zeros(n),
                     A_eq=np.append(np.ones(n), 0.0)[None, :], b_eq=[1.0],
                     bounds=[(0, None)] * n + [(None, None)], method="highs", options=_HIGHS_OPTIONS)
    if not result.success:
        raise SolverError(f"Nash LP failed: {result.message}")
    return _as_distribution(result.x[:n])


def _nash_point_maximising(payoff: np.ndarray, coordinates: np.ndarray) -> np.ndarray:
    """A Nash mixture putting as much total weight as possible on the given policies."""
    n = len(payoff)
    objective = np.zeros(n)
    objective[coordinates] = -1.0
    result = linprog(objective, A_ub=payoff, b_ub=np.full(n, GAME_VALUE), A_eq=np.ones((1, n)), b_eq=[1.0],
                     bounds=[(0, None)] * n, method="highs", options=_HIGHS_OPTIONS)
    if not result.success:
        raise SolverError(f"Nash support LP failed: {result.message}")
    return _as_distribution(result.x)


def _relative_interior_nash(payoff: np.ndarray, start: np.ndarray) -> np.ndarray:
    """A Nash mixture whose support is the union of all Nash supports (an average of Nash points).

    Each LP pushes weight onto the policies no Nash point found so far uses; it stops when none can
    get any, so it runs at most (n − support) + 1 LPs.
    """
    points = [start]
    reached = start > SUPPORT_THRESHOLD
    while not reached.all():
        point = _nash_point_maximising(payoff, np.flatnonzero(~reached))
        newly_reached = (point > SUPPORT_THRESHOLD) & ~reached
        if not newly_reached.any():
            break
        points.append(point)
        reached |= newly_reached
    return np.mean(points, axis=0)


def _max_entropy_nash(payoff: np.ndarray, lp_sigma: np.ndarray) -> np.ndarray:
    """Maximise entropy over the Nash polytope.

    Every Nash σ is zero outside the maximal support S and makes every policy of S exactly
    indifferent ((M σ)_i = 0.5 for i in S), so σ_S = x0 + Z y with Z spanning those equalities'
    null space; only the rows outside S remain inequalities. When Z is empty the Nash is unique.
    """
    interior = _relative_interior_nash(payoff, lp_sigma)
    support = np.flatnonzero(interior > SUPPORT_THRESHOLD)
    outside = np.setdiff1d(np.arange(len(payoff)), support)
    equalities = np.vstack([payoff[np.ix_(support, support)] - GAME_VALUE, np.ones((1, len(support)))])
    targets = np.append(np.zeros(len(support)), 1.0)
    start = interior[support]
    start = start - np.linalg.pinv(equalities) @ (equalities @ start - targets)  # exact on the equalities
    directions = null_space(equalities)
    sigma = np.zeros(len(payoff))
    if directions.shape[1] == 0:
        sigma[support] = start
        return _as_distribution(sigma)

    def negative_entropy(y: np.ndarray) -> tuple[float, np.ndarray]:
        weights = np.maximum(start + directions @ y, 1e-300)
        return float(np.sum(weights * np.log(weights))), directions.T @ (np.log(weights) + 1.0)

    outside_rows = payoff[np.ix_(outside, support)]
    constraints = [{"type": "ineq", "fun": lambda y: start + directions @ y, "jac": lambda y: directions}]
    if len(outside):
        constraints.append({"type": "ineq", "fun": lambda y: GAME_VALUE - outside_rows @ (start + directions @ y),
                            "jac": lambda y: -outside_rows @ directions})
    result = minimize(negative_entropy, np.zeros(directions.shape[1]), jac=True, method="SLSQP",
                      constraints=constraints, options={"ftol": 1e-15, "maxiter": 1000})
    if not result.success:
        raise SolverError(f"max-entropy Nash search failed ({result.message}); use the 'nash' solver")
    sigma[support] = start + directions @ result.x
    sigma = _as_distribution(sigma)
    if np.max(payoff @ sigma) - GAME_VALUE > NASH_TOLERANCE:
        raise SolverError("max-entropy Nash search left the Nash set; use the 'nash' solver")
    return sigma

"""Bradley–Terry ratings of the population on the Elo scale, and a GXE column, from every battle between members.

The field's Gen 1 OU ladder (the PokéAgent Challenge) rates agents by Bradley–Terry over the full battle history and
shows GXE, the expected win rate against a random ladder opponent. Here the same for the population: member i has a
strength r_i and P(i beats j) = 1 / (1 + exp(r_j − r_i)); a tie counts ½ a win to each side.

- **Rating**: r on the Elo scale, 400·log10 odds (400 / ln 10 per unit of r), anchored so that the members' mean
  rating is 1500 (the Showdown ladder's starting rating). Ratings compare members of one run with each other; they
  are not ladder ratings (no human played here) and an anchor at the mean moves when members are added.
- **GXE**: the member's expected win rate (0 to 1; the ladder prints it ×100) against a member drawn uniformly from
  the *other* members, from the fitted model.
- **Intervals**: 95 % percentile intervals over bootstrap resamples of the battles (`RESAMPLES`, seeded by the
  caller). Battles are resampled within each `BattleBlock`, the battles whose number was fixed together (one
  tournament pair; one evaluation's battles against one opponent or mixture), so every resample keeps the design.
- **Fit**: maximum a posteriori under a tiny ridge prior (`RIDGE`, a normal prior of sd 10 on r, ≈ 1,700 Elo),
  found by Newton's method with step halving, all resamples at once; scipy's `expit` / `log_expit` give the stable
  logistic. The prior keeps a member that won (or lost) every battle finite, and its rating there is the prior's:
  read it as a bound (its `wins` / `losses` show the perfect record). `choix` has no ties and no weights, so it is
  not used.

Which battles count: every battle whose two sides are both members of the population, on the matrix's team set,
played by the very player the population names (same checkpoint and acting options), each exactly once:
- the tournament's: every cell of the final interaction matrix (`tournament_blocks`). Each battle sits in exactly
  one cell (`InteractionMatrix.from_records` refuses a battle index seen twice in a pair; cells carried from earlier
  stages are counted in one stage only);
- evaluations by a member against members (`evaluation_block`): each best response against σ (`br_eval.json`,
  opponent named per battle in `policy_b`), the bootstrap against baselines (`bootstrap_eval.json`), baselines against
  the final σ (`mixture_vs_baselines.json`); their battles against a non-member (a baseline outside the population)
  or against itself (σ drew the baseline) are left out. A battle is its (file, block, index): an index seen twice is
  refused, and so is a file listed twice.
Not counted: the exploiter's battles (not a member), the learner's training battles (not a member yet, and a policy
that changed while it played), the `start` blocks of evaluations (their records carry the best response's name
but were played by its start checkpoint), and the `held_out` blocks (another team set: another game).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import expit, log_expit

from pokepsro.battles.records import SCORES
from pokepsro.battles.spec import learner_key
from pokepsro.core.errors import UsageError
from pokepsro.metagame.matrix import InteractionMatrix
from pokepsro.metagame.population import PolicyEntry, Population

ELO_PER_UNIT = 400.0 / math.log(10.0)  # Elo points per unit of log-odds
MEAN_RATING = 1500.0  # the members' mean rating: the Showdown ladder's starting rating
RIDGE = 0.01  # precision of the normal prior on each r (sd 10): keeps perfect records finite, moves nothing else
RESAMPLES = 500
NEWTON_STEPS = 100
NEWTON_TOLERANCE = 1e-9


@dataclass(frozen=True)
class BattleBlock:
    """Battles whose number was fixed together, as counts per (side A, side B, side A's result); both sides members."""

    source: str
    outcomes: dict[tuple[str, str, str], int]

    @property
    def battles(self) -> int:
        return sum(self.outcomes.values())


def tournament_blocks(matrix: InteractionMatrix, source: str) -> list[BattleBlock]:
    """One block per cell of the matrix: its battles, each counted once when the matrix was built."""
    blocks = []
    for (row, col), counts in matrix.pair_counts.items():
        outcomes = {(row, col, "win"): counts.wins, (row, col, "loss"): counts.losses, (row, col, "tie"): counts.ties}
        blocks.append(BattleBlock(f"{source} ({row}, {col})", {key: n for key, n in outcomes.items() if n}))
    return blocks


def evaluation_block(records: Iterable[dict], player: PolicyEntry, population: Population,
                     source: str) -> BattleBlock | None:
    """An evaluation's battles of `player` (side A, recorded as its learner key) against other members (`policy_b`).

    None when no battle is between members: `player` is no member, or no opponent is one (their battles are left
    out, e.g. the bootstrap against a baseline outside the population). A member played by another checkpoint or
    with other acting options than the population's is refused, as is a battle index seen twice.
    """
    if player.name not in population.names:
        return None
    member = population[player.name]
    if _player_of(member) != _player_of(player):
        raise UsageError(f"{source}: {player.name} played as {_describe(player)}, but the population's member is "
                         f"{_describe(member)}; rebuild {source}")
    side_a = learner_key(player.name)
    seen: set = set()
    outcomes: Counter = Counter()
    for record in records:
        index, opponent, result = record.get("index"), record.get("policy_b"), record.get("result_a")
        if record.get("policy_a") != side_a:
            raise UsageError(f"{source}: battle {index} was played by {record.get('policy_a')!r}, expected {side_a!r}")
        if index in seen:
            raise UsageError(f"{source}: battle index {index} appears twice; each battle must be counted exactly once")
        seen.add(index)
        if opponent not in population.names or opponent == player.name:
            continue
        if result not in SCORES:
            raise UsageError(f"{source}: battle {index} has result_a {result!r}; expected one of {', '.join(SCORES)}")
        outcomes[(player.name, opponent, result)] += 1
    return BattleBlock(source, dict(outcomes)) if outcomes else None


def _player_of(entry: PolicyEntry) -> tuple:
    """What decides how a member plays: its kind, its spec (a checkpoint's file, wherever it is named from) and
    its acting options; not its description."""
    spec = str(Path(entry.spec).resolve()) if entry.kind == "checkpoint" else entry.spec
    return entry.kind, spec, dict(entry.options)


def _describe(entry: PolicyEntry) -> str:
    return f"{entry.kind} {entry.spec} with options {dict(entry.options)}"


def fit_ratings(names: Sequence[str], blocks: Sequence[BattleBlock], seed: int, resamples: int = RESAMPLES) -> dict:
    """Per member (in `names` order): rating, ci95, gxe, gxe_ci95 and its battles, wins, losses, ties (ties ½).

    Every member must be linked to every other through battles; a member with none, or a group that never met the
    rest, has no comparable rating and is refused naming it.
    """
    names = list(names)
    if len(names) < 2:
        raise UsageError(f"ratings need at least two members, got {len(names)}")
    order = {name: i for i, name in enumerate(names)}
    cells = [(block_number, order[a], order[b], SCORES[result], count)
             for block_number, block in enumerate(blocks) for (a, b, result), count in block.outcomes.items()]
    if not cells:
        raise UsageError("no battles between members to rate")
    block_of, side_a, side_b, score, count = (np.array(column) for column in zip(*cells))
    _check_connected(names, side_a, side_b)
    point = _strengths(*_tally(len(names), side_a, side_b, score, count[None, :]))[0]
    resampled = _strengths(*_tally(len(names), side_a, side_b, score,
                                   _resample_counts(block_of, count, resamples, np.random.default_rng(seed))))
    ratings, gxe = _elo(point), _gxe(point)
    rating_ci, gxe_ci = (np.percentile(values, [2.5, 97.5], axis=0).T for values in (_elo(resampled), _gxe(resampled)))
    members = {}
    for i, name in enumerate(names):
        a_side, b_side = side_a == i, side_b == i
        wins = int(count[a_side & (score == 1.0)].sum() + count[b_side & (score == 0.0)].sum())
        losses = int(count[a_side & (score == 0.0)].sum() + count[b_side & (score == 1.0)].sum())
        ties = int(count[(a_side | b_side) & (score == 0.5)].sum())
        members[name] = {"rating": float(ratings[i]), "ci95": rating_ci[i].tolist(), "gxe": float(gxe[i]),
                         "gxe_ci95": gxe_ci[i].tolist(), "battles": wins + losses + ties, "wins": wins,
                         "losses": losses, "ties": ties}
    return members


def _check_connected(names: list[str], side_a: np.ndarray, side_b: np.ndarray) -> None:
    played = Counter(side_a.tolist()) + Counter(side_b.tolist())
    idle = [name for i, name in enumerate(names) if not played[i]]
    if idle:
        raise UsageError(f"member(s) {', '.join(idle)} played no battles against other members: no rating; "
                         "play their matchups or leave them out")
    linked, frontier = {0}, [0]
    while frontier:
        member = frontier.pop()
        for neighbour in np.concatenate([side_b[side_a == member], side_a[side_b == member]]).tolist():
            if neighbour not in linked:
                linked.add(neighbour)
                frontier.append(neighbour)
    apart = [name for i, name in enumerate(names) if i not in linked]
    if apart:
        raise UsageError(f"member(s) {', '.join(apart)} never met {names[0]}, directly or through others: their "
                         "ratings cannot be compared; play matchups between the two groups")


def _resample_counts(block_of: np.ndarray, count: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap counts per cell, (resamples, cells): each block's battles drawn with replacement, as many as it had."""
    drawn = np.zeros((resamples, len(count)), dtype=np.int64)
    for block in np.unique(block_of):
        cells = np.flatnonzero(block_of == block)
        total = int(count[cells].sum())
        drawn[:, cells] = rng.multinomial(total, count[cells] / total, size=resamples)
    return drawn


def _tally(size: int, side_a: np.ndarray, side_b: np.ndarray, score: np.ndarray,
           counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per resample: scores[k, i, j], i's score against j (ties ½), and games[k, i, j] = games[k, j, i]."""
    scores = np.zeros((len(counts), size, size))
    games = np.zeros((len(counts), size, size))
    np.add.at(scores, (slice(None), side_a, side_b), counts * score)
    np.add.at(scores, (slice(None), side_b, side_a), counts * (1.0 - score))
    np.add.at(games, (slice(None), side_a, side_b), counts)
    np.add.at(games, (slice(None), side_b, side_a), counts)
    return scores, games


def _log_posterior(r: np.ndarray, scores: np.ndarray) -> np.ndarray:
    return (scores * log_expit(r[:, :, None] - r[:, None, :])).sum(axis=(1, 2)) - 0.5 * RIDGE * (r * r).sum(axis=1)


def _strengths(scores: np.ndarray, games: np.ndarray) -> np.ndarray:
    """The MAP log-strengths r[k] of each tally k (the prior centres them: mean 0), by Newton with step halving."""
    batch, size = scores.shape[:2]
    r = np.zeros((batch, size))
    value = _log_posterior(r, scores)
    for _ in range(NEWTON_STEPS):
        p = expit(r[:, :, None] - r[:, None, :])
        gradient = scores.sum(axis=2) - (games * p).sum(axis=2) - RIDGE * r
        weight = games * p * (1.0 - p)
        curvature = -weight + np.eye(size) * (weight.sum(axis=2)[:, :, None] + RIDGE)  # minus the Hessian
        step = np.linalg.solve(curvature, gradient[:, :, None])[:, :, 0]
        length = np.ones(batch)
        while True:
            trial = r + length[:, None] * step
            trial_value = _log_posterior(trial, scores)
            worse = trial_value < value - 1e-12 * np.abs(value)
            if not worse.any() or length.min() < 1e-12:
                break
            length[worse] /= 2.0
        r, value = np.where(worse[:, None], r, trial), np.where(worse, value, trial_value)
        if np.abs(length[:, None] * step).max() < NEWTON_TOLERANCE:
            return r
    raise RuntimeError(f"the Bradley–Terry fit did not converge in {NEWTON_STEPS} Newton steps")


def _elo(r: np.ndarray) -> np.ndarray:
    return MEAN_RATING + ELO_PER_UNIT * (r - r.mean(axis=-1, keepdims=True))


def _gxe(r: np.ndarray) -> np.ndarray:
    """Expected win rate against another member drawn uniformly."""
    size = r.shape[-1]
    return (expit(r[..., :, None] - r[..., None, :]).sum(axis=-1) - 0.5) / (size - 1)

"""The interaction matrix of a population: who beats whom, counted once per battle, with intervals.

M[i][j] = P(policy i beats policy j), ties counting one half. Every unordered pair is played and
stored once (row before column in population order); the lower triangle is 1 - the upper one and
the diagonal is 0.5 by definition (a policy against itself is never played).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pokepsro.battles.records import summarize, win_rate
from pokepsro.core.errors import UsageError
from pokepsro.core.files import atomic_write_json, read_json

ANTISYMMETRY_TOLERANCE = 1e-9
RESULTS = ("win", "loss", "tie")

PairKey = tuple[str, str]


class MatrixError(UsageError, ValueError):
    """Battle records or pair counts that cannot form a complete, honest matrix."""


def check_population(policy_names: Sequence[str], source: str = "population") -> list[str]:
    """A population is a non-empty list of unique names; return it as a list."""
    names = list(policy_names)
    if not names:
        raise UsageError(f"{source}: empty population: need at least one policy")
    for name in names:
        if not isinstance(name, str) or not name:
            raise UsageError(f"{source}: policy name {name!r} must be a non-empty string")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise UsageError(f"{source}: policy names must be unique; repeated: {', '.join(duplicates)}")
    return names


def check_payoff_matrix(matrix: Any, source: str = "matrix") -> np.ndarray:
    """Validate a symmetric constant-sum win-rate matrix (entries in [0, 1], M + Mᵀ = 1)."""
    try:
        payoff = np.array(matrix, dtype=float)
    except (TypeError, ValueError):
        raise UsageError(f"{source}: matrix must be a square list of lists of numbers") from None
    if payoff.size == 0:
        raise UsageError(f"{source}: empty population: need at least one policy")
    if payoff.ndim != 2:
        raise UsageError(f"{source}: matrix must be 2-dimensional (a list of rows), got {payoff.ndim} dimensions")
    rows, cols = payoff.shape
    if rows != cols:
        raise UsageError(f"{source}: matrix is {rows}x{cols}, must be square")
    bad = np.argwhere(~np.isfinite(payoff) | (payoff < 0.0) | (payoff > 1.0))
    if len(bad):
        i, j = bad[0]
        raise UsageError(f"{source}: M[{i}][{j}] = {payoff[i, j]:g} is outside [0, 1]")
    deviation = np.abs(payoff + payoff.T - 1.0)
    if deviation.max() > ANTISYMMETRY_TOLERANCE:
        i, j = np.unravel_index(int(np.argmax(deviation)), deviation.shape)
        raise UsageError(
            f"{source}: M[{i}][{j}] + M[{j}][{i}] = {payoff[i, j] + payoff[j, i]:.12g}, must be 1 "
            f"(P(i beats j) + P(j beats i) = 1 with ties counting one half; the diagonal is 0.5)")
    return payoff


@dataclass(frozen=True)
class PairCounts:
    """Battle outcomes of one pair from the row policy's point of view."""

    wins: int = 0
    losses: int = 0
    ties: int = 0

    @property
    def battles(self) -> int:
        return self.wins + self.losses + self.ties

    @property
    def win_rate(self) -> float:
        return win_rate(self.wins, self.losses, self.ties)

    def summary(self) -> dict:
        """Counts, win rate and its interval, as written into every result file."""
        return summarize(self.wins, self.losses, self.ties)

    def flipped(self) -> PairCounts:
        """The same battles seen from the other side."""
        return PairCounts(self.losses, self.wins, self.ties)

    def __add__(self, other: PairCounts) -> PairCounts:
        return PairCounts(self.wins + other.wins, self.losses + other.losses, self.ties + other.ties)


_RESULT_COUNTS = {"win": PairCounts(1, 0, 0), "loss": PairCounts(0, 1, 0), "tie": PairCounts(0, 0, 1)}


@dataclass
class InteractionMatrix:
    """Counts per unordered pair, keyed (row, col) with row before col in `policy_names` order."""

    policy_names: list[str]
    pair_counts: dict[PairKey, PairCounts]
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.policy_names = check_population(self.policy_names)
        order = {name: index for index, name in enumerate(self.policy_names)}
        for (row, col), counts in self.pair_counts.items():
            if row not in order or col not in order:
                raise MatrixError(f"pair ({row}, {col}) names a policy outside the population")
            if order[row] >= order[col]:
                raise MatrixError(f"pair ({row}, {col}) must be stored row before column in population order")
            if min(counts.wins, counts.losses, counts.ties) < 0 or counts.battles == 0:
                raise MatrixError(f"pair ({row}, {col}) has impossible counts {counts}")
        unplayed = missing_pairs(self.policy_names, self)
        if unplayed:
            listed = ", ".join(f"({a}, {b})" for a, b in unplayed[:5])
            more = f" and {len(unplayed) - 5} more" if len(unplayed) > 5 else ""
            raise MatrixError(f"{len(unplayed)} pair(s) never played: {listed}{more}; "
                              "play them (see missing_pairs) before building the matrix")

    @classmethod
    def from_records(cls, policy_names: Sequence[str], records: Iterable[dict],
                     previous: InteractionMatrix | None = None,
                     metadata: dict | None = None) -> InteractionMatrix:
        """Count each battle once into its unordered pair; keep `previous` cells for pairs not replayed."""
        names = check_population(policy_names)
        order = {name: index for index, name in enumerate(names)}
        new_counts: dict[PairKey, PairCounts] = {}
        seen_battles: set[tuple[PairKey, Any]] = set()
        for record in records:
            key, counts = _record_outcome(record, order)
            battle = (key, record["index"])
            if battle in seen_battles:
                raise MatrixError(f"battle index {record['index']} of pair ({key[0]}, {key[1]}) appears twice; "
                                  "each battle must be counted exactly once")
            seen_battles.add(battle)
            new_counts[key] = new_counts.get(key, PairCounts()) + counts
        carried = _carried_counts(previous, order)
        replayed = sorted(new_counts.keys() & carried.keys(), key=lambda k: (order[k[0]], order[k[1]]))
        if replayed:
            a, b = replayed[0]
            raise MatrixError(f"pair ({a}, {b}) is both in the previous matrix and in the new records; "
                              "play only missing_pairs(...) or build from scratch without previous")
        return cls(names, {**carried, **new_counts}, dict(metadata or {}))

    def has_pair(self, a: str, b: str) -> bool:
        return (a, b) in self.pair_counts or (b, a) in self.pair_counts

    def counts(self, a: str, b: str) -> PairCounts:
        """Outcomes of a against b, from a's point of view."""
        if (a, b) in self.pair_counts:
            return self.pair_counts[(a, b)]
        if (b, a) in self.pair_counts:
            return self.pair_counts[(b, a)].flipped()
        raise KeyError(f"pair ({a}, {b}) is not in the matrix")

    @property
    def M(self) -> np.ndarray:
        """Dense win-rate matrix: ties count ½, diagonal 0.5, M + Mᵀ = 1."""
        size = len(self.policy_names)
        payoff = np.full((size, size), 0.5)
        index = {name: i for i, name in enumerate(self.policy_names)}
        for (row, col), counts in self.pair_counts.items():
            payoff[index[row], index[col]] = counts.win_rate
            payoff[index[col], index[row]] = counts.flipped().win_rate
        return payoff

    def battles_matrix(self) -> np.ndarray:
        """Number of battles behind each cell (0 on the diagonal)."""
        size = len(self.policy_names)
        battles = np.zeros((size, size), dtype=int)
        index = {name: i for i, name in enumerate(self.policy_names)}
        for (row, col), counts in self.pair_counts.items():
            battles[index[row], index[col]] = battles[index[col], index[row]] = counts.battles
        return battles

    def to_json(self) -> dict:
        """The `interaction_matrix.json` document."""
        pairs = []
        for i, row in enumerate(self.policy_names):
            for col in self.policy_names[i + 1:]:
                counts = self.pair_counts[(row, col)]
                pairs.append({"row": row, "col": col, **counts.summary()})
        return {"policy_names": list(self.policy_names), "pairs": pairs,
                "matrix": self.M.tolist(), "metadata": self.metadata}

    def save(self, path: str | os.PathLike) -> Path:
        return atomic_write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike) -> InteractionMatrix:
        """Read and fully validate a matrix file; every problem is a UsageError naming the file."""
        source = str(path)
        document = read_json(path, "policy_names", "pairs", "matrix")
        if not isinstance(document["policy_names"], list):
            raise UsageError(f"{source}: policy_names must be a list of names")
        names = check_population(document["policy_names"], source)
        payoff = check_payoff_matrix(document["matrix"], source)
        if len(payoff) != len(names):
            raise UsageError(f"{source}: matrix is {len(payoff)}x{len(payoff)} but there are {len(names)} policy names")
        pair_counts = _parse_pairs(document["pairs"], source)
        try:
            matrix = cls(names, pair_counts, dict(document.get("metadata") or {}))
        except MatrixError as error:
            raise UsageError(f"{source}: {error}") from None
        disagreement = np.abs(matrix.M - payoff)
        if disagreement.max() > ANTISYMMETRY_TOLERANCE:
            i, j = np.unravel_index(int(np.argmax(disagreement)), disagreement.shape)
            raise UsageError(f"{source}: M[{i}][{j}] = {payoff[i, j]:.12g} but the counts of pair "
                             f"({names[i]}, {names[j]}) give {matrix.M[i, j]:.12g}")
        return matrix


def missing_pairs(policy_names: Sequence[str], previous: InteractionMatrix | None) -> list[PairKey]:
    """Unordered pairs (row before col in population order) that `previous` has not played."""
    names = list(policy_names)
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]
            if previous is None or not previous.has_pair(a, b)]


def _record_outcome(record: dict, order: dict[str, int]) -> tuple[PairKey, PairCounts]:
    """The pair key (population order) and the one battle's outcome from the row's side."""
    for key in ("index", "policy_a", "policy_b", "result_a"):
        if key not in record:
            raise MatrixError(f"battle record {record!r} lacks {key!r}")
    a, b, result = record["policy_a"], record["policy_b"], record["result_a"]
    if a == b:
        raise MatrixError(f"battle index {record['index']} is {a} against itself; self-play is never "
                          "recorded in the matrix (the diagonal is 0.5 by definition)")
    for name in (a, b):
        if name not in order:
            raise MatrixError(f"battle index {record['index']} names policy {name!r}, not in the population")
    if result not in _RESULT_COUNTS:
        raise MatrixError(f"battle index {record['index']} has result_a {result!r}; "
                          f"expected one of {', '.join(RESULTS)}")
    outcome = _RESULT_COUNTS[result]
    return ((a, b), outcome) if order[a] < order[b] else ((b, a), outcome.flipped())


def _carried_counts(previous: InteractionMatrix | None, order: dict[str, int]) -> dict[PairKey, PairCounts]:
    """The previous matrix's pairs among current policies, re-oriented to the current order."""
    if previous is None:
        return {}
    carried = {}
    for (row, col), counts in previous.pair_counts.items():
        if row in order and col in order:
            if order[row] < order[col]:
                carried[(row, col)] = counts
            else:
                carried[(col, row)] = counts.flipped()
    return carried


def _parse_pairs(pairs: Any, source: str) -> dict[PairKey, PairCounts]:
    if not isinstance(pairs, list):
        raise UsageError(f"{source}: pairs must be a list")
    parsed: dict[PairKey, PairCounts] = {}
    for number, pair in enumerate(pairs):
        try:
            key = (pair["row"], pair["col"])
            counts = PairCounts(*(_count(pair[name]) for name in ("wins", "losses", "ties")))
        except (KeyError, TypeError, ValueError):
            raise UsageError(f"{source}: pairs[{number}] needs row, col and non-negative integer "
                             "wins, losses, ties") from None
        if key in parsed or key[::-1] in parsed:
            raise UsageError(f"{source}: pair ({key[0]}, {key[1]}) is listed twice")
        if "battles" in pair and pair["battles"] != counts.battles:
            raise UsageError(f"{source}: pair ({key[0]}, {key[1]}) says {pair['battles']} battles "
                             f"but wins + losses + ties = {counts.battles}")
        parsed[key] = counts
    return parsed


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 \
            or not math.isfinite(value) or value != int(value):
        raise ValueError(f"not a count: {value!r}")
    return int(value)

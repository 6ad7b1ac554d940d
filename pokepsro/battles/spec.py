"""A battle to play, and schedules of them: who plays whom, on which teams and seats, from which seed.

A `BattleSpec` is all a backend needs to play one battle reproducibly; every draw of a schedule (teams, seats,
opponents sampled from weights) comes from the schedule's seed, so a rerun plays the same battles.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pokepsro.core.errors import UsageError
from pokepsro.core.seeding import derive_seed

if TYPE_CHECKING:
    from pokepsro.gen1.teams import Team, TeamSet

SEATS = ("p1", "p2")
LEARNER_SUFFIX = "@learner"


@dataclass(frozen=True)
class BattleSpec:
    """One scheduled battle; `index` is unique within a run and keys its record."""

    index: int
    policy_a: str
    policy_b: str
    a_seat: str          # "p1" or "p2"; side A sends the challenge when it is p1 (Showdown seats the challenger p1)
    team_a: Team
    team_b: Team | None  # None: an opponent on a public server brings its own team, unknown to us
    seed: int


def schedule_matchup(policy_a: str, policy_b: str, n: int, team_set: TeamSet, seed: int,
                     start_index: int = 0) -> list[BattleSpec]:
    """`n` battles of A against B: seats alternate (A is p1 first), teams drawn per battle from `seed`."""
    if n < 0:
        raise UsageError(f"number of battles must be at least 0, got {n}")
    rng = random.Random(seed)
    specs = []
    for k in range(n):
        index = start_index + k
        team_a, team_b = team_set.draw(rng), team_set.draw(rng)
        specs.append(BattleSpec(index=index, policy_a=policy_a, policy_b=policy_b, a_seat=SEATS[k % 2],
                                team_a=team_a, team_b=team_b, seed=derive_seed(seed, "battle", index)))
    return specs


def learner_key(name: str) -> str:
    """A name for side A that cannot collide with an opponent (the learner may also be one of them)."""
    return name + LEARNER_SUFFIX


def sample_members(names: Sequence[str], weights, n: int, seed: int) -> list[str]:
    """Draw one member per battle from the weights σ with a seeded RNG (the opponent of PSRO's battles)."""
    rng = random.Random(seed)
    return rng.choices(list(names), weights=list(map(float, weights)), k=n)


def schedule_against_mixture(learner: str, names: Sequence[str], sigma, n: int, team_set: TeamSet, *,
                             opponents_seed: int, teams_seed: int, start_index: int = 0) -> list[BattleSpec]:
    """`n` battles of `learner` (side A) against members drawn per battle from σ (the record's `policy_b`):
    teams drawn per battle, seats alternating, indices from `start_index`."""
    members = sample_members(names, sigma, n, opponents_seed)
    template = schedule_matchup(learner, "opponent", n, team_set, teams_seed, start_index=start_index)
    return [dataclasses.replace(spec, policy_b=member) for spec, member in zip(template, members)]

"""Round-robin tournament into an interaction matrix, incremental like OpenSpiel's psro_v2.

Every unordered pair of distinct policies plays `battles_per_matchup` battles, half in each seat; pairs already
in the previous matrix are kept, so adding one policy to n plays exactly n matchups.
"""

from __future__ import annotations

from itertools import zip_longest
from pathlib import Path

from pokepsro.battles.api import run_battles
from pokepsro.battles.spec import BattleSpec, schedule_matchup
from pokepsro.core.errors import UsageError
from pokepsro.core.files import write_jsonl
from pokepsro.core.seeding import derive_seed
from pokepsro.gen1.teams import TeamSet
from pokepsro.metagame.matrix import InteractionMatrix, missing_pairs
from pokepsro.metagame.population import Population, player_factories


def tournament_schedule(pairs: list[tuple[str, str]], battles_per_matchup: int, team_set: TeamSet,
                        seed: int, parallel_matchups: int) -> list[BattleSpec]:
    """All battles of `pairs`, interleaved so that `parallel_matchups` matchups are in flight at once."""
    if battles_per_matchup <= 0:
        raise UsageError(f"battles_per_matchup must be positive, got {battles_per_matchup}")
    if parallel_matchups <= 0:
        raise UsageError(f"parallel_matchups must be positive, got {parallel_matchups}")
    per_pair = [
        schedule_matchup(a, b, battles_per_matchup, team_set, derive_seed(seed, "matchup", a, b),
                         start_index=k * battles_per_matchup)
        for k, (a, b) in enumerate(pairs)
    ]
    specs: list[BattleSpec] = []
    for start in range(0, len(per_pair), parallel_matchups):
        group = per_pair[start:start + parallel_matchups]
        for battles in zip_longest(*group):
            specs.extend(spec for spec in battles if spec is not None)
    return specs


def run_tournament(population: Population, *, battles_per_matchup: int, team_set: TeamSet, seed: int,
                   records_path: Path, previous: InteractionMatrix | None = None, parallel_matchups: int = 4,
                   record: bool = False, **run_options) -> InteractionMatrix:
    """Play the pairs missing from `previous`, write their records, and return the merged matrix.

    `run_options` go to `run_battles` (backend, concurrency, limits, server log, on_battle_end...).

    Records of a killed run are resumed from `records_path`.partial; the final `records_path` is written
    atomically with this run's battles only (earlier cells' battles live next to the earlier matrix).
    """
    if len(population) < 2:
        raise UsageError(f"a tournament needs at least two policies, the population has {len(population)}")
    if any(entry.kind == "mixture" for entry in population.entries):
        raise UsageError("mixture policies cannot be tournament members; evaluate them with `pokepsro evaluate`")
    names = population.names
    if previous is not None:
        unknown = [name for name in previous.policy_names if name not in names]
        if unknown:
            raise UsageError(f"previous matrix has policies not in the population: {', '.join(unknown)}")
    pairs = missing_pairs(names, previous)
    specs = tournament_schedule(pairs, battles_per_matchup, team_set, seed, parallel_matchups)
    factories = player_factories(population, record=record)
    partial = records_path.with_name(records_path.name + ".partial")
    records = run_battles(specs, factories, record_path=partial, **run_options) if specs else []
    matrix = InteractionMatrix.from_records(names, records, previous=previous)
    write_jsonl(records_path, sorted(records, key=lambda r: r["index"]))
    partial.unlink(missing_ok=True)
    return matrix

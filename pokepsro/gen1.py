"""Gen 1 (Red/Blue/Yellow) battle knowledge shared by the heuristic baselines and the feature encoder.

Gen 1 differs from later generations in ways a modern-minded heuristic gets wrong: 15 types with
the cartridge's own chart (Ghost cannot touch Psychic, Bug and Poison hit each other hard, Ice is
neutral on Fire), physical/special decided by the move's TYPE, one Special stat, speed-based
critical hits, no abilities and no items. The type chart is Showdown's own gen1 table as shipped by
poke-env (``type_chart[defender][attacker]``), restricted to the 15 Gen 1 types.
"""

from __future__ import annotations

from typing import Iterable

from poke_env.battle.move import Move
from poke_env.battle.move_category import MoveCategory
from poke_env.battle.pokemon import Pokemon
from poke_env.battle.pokemon_type import PokemonType
from poke_env.battle.status import Status
from poke_env.data import GenData

GEN = 1

TYPES: tuple[PokemonType, ...] = (
    PokemonType.NORMAL, PokemonType.FIRE, PokemonType.WATER, PokemonType.ELECTRIC,
    PokemonType.GRASS, PokemonType.ICE, PokemonType.FIGHTING, PokemonType.POISON,
    PokemonType.GROUND, PokemonType.FLYING, PokemonType.PSYCHIC, PokemonType.BUG,
    PokemonType.ROCK, PokemonType.GHOST, PokemonType.DRAGON,
)

SPECIAL_TYPES: frozenset[PokemonType] = frozenset({
    PokemonType.FIRE, PokemonType.WATER, PokemonType.GRASS, PokemonType.ELECTRIC,
    PokemonType.ICE, PokemonType.PSYCHIC, PokemonType.DRAGON,
})

STAB = 1.5
# Damage rolls are uniform on 217..255 out of 255.
MEAN_DAMAGE_ROLL = (217 + 255) / 2 / 255
# Multi-hit 2-5 moves hit 2, 3, 4, 5 times with probability 3/8, 3/8, 1/8, 1/8.
MEAN_HITS_2_TO_5 = 2 * 3 / 8 + 3 * 3 / 8 + 4 / 8 + 5 / 8
HIGH_CRIT_MULTIPLIER = 8
# A critical hit doubles the level term of the damage formula: (4L/5 + 2) / (2L/5 + 2) ~ 1.95 at L100.
MAX_DV = 15
MAX_STAT_EXP_BONUS = 63  # floor(sqrt(65535) / 4)
OHKO_MOVES = frozenset({"fissure", "guillotine", "horndrill"})
SELF_DESTRUCT_MOVES = frozenset({"explosion", "selfdestruct"})
HEALING_MOVES = frozenset({"recover", "softboiled", "rest"})
POISON_STATUSES = frozenset({Status.PSN, Status.TOX})
UNKNOWN_DAMAGE_MOVES = frozenset({"counter", "bide"})


def _build_type_chart() -> dict[PokemonType, dict[PokemonType, float]]:
    """attacker -> defender -> multiplier, transposed from poke-env's defender-first gen1 table."""
    by_defender = GenData.from_gen(GEN).type_chart
    return {
        attacker: {defender: float(by_defender[defender.name][attacker.name]) for defender in TYPES}
        for attacker in TYPES
    }


TYPE_CHART: dict[PokemonType, dict[PokemonType, float]] = _build_type_chart()


def type_effectiveness(move_type: PokemonType, defender_types: Iterable[PokemonType | None]) -> float:
    """Product of the chart entries; types outside Gen 1 (``???`` from Struggle, recharge) are neutral."""
    multiplier = 1.0
    attacker_row = TYPE_CHART.get(move_type)
    if attacker_row is None:
        return multiplier
    for defender_type in defender_types:
        if defender_type is not None:
            multiplier *= attacker_row.get(defender_type, 1.0)
    return multiplier


def is_special_type(move_type: PokemonType) -> bool:
    return move_type in SPECIAL_TYPES


def is_status_move(move: Move) -> bool:
    """Moves that deal no direct damage (the data file's category is right for these even in Gen 1)."""
    return move.entry.get("category") == "Status"


def move_category(move: Move) -> MoveCategory:
    """Gen 1 split: status moves stay status, damaging moves are physical or special by type."""
    if is_status_move(move):
        return MoveCategory.STATUS
    return MoveCategory.SPECIAL if is_special_type(move.type) else MoveCategory.PHYSICAL


def stab_multiplier(move_type: PokemonType, attacker_types: Iterable[PokemonType | None]) -> float:
    return STAB if move_type in set(attacker_types) else 1.0


def stat_from_base(base: int, level: int, *, is_hp: bool = False) -> int:
    """Gen 1 stat with max DVs and max stat experience, the OU standard."""
    core = ((base + MAX_DV) * 2 + MAX_STAT_EXP_BONUS) * level // 100
    return core + level + 10 if is_hp else core + 5


def battle_stat(pokemon: Pokemon, stat: str) -> int:
    """The real stat when the request told us (own side), else the max-investment estimate."""
    known = pokemon.stats.get(stat) if pokemon.stats else None
    if known:
        return known
    return stat_from_base(pokemon.base_stats[stat], pokemon.level, is_hp=stat == "hp")


def max_hp(pokemon: Pokemon) -> int:
    """Own side knows its max HP; the opponent's is shown in percent, so estimate it."""
    if pokemon.max_hp and pokemon.max_hp != 100:
        return pokemon.max_hp
    return battle_stat(pokemon, "hp")


def current_hp(pokemon: Pokemon) -> float:
    return pokemon.current_hp_fraction * max_hp(pokemon)


def boost_multiplier(stage: int) -> float:
    stage = max(-6, min(6, stage))
    return (2 + stage) / 2 if stage >= 0 else 2 / (2 - stage)


def expected_hits(move: Move) -> float:
    hits = move.entry.get("multihit")
    if hits is None:
        return 1.0
    if isinstance(hits, list):
        return MEAN_HITS_2_TO_5 if hits == [2, 5] else sum(hits) / 2
    return float(hits)


def crit_chance(move: Move, attacker: Pokemon) -> float:
    """Gen 1 crits depend on the attacker's base Speed; high-crit moves multiply the chance by 8."""
    chance = attacker.base_stats["spe"] / 512
    if move.entry.get("critRatio", 1) >= 2:
        chance *= HIGH_CRIT_MULTIPLIER
    return min(chance, 255 / 256)


def _crit_factor(move: Move, attacker: Pokemon) -> float:
    level = attacker.level
    crit_gain = (4 * level / 5 + 2) / (2 * level / 5 + 2) - 1
    return 1 + crit_chance(move, attacker) * crit_gain


def _fixed_damage(move: Move, attacker: Pokemon, defender: Pokemon) -> float | None:
    """Damage of moves that ignore the damage formula; None for ordinary moves."""
    fixed = move.entry.get("damage")
    if fixed == "level":
        return float(attacker.level)
    if isinstance(fixed, int):
        return float(fixed)
    if move.id == "superfang":
        return current_hp(defender) / 2
    if move.id == "psywave":
        return 0.75 * attacker.level
    if move.id in OHKO_MOVES:
        faster = battle_stat(attacker, "spe") >= battle_stat(defender, "spe")
        return current_hp(defender) if faster else 0.0
    if move.id in UNKNOWN_DAMAGE_MOVES:
        return 0.0
    return None


def damage_if_hit(move: Move, attacker: Pokemon, defender: Pokemon) -> float:
    """Mean HP damage when the move connects (rolls, crits and multi-hit averaged; accuracy not)."""
    if is_status_move(move):
        return 0.0
    effectiveness = type_effectiveness(move.type, defender.types)
    if effectiveness == 0:
        return 0.0
    fixed = _fixed_damage(move, attacker, defender)
    if fixed is not None:
        return fixed
    if move.base_power <= 0:
        return 0.0
    if move_category(move) is MoveCategory.SPECIAL:
        attack_stat, defense_stat = "spa", "spd"
    else:
        attack_stat, defense_stat = "atk", "def"
    attack = battle_stat(attacker, attack_stat) * boost_multiplier(attacker.boosts[attack_stat])
    defense = battle_stat(defender, defense_stat) * boost_multiplier(defender.boosts[defense_stat])
    if move.id in SELF_DESTRUCT_MOVES:
        defense /= 2
    base = (2 * attacker.level / 5 + 2) * move.base_power * attack / max(defense, 1.0) / 50 + 2
    return (base * stab_multiplier(move.type, attacker.types) * effectiveness * MEAN_DAMAGE_ROLL
            * _crit_factor(move, attacker) * expected_hits(move))


def expected_damage(move: Move, attacker: Pokemon, defender: Pokemon) -> float:
    """Expected HP damage per turn spent: accuracy-weighted; charge/recharge moves cost two turns."""
    damage = damage_if_hit(move, attacker, defender) * move.accuracy
    if {"charge", "recharge"} & set(move.entry.get("flags", {})):
        damage /= 2
    return damage


def expected_damage_fraction(move: Move, attacker: Pokemon, defender: Pokemon) -> float:
    """Expected damage as a fraction of the defender's max HP, comparable across targets."""
    return expected_damage(move, attacker, defender) / max_hp(defender)


def ko_chance(move: Move, attacker: Pokemon, defender: Pokemon) -> float:
    """Rough chance the move faints the defender this turn: its accuracy if a mean hit is enough."""
    if damage_if_hit(move, attacker, defender) >= current_hp(defender):
        return move.accuracy
    return 0.0


def can_inflict_status(move: Move, defender: Pokemon) -> bool:
    """A status move only works on an unstatused target that its type (or Poison typing) doesn't block."""
    if not is_status_move(move) or move.status is None or defender.status is not None:
        return False
    if type_effectiveness(move.type, defender.types) == 0:
        return False
    return not (move.status in POISON_STATUSES and PokemonType.POISON in defender.types)


def is_self_destruct(move: Move) -> bool:
    """Explosion and Self-Destruct faint the user: huge damage at the cost of a team member."""
    return move.id in SELF_DESTRUCT_MOVES


def is_healing_move(move: Move) -> bool:
    return move.id in HEALING_MOVES


def is_setup_move(move: Move) -> bool:
    """Self-targeted stat boosts (Swords Dance, Amnesia, Agility...)."""
    boosts = move.entry.get("boosts")
    return bool(boosts) and move.entry.get("target") == "self" and sum(boosts.values()) > 0


def setup_has_room(move: Move, pokemon: Pokemon) -> bool:
    """Boosting past +6 does nothing."""
    boosts = move.entry.get("boosts") or {}
    return any(amount > 0 and pokemon.boosts[stat] < 6 for stat, amount in boosts.items())

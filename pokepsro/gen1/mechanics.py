"""Gen 1 (Red/Blue/Yellow) battle knowledge shared by the heuristic baselines and the feature encoder.

Gen 1 differs from later generations in ways a modern-minded heuristic gets wrong: 15 types with
the cartridge's own chart (Ghost cannot touch Psychic, Bug and Poison hit each other hard, Ice is
neutral on Fire), physical/special decided by the move's TYPE, one Special stat, speed-based
critical hits, no abilities and no items. The type chart is Showdown's own gen1 table as shipped by
poke-env (``type_chart[defender][attacker]``), restricted to the 15 Gen 1 types.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

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
# The same chart keyed by the members' ids: an Enum member hashes through Python code (its name's hash), and the
# encoder and the heuristics read the chart ~100 times per decision. Members are singletons that live as long as the
# process, so an id names one type for good.
_CHART_BY_ID: dict[int, dict[int, float]] = {
    id(attacker): {id(defender): multiplier for defender, multiplier in row.items()}
    for attacker, row in TYPE_CHART.items()
}


def type_effectiveness(move_type: PokemonType, defender_types: Iterable[PokemonType | None]) -> float:
    """Product of the chart entries; types outside Gen 1 (``???`` from Struggle, recharge) are neutral."""
    multiplier = 1.0
    attacker_row = _CHART_BY_ID.get(id(move_type))
    if attacker_row is None:
        return multiplier
    for defender_type in defender_types:
        if defender_type is not None:
            multiplier *= attacker_row.get(id(defender_type), 1.0)
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


def stab_multiplier(move_type: PokemonType, attacker_types: Collection[PokemonType | None]) -> float:
    """Same-type attack bonus: a move of one of the attacker's own types hits 1.5x as hard."""
    return STAB if move_type in attacker_types else 1.0


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


def _crit_chance(base_speed: int, high_crit: bool) -> float:
    """Gen 1 crits depend on the attacker's base Speed; high-crit moves multiply the chance by 8."""
    chance = base_speed / 512
    if high_crit:
        chance *= HIGH_CRIT_MULTIPLIER
    return min(chance, 255 / 256)


# -- the damage maths on pre-read data ---------------------------------------------------------------------
# poke-env's Move and Pokemon look their data up on every attribute access (a dict walk per access), and the
# feature encoder needs ~50 damage estimates per decision; so the formula runs on plain records read once:
# MoveInfo per move id (cached for the process), Combatant per Pokémon and decision.


@dataclass(frozen=True)
class MoveInfo:
    """What the damage maths (and the encoder) needs from a move, read once per move id."""

    id: str
    type: PokemonType
    base_power: int
    accuracy: float
    priority: int
    status_move: bool
    special: bool
    hits: float
    high_crit: bool
    two_turn: bool  # charge or recharge: a turn's damage is halved
    fixed: str | int | None  # the data's "damage" ("level" or a number)
    max_pp: int


_MOVE_INFO: dict[tuple[str, int], MoveInfo] = {}


def _read_move_info(move: Move) -> MoveInfo:
    entry = move.entry
    status_move = is_status_move(move)
    return MoveInfo(
        id=move.id, type=move.type, base_power=move.base_power, accuracy=move.accuracy,
        priority=entry.get("priority", 0), status_move=status_move,
        special=not status_move and is_special_type(move.type), hits=expected_hits(move),
        high_crit=entry.get("critRatio", 1) >= 2,
        two_turn=bool({"charge", "recharge"} & set(entry.get("flags", {}))),
        fixed=entry.get("damage"), max_pp=move.max_pp)


def move_info(move: Move) -> MoveInfo:
    """The cached MoveInfo of `move` (read afresh for a Move whose base power was overridden)."""
    if getattr(move, "_base_power_override", None) is not None:
        return _read_move_info(move)
    key = (move.id, move.gen)
    info = _MOVE_INFO.get(key)
    if info is None:
        info = _MOVE_INFO[key] = _read_move_info(move)
    return info


def stand_in_move(move_type: PokemonType, base_power: int = 80) -> MoveInfo:
    """A plain 100 %-accurate attack of `move_type`: what an unrevealed STAB move is assumed to be."""
    key = (f"stand-in {move_type.name} {base_power}", GEN)
    info = _MOVE_INFO.get(key)
    if info is None:
        info = _MOVE_INFO[key] = MoveInfo(
            id=key[0], type=move_type, base_power=base_power, accuracy=1.0, priority=0, status_move=False,
            special=is_special_type(move_type), hits=1.0, high_crit=False, two_turn=False, fixed=None, max_pp=0)
    return info


@dataclass(slots=True)
class Combatant:
    """A Pokémon's numbers for the damage maths at one moment (boosts applied to the stats)."""

    types: tuple[PokemonType, ...]
    level: int
    attack: float
    defense: float
    special_attack: float
    special_defense: float
    raw_speed: int  # unboosted, for OHKO moves
    speed: float  # with boosts and paralysis: who moves first
    base_speed: int  # crit chance
    max_hp: float
    current_hp: float


PARALYSIS_SPEED = 0.25
_COMBAT_STATS = ("atk", "def", "spa", "spd", "spe")


def combatant(pokemon: Pokemon) -> Combatant:
    """`battle_stat` x `boost_multiplier` for each stat, read with one pass over the Pokémon's data."""
    boosts = pokemon.boosts
    known = pokemon.stats or {}
    base = pokemon.base_stats
    level = pokemon.level
    raw = [known.get(stat) or stat_from_base(base[stat], level) for stat in _COMBAT_STATS]
    attack, defense, special_attack, special_defense, speed = (
        value * boost_multiplier(boosts[stat]) if boosts[stat] else value for value, stat in zip(raw, _COMBAT_STATS))
    if pokemon.status is Status.PAR:
        speed *= PARALYSIS_SPEED
    hp = max_hp(pokemon)
    return Combatant(tuple(t for t in pokemon.types if t is not None), level, attack, defense, special_attack,
                     special_defense, raw[4], speed, base["spe"], hp, pokemon.current_hp_fraction * hp)


def _fixed_damage(info: MoveInfo, attacker: Combatant, defender: Combatant) -> float | None:
    """Damage of moves that ignore the damage formula; None for ordinary moves."""
    fixed = info.fixed
    if fixed == "level":
        return float(attacker.level)
    if isinstance(fixed, int):
        return float(fixed)
    if info.id == "superfang":
        return defender.current_hp / 2
    if info.id == "psywave":
        return 0.75 * attacker.level
    if info.id in OHKO_MOVES:
        return defender.current_hp if attacker.raw_speed >= defender.raw_speed else 0.0
    if info.id in UNKNOWN_DAMAGE_MOVES:
        return 0.0
    return None


def hit_damage(info: MoveInfo, attacker: Combatant, defender: Combatant) -> float:
    """Mean HP damage when the move connects (rolls, crits and multi-hit averaged; accuracy not)."""
    if info.status_move:
        return 0.0
    effectiveness = type_effectiveness(info.type, defender.types)
    if effectiveness == 0:
        return 0.0
    fixed = _fixed_damage(info, attacker, defender)
    if fixed is not None:
        return fixed
    if info.base_power <= 0:
        return 0.0
    if info.special:
        attack, defense = attacker.special_attack, defender.special_defense
    else:
        attack, defense = attacker.attack, defender.defense
    if info.id in SELF_DESTRUCT_MOVES:
        defense /= 2
    level = attacker.level
    base = (2 * level / 5 + 2) * info.base_power * attack / max(defense, 1.0) / 50 + 2
    crit_gain = (4 * level / 5 + 2) / (2 * level / 5 + 2) - 1
    crit_factor = 1 + _crit_chance(attacker.base_speed, info.high_crit) * crit_gain
    stab = stab_multiplier(info.type, attacker.types)
    return base * stab * effectiveness * MEAN_DAMAGE_ROLL * crit_factor * info.hits


def turn_damage(info: MoveInfo, attacker: Combatant, defender: Combatant) -> float:
    """Expected HP damage per turn spent: accuracy-weighted; charge/recharge moves cost two turns."""
    return per_turn(info, hit_damage(info, attacker, defender))


def per_turn(info: MoveInfo, hit: float) -> float:
    """Expected damage per turn spent from the damage of a hit (`hit_damage`)."""
    damage = hit * info.accuracy
    if info.two_turn:
        damage /= 2
    return damage


def hit_ko_chance(info: MoveInfo, attacker: Combatant, defender: Combatant) -> float:
    """Rough chance the move faints the defender this turn: its accuracy if a mean hit is enough."""
    return info.accuracy if hit_damage(info, attacker, defender) >= defender.current_hp else 0.0


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

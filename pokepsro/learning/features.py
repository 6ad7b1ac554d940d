"""Gen 1 battle state -> fixed-size observation, the 9-action space, and the reward-shaping potential.

Layout (FEATURE_VERSION "gen1-v2"): GLOBAL block, then 6 own Pokémon, then 6 opponent Pokémon, then the
TACTICS block. Each side lists its active Pokémon first, then the rest: own bench in team order, opponent
bench in reveal order. Own bench slot j (j = 0..4) is exactly what switch action 4 + j switches to, and
own active move slot i is what move action i uses, so a flat MLP sees each action's target at a
fixed place. Unrevealed opponent slots are all zeros (their `revealed` flag is 0).

TACTICS (new in v2): the Gen 1 damage maths of `pokepsro.gen1.mechanics` (what the `gym_leader` heuristic computes),
against the opponent's active Pokémon, one fixed block per action:
  - MOVE slot i (action i), 3 values: expected damage as a fraction of the opponent's max HP (accuracy
    weighted, charge/recharge turns halved, capped at 1.5); KO chance (the move's accuracy when a mean hit
    faints it); moves first (1 we do, 0 they do, 0.5 speed tie; own vs opponent speed with boosts and
    paralysis, and the move's priority).
  - STAY (the own active Pokémon) and then SWITCH slot j (action 4 + j), 4 values each: the best expected
    damage the opponent's active does to it per turn, as a fraction of its max HP (capped at 1.5) and of
    its current HP (capped at 1: 1 = it is likely knocked out), with the opponent's revealed damaging
    moves, or, while none is revealed, a 100 %-accurate base-power-80 move of each of its types; the best
    expected damage it does to the opponent's active with its own moves, as a fraction of that one's max
    HP (capped at 1.5); it outspeeds (1 / 0 / 0.5 on a tie).
The block is all zeros where it has no meaning (no opponent active, fainted own active, empty or fainted
bench slot). Opponent stats are the OU max-investment estimate (`gen1.battle_stat`).

Encoding runs on every decision; `encode_battle` and `action_mask` compute both arrays once per request and
return the same (cached) arrays for the same battle, request object and turn. Treat them as read-only.

Action space (metamon's MinimalActionSpace): 0..3 = moves of the active Pokémon in the order of its
moveset in the server request (Struggle / Recharge, which are not in the moveset, use slot 0);
4..8 = switch to own bench slot 0..4 (team order without the active Pokémon).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable, Sequence

import numpy as np
from poke_env.battle.abstract_battle import AbstractBattle
from poke_env.battle.move import Move
from poke_env.battle.move_category import MoveCategory
from poke_env.battle.pokemon import Pokemon
from poke_env.battle.status import Status
from poke_env.data import GenData
from poke_env.player.battle_order import BattleOrder, SingleBattleOrder
from poke_env.player.player import Player

from pokepsro.gen1.mechanics import (
    TYPES,
    Combatant,
    MoveInfo,
    combatant,
    expected_hits,
    hit_damage,
    move_category,
    move_info,
    per_turn,
    stand_in_move,
    turn_damage,
    type_effectiveness,
)

FEATURE_VERSION = "gen1-v2"
NUM_MOVES = 4
NUM_SWITCHES = 5
NUM_ACTIONS = NUM_MOVES + NUM_SWITCHES
TEAM_SIZE = 6
SPECIAL_MOVE_SLOT = 0  # Struggle, Recharge and Fight are the only move choice and not in the moveset
_SPECIAL_MOVES = ("struggle", "recharge", "fight")  # "fight": Gen 1 choice while wrapped

_GEN1 = GenData.from_gen(1)
# Species one-hot: index = national dex number (1..151); 0 = anything else.
NUM_SPECIES = 152
_TYPE_INDEX = {pokemon_type: index for index, pokemon_type in enumerate(TYPES)}
_STATUSES = (Status.BRN, Status.FRZ, Status.PAR, Status.PSN, Status.SLP, Status.TOX)
_STATUS_IDS = ("brn", "frz", "par", "psn", "slp", "tox")
_BOOSTS = ("atk", "def", "spa", "spe", "accuracy", "evasion")  # Gen 1: spa == spd == Special
_BASE_STATS = ("hp", "atk", "def", "spa", "spe")
# Volatile effects poke-env tracks in Gen 1 (Light Screen parses as UNKNOWN and partial trapping sends no
# -start, so neither can be shown; being wrapped appears as the request's lone "Fight" choice instead).
_VOLATILES = ("CONFUSION", "SUBSTITUTE", "REFLECT", "LEECH_SEED", "DISABLE", "FOCUS_ENERGY", "MIST")
_CATEGORIES = (MoveCategory.PHYSICAL, MoveCategory.SPECIAL, MoveCategory.STATUS)

# Per-move block: dynamic part then the static descriptor of the move id.
_MOVE_DYNAMIC = 5  # known, pp fraction, immune, log2 effectiveness / 2, is the active's legal choice
_MOVE_SCALARS = 19  # the scalar descriptors listed in _static_move_features
_MOVE_STATIC = len(TYPES) + len(_CATEGORIES) + len(_STATUS_IDS) + _MOVE_SCALARS
MOVE_DIM = _MOVE_DYNAMIC + _MOVE_STATIC
POKEMON_DIM = (1 + NUM_SPECIES + len(TYPES) + len(_BASE_STATS) + 1 + len(_STATUSES) + 1 + 1 + 1
               + len(_BOOSTS) + len(_VOLATILES) + 2 + NUM_MOVES * MOVE_DIM)
GLOBAL_DIM = 9
# TACTICS block (see the module docstring): per move slot, then STAY and each switch slot.
MOVE_TACTICS = ("damage", "ko_chance", "moves_first")
MATCHUP_TACTICS = ("damage_taken", "taken_of_current_hp", "damage_dealt", "outspeeds")
TACTICS_DIM = NUM_MOVES * len(MOVE_TACTICS) + (1 + NUM_SWITCHES) * len(MATCHUP_TACTICS)
TACTICS_START = GLOBAL_DIM + 2 * TEAM_SIZE * POKEMON_DIM
STAY_TACTICS_START = TACTICS_START + NUM_MOVES * len(MOVE_TACTICS)
OBS_DIM = TACTICS_START + TACTICS_DIM
DAMAGE_CAP = 1.5  # damage as a fraction of max HP: 1.5 already means "far more than enough"
STAND_IN_BASE_POWER = 80  # an unrevealed STAB move of each of the opponent's types


def _static_move_features(move_id: str) -> np.ndarray:
    """What a move does, from the Gen 1 move data; zeros for ids without data (Recharge)."""
    features = np.zeros(_MOVE_STATIC, dtype=np.float32)
    if move_id not in _GEN1.moves:
        return features
    move = Move(move_id, gen=1)
    entry = move.entry
    at = 0
    if move.type in _TYPE_INDEX:
        features[at + _TYPE_INDEX[move.type]] = 1.0
    at += len(TYPES)
    features[at + _CATEGORIES.index(move_category(move))] = 1.0
    at += len(_CATEGORIES)
    for secondary in [{"chance": 100, "status": entry.get("status")}] + list(move.secondary):
        if secondary.get("status") in _STATUS_IDS:
            features[at + _STATUS_IDS.index(secondary["status"])] = secondary.get("chance", 100) / 100
    at += len(_STATUS_IDS)
    secondaries = list(move.secondary)
    self_effects = entry.get("self") or {}
    target_boosts = sum((entry.get("boosts") or {}).values()) if entry.get("target") != "self" else 0
    self_boosts = sum((entry.get("boosts") or {}).values()) if entry.get("target") == "self" else 0
    self_boosts += sum((self_effects.get("boosts") or {}).values())
    scalars = [
        min(move.base_power, 250) / 150,
        float(move.accuracy),
        entry.get("priority", 0),
        move.max_pp / 64,
        float(entry.get("volatileStatus") == "confusion")
        + sum(s.get("chance", 0) / 100 for s in secondaries if s.get("volatileStatus") == "confusion"),
        sum(s.get("chance", 0) / 100 for s in secondaries if s.get("volatileStatus") == "flinch"),
        sum(s.get("chance", 0) / 100 * sum((s.get("boosts") or {}).values()) / 2 for s in secondaries),
        move.heal,
        move.drain,
        move.recoil,
        float(entry.get("damage") is not None or move_id == "superfang"),
        float(bool(entry.get("ohko"))),
        float(self_effects.get("volatileStatus") == "mustrecharge" or "charge" in move.flags),
        self_boosts / 2,
        target_boosts / 2,
        float(entry.get("volatileStatus") == "partiallytrapped"),
        float(move.self_destruct is not None),
        float(move.crit_ratio >= 2),
        expected_hits(move) / 5,
    ]
    features[at:] = scalars
    return features


_STATIC_MOVES: dict[str, np.ndarray] = {move_id: _static_move_features(move_id) for move_id in _GEN1.moves}
_NO_STATIC = np.zeros(_MOVE_STATIC, dtype=np.float32)


def _species_index(pokemon: Pokemon) -> int:
    entry = _GEN1.pokedex.get(pokemon.species)
    number = entry["num"] if entry else 0
    return number if 0 < number < NUM_SPECIES else 0


# -- which Pokémon and moves sit in which slots --------------------------------------------------------------


def _request_side(battle: AbstractBattle) -> list[dict]:
    request = battle.last_request or {}
    return request.get("side", {}).get("pokemon", [])


def own_active(battle: AbstractBattle) -> Pokemon | None:
    """The request's active Pokémon (still the active one while a fainted Pokémon awaits its switch)."""
    for entry in _request_side(battle):
        if entry.get("active"):
            return battle.team.get(entry["ident"])
    return battle.active_pokemon


def own_bench(battle: AbstractBattle) -> list[Pokemon]:
    """Own non-active Pokémon in team order: switch action 4 + j targets bench[j]."""
    active = own_active(battle)
    return [pokemon for pokemon in battle.team.values() if pokemon is not active][:NUM_SWITCHES]


def _request_moves(battle: AbstractBattle) -> dict[str, list[str]]:
    """Each own Pokémon's moveset in server order (poke-env's move dicts can gain called moves)."""
    return {entry["ident"]: list(entry.get("moves", [])) for entry in _request_side(battle)}


def active_move_slots(battle: AbstractBattle) -> list[str]:
    """Move ids of the active Pokémon's moveset in server order (at most 4)."""
    active = own_active(battle)
    if active is None:
        return []
    for entry in _request_side(battle):
        if entry.get("active"):
            return list(entry.get("moves", []))[:NUM_MOVES]
    return list(active.moves)[:NUM_MOVES]


def _move_slot(move_id: str, slots: Sequence[str]) -> int | None:
    if move_id in slots:
        return slots.index(move_id)
    if move_id in _SPECIAL_MOVES:
        return SPECIAL_MOVE_SLOT
    return None


def _legal_moves(battle: AbstractBattle) -> dict[int, Move]:
    """Slot -> the Move poke-env lists as choosable this request."""
    if battle.force_switch or not battle.available_moves:
        return {}
    slots = active_move_slots(battle)
    legal: dict[int, Move] = {}
    for move in battle.available_moves:
        slot = _move_slot(move.id, slots)
        if slot is not None and slot not in legal:
            legal[slot] = move
    return legal


def _legal_switches(battle: AbstractBattle) -> dict[int, Pokemon]:
    available = {id(pokemon) for pokemon in battle.available_switches}
    return {NUM_MOVES + j: pokemon for j, pokemon in enumerate(own_bench(battle)) if id(pokemon) in available}


def action_mask(battle: AbstractBattle) -> np.ndarray:
    """bool [9]: which actions the current request allows (cached per request like `encode_battle`)."""
    return _encoded(battle)[1]


def action_to_order(battle: AbstractBattle, action: int) -> BattleOrder:
    """The order for a legal action; an illegal one is a bug in the caller (ValueError)."""
    target = {**_legal_moves(battle), **_legal_switches(battle)}.get(int(action))
    if target is None:
        raise ValueError(f"action {action} is not legal in {battle.battle_tag} "
                         f"(mask {action_mask(battle).astype(int).tolist()})")
    return Player.create_order(target)


def order_to_action(battle: AbstractBattle, order: BattleOrder) -> int | None:
    """The legal action an order corresponds to; None for default/forfeit/unmappable orders."""
    if not isinstance(order, SingleBattleOrder):
        return None
    if isinstance(order.order, Move):
        for action, move in _legal_moves(battle).items():
            if move.id == order.order.id:
                return action
    elif isinstance(order.order, Pokemon):
        for action, pokemon in _legal_switches(battle).items():
            if pokemon is order.order:
                return action
    return None


# -- the observation ------------------------------------------------------------------------------------------


# log2(multiplier) / 2 for the Gen 1 chart's products (math.log2 for anything else, the same value)
_HALF_LOG2 = {0.25: -1.0, 0.5: -0.5, 1.0: 0.0, 2.0: 0.5, 4.0: 1.0}


def _effectiveness_features(info: MoveInfo | None, defender_types: Sequence | None) -> tuple[float, float]:
    if info is None or defender_types is None or info.status_move:
        return 0.0, 0.0
    multiplier = type_effectiveness(info.type, defender_types)
    if multiplier == 0:
        return 1.0, 0.0
    half_log2 = _HALF_LOG2.get(multiplier)
    return 0.0, math.log2(multiplier) / 2 if half_log2 is None else half_log2


def _move_block(out: np.ndarray, move_id: str, move: Move | None, defender_types: Sequence | None,
                legal: bool) -> None:
    info = move_info(move) if move is not None else None
    immune, log_eff = _effectiveness_features(info, defender_types)
    pp_fraction = move.current_pp / info.max_pp if info is not None and info.max_pp else 1.0
    out[:_MOVE_DYNAMIC] = (1.0, pp_fraction, immune, log_eff, float(legal))
    out[_MOVE_DYNAMIC:] = _STATIC_MOVES.get(move_id, _NO_STATIC)


# A Pokémon block is its identity (revealed flag, species one-hot, types, base stats: fixed unless it transforms),
# its state (HP, status, boosts, volatiles...) and its move blocks. Identities are read once per combination.
_IDENTITY_DIM = 1 + NUM_SPECIES + len(TYPES) + len(_BASE_STATS)
_STATE_DIM = 1 + len(_STATUSES) + 3 + len(_BOOSTS) + len(_VOLATILES) + 2
_MOVES_START = _IDENTITY_DIM + _STATE_DIM
_COUNTERS_AT = 1 + len(_STATUSES)  # fainted, status counter, active
_BOOSTS_AT = _COUNTERS_AT + 3
_VOLATILE_SLOT = {name: _BOOSTS_AT + len(_BOOSTS) + i for i, name in enumerate(_VOLATILES)}
_IDENTITIES: dict[tuple, np.ndarray] = {}


def _identity(pokemon: Pokemon) -> np.ndarray:
    types, base_stats = tuple(pokemon.types), pokemon.base_stats
    key = (pokemon.species, types, *map(base_stats.get, _BASE_STATS))
    identity = _IDENTITIES.get(key)
    if identity is None:
        identity = np.zeros(_IDENTITY_DIM, dtype=np.float32)
        identity[0] = 1.0  # revealed
        identity[1 + _species_index(pokemon)] = 1.0
        for pokemon_type in types:
            if pokemon_type in _TYPE_INDEX:
                identity[1 + NUM_SPECIES + _TYPE_INDEX[pokemon_type]] = 1.0
        for offset, stat in enumerate(_BASE_STATS):
            identity[1 + NUM_SPECIES + len(TYPES) + offset] = base_stats.get(stat, 0) / 255
        _IDENTITIES[key] = identity
    return identity


def _state(pokemon: Pokemon) -> list[float]:
    state = [0.0] * _STATE_DIM
    state[0] = pokemon.current_hp_fraction
    status = pokemon.status
    if status in _STATUSES:
        state[1 + _STATUSES.index(status)] = 1.0
    state[_COUNTERS_AT] = float(status is Status.FNT)
    state[_COUNTERS_AT + 1] = min(pokemon.status_counter, 7) / 7
    state[_COUNTERS_AT + 2] = float(pokemon.active)
    boosts = pokemon.boosts
    for offset, stat in enumerate(_BOOSTS):
        state[_BOOSTS_AT + offset] = boosts.get(stat, 0) / 6
    for effect in pokemon.effects:
        slot = _VOLATILE_SLOT.get(effect.name)
        if slot is not None:
            state[slot] = 1.0
    state[-2] = float(pokemon.must_recharge)
    state[-1] = float(pokemon.transformed)
    return state


def _pokemon_block(out: np.ndarray, pokemon: Pokemon, move_ids: Sequence[str], defender_types: Sequence | None,
                   legal_move_ids: Iterable[str] = ()) -> None:
    out[:_IDENTITY_DIM] = _identity(pokemon)
    out[_IDENTITY_DIM:_MOVES_START] = _state(pokemon)
    moves = pokemon.moves
    for slot, move_id in enumerate(move_ids[:NUM_MOVES]):
        start = _MOVES_START + slot * MOVE_DIM
        _move_block(out[start:start + MOVE_DIM], move_id, moves.get(move_id), defender_types,
                    move_id in legal_move_ids)


def _opponent_order(battle: AbstractBattle) -> list[Pokemon]:
    opponents = list(battle.opponent_team.values())
    active = battle.opponent_active_pokemon
    if active is not None:
        opponents.remove(active)
        opponents.insert(0, active)
    return opponents[:TEAM_SIZE]


# Keyed by the battle object: (request object, turn, obs, mask) of the last request encoded.
_CACHE: weakref.WeakKeyDictionary[AbstractBattle, tuple[object, int, np.ndarray, np.ndarray]] = \
    weakref.WeakKeyDictionary()


def encode_battle(battle: AbstractBattle) -> np.ndarray:
    """float32 [OBS_DIM] view of the battle from this player's side (see the module docstring).

    Computed once per request: repeated calls for the same battle, request object and turn return the same
    array (the recorder and the neural player both encode every decision), so callers must not modify it.
    """
    return _encoded(battle)[0]


def _encoded(battle: AbstractBattle) -> tuple[np.ndarray, np.ndarray]:
    request, turn = battle.last_request, battle.turn
    cached = _CACHE.get(battle)
    if cached is not None and cached[0] is request and cached[1] == turn:
        return cached[2], cached[3]
    legal_moves = _legal_moves(battle)
    mask = np.zeros(NUM_ACTIONS, dtype=bool)
    for action in (*legal_moves, *_legal_switches(battle)):
        mask[action] = True
    obs = _observation(battle, legal_moves)
    _CACHE[battle] = (request, turn, obs, mask)
    return obs, mask


def _observation(battle: AbstractBattle, legal_moves: dict[int, Move]) -> np.ndarray:
    obs = np.zeros(OBS_DIM, dtype=np.float32)
    active = own_active(battle)
    opponent_active = battle.opponent_active_pokemon
    own_alive = sum(not pokemon.fainted for pokemon in battle.team.values())
    opponent_fainted = sum(pokemon.fainted for pokemon in battle.opponent_team.values())
    obs[:GLOBAL_DIM] = (
        min(battle.turn, 200) / 100,
        own_alive / TEAM_SIZE,
        (TEAM_SIZE - opponent_fainted) / TEAM_SIZE,
        len(battle.opponent_team) / TEAM_SIZE,
        float(battle.force_switch),
        float(battle.trapped or battle.maybe_trapped),
        float(not battle.available_moves),
        float(not battle.available_switches),
        float(any(move.id in _SPECIAL_MOVES for move in battle.available_moves)),
    )
    request_moves = _request_moves(battle)
    legal_move_ids = [move.id for move in legal_moves.values()]
    bench = own_bench(battle)
    own = ([active] if active is not None else []) + bench
    own_move_ids = [request_moves.get(_ident(battle, pokemon)) or list(pokemon.moves) for pokemon in own]
    opponent_types = opponent_active.types if opponent_active is not None else None
    active_types = active.types if active is not None else None
    at = GLOBAL_DIM
    for pokemon, move_ids in zip(own[:TEAM_SIZE], own_move_ids):
        _pokemon_block(obs[at:at + POKEMON_DIM], pokemon, move_ids, opponent_types,
                       legal_move_ids if pokemon is active else ())
        at += POKEMON_DIM
    at = GLOBAL_DIM + TEAM_SIZE * POKEMON_DIM
    for pokemon in _opponent_order(battle):
        _pokemon_block(obs[at:at + POKEMON_DIM], pokemon, list(pokemon.moves), active_types)
        at += POKEMON_DIM
    if active is None:
        _tactics(obs[TACTICS_START:], None, [], bench, own_move_ids, opponent_active, legal_moves)
    else:
        _tactics(obs[TACTICS_START:], active, own_move_ids[0], bench, own_move_ids[1:], opponent_active,
                 legal_moves)
    return obs


def _ident(battle: AbstractBattle, pokemon: Pokemon) -> str | None:
    for ident, candidate in battle.team.items():
        if candidate is pokemon:
            return ident
    return None


# -- TACTICS: the Gen 1 damage maths per action -----------------------------------------------------------------


def _moveset(pokemon: Pokemon, move_ids: Sequence[str]) -> list[MoveInfo]:
    moves = pokemon.moves
    return [move_info(moves[move_id]) for move_id in move_ids[:NUM_MOVES] if move_id in moves]


def _threats(opponent: Pokemon) -> list[MoveInfo]:
    """The opponent's revealed damaging moves, or a base-power-80 STAB stand-in per type while none is."""
    revealed = [move_info(move) for move in opponent.moves.values()]
    damaging = [info for info in revealed if not info.status_move]
    return damaging or [stand_in_move(pokemon_type, STAND_IN_BASE_POWER) for pokemon_type in opponent.types]


def _first(own_speed: float, opponent_speed: float) -> float:
    return 1.0 if own_speed > opponent_speed else 0.0 if own_speed < opponent_speed else 0.5


def _of_current(damage: float, hp: float) -> float:
    return min(damage / hp, 1.0) if hp > 0 else 1.0


def _matchup(out: np.ndarray, mon: Combatant, attacks: list[MoveInfo], foe: Combatant,
             threats: list[MoveInfo]) -> None:
    taken = max((turn_damage(threat, foe, mon) for threat in threats), default=0.0)
    dealt = max((turn_damage(attack, mon, foe) for attack in attacks), default=0.0)
    out[:len(MATCHUP_TACTICS)] = (min(taken / mon.max_hp, DAMAGE_CAP), _of_current(taken, mon.current_hp),
                                  min(dealt / foe.max_hp, DAMAGE_CAP), _first(mon.speed, foe.speed))


def _tactics(out: np.ndarray, active: Pokemon | None, active_move_ids: Sequence[str], bench: list[Pokemon],
             bench_move_ids: list[Sequence[str]], opponent: Pokemon | None, legal_moves: dict[int, Move]) -> None:
    """Fill the TACTICS block (`out` starts at it; left zero where it means nothing)."""
    if opponent is None or opponent.fainted:
        return
    foe = combatant(opponent)
    if foe.max_hp <= 0:
        return
    threats = _threats(opponent)
    width = len(MATCHUP_TACTICS)
    stay = NUM_MOVES * len(MOVE_TACTICS)
    if active is not None and not active.fainted:
        me = combatant(active)
        moves = active.moves
        for slot in range(NUM_MOVES):
            move = legal_moves.get(slot)
            if move is None and slot < len(active_move_ids):
                move = moves.get(active_move_ids[slot])
            if move is None:
                continue
            info = move_info(move)
            hit = hit_damage(info, me, foe)
            damage = per_turn(info, hit)
            first = 1.0 if info.priority > 0 else 0.0 if info.priority < 0 else _first(me.speed, foe.speed)
            ko = info.accuracy if hit >= foe.current_hp and hit > 0 else 0.0
            at = slot * len(MOVE_TACTICS)
            out[at:at + len(MOVE_TACTICS)] = (min(damage / foe.max_hp, DAMAGE_CAP), ko, first)
        _matchup(out[stay:stay + width], me, _moveset(active, active_move_ids), foe, threats)
    for j, (mon, move_ids) in enumerate(zip(bench[:NUM_SWITCHES], bench_move_ids)):
        if not mon.fainted:
            at = stay + (1 + j) * width
            _matchup(out[at:at + width], combatant(mon), _moveset(mon, move_ids), foe, threats)


# -- potential for reward shaping ----------------------------------------------------------------------------


def _is_statused(pokemon: Pokemon) -> bool:
    return pokemon.status is not None and pokemon.status is not Status.FNT


def _harm(team: dict[str, Pokemon]) -> float:
    """What a side has suffered: HP fractions lost + 1 per knock-out + 0.5 per statused Pokémon (metamon's
    DefaultShapedReward weights). A Pokémon not yet seen counts as unharmed, so no team size is needed."""
    return sum((1.0 - pokemon.current_hp_fraction) + pokemon.fainted + 0.5 * _is_statused(pokemon)
               for pokemon in team.values())


def potential(battle: AbstractBattle) -> float:
    """Φ(s), the shaping potential in reward units (victory = ±100): the opponent's harm minus ours.

    The learner is paid γΦ(s') − Φ(s) per decision (Ng, Harada & Russell 1999), with Φ = 0 after the last one,
    so shaping telescopes away and cannot change the optimal policy; a status cured and given again earns only
    Φ's difference, never twice.
    """
    return _harm(battle.opponent_team) - _harm(battle.team)

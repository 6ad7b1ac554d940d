"""Heuristic Gen 1 OU baselines: fixed, cheap policies that seed the PSRO population.

Every baseline is a poke-env ``Player`` chosen by name from ``BASELINES``; constructors take any
``Player`` keyword plus an optional ``seed`` for the player's own ``random.Random``, so a battle
runner can build them uniformly. In a battle whose seed the arena announced (``seed_battle``), every
draw comes from an RNG of that battle's own, so reruns reproduce however battles interleave. Orders are always drawn from
``battle.available_moves`` / ``battle.available_switches`` (or ``battle.valid_orders``), so no
illegal order is ever sent.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import poke_env.player.player as poke_env_player
from poke_env.battle.abstract_battle import AbstractBattle
from poke_env.battle.move import Move
from poke_env.battle.pokemon import Pokemon
from poke_env.battle.pokemon_type import PokemonType
from poke_env.player import Player, SimpleHeuristicsPlayer
from poke_env.player.battle_order import BattleOrder

from pokepsro.core.errors import UsageError
from pokepsro.core.seeding import PerBattleRngs
from pokepsro.gen1 import mechanics as gen1

T = TypeVar("T")
PRIORITY_TIEBREAK = 0.01  # among equally sure KOs, Quick Attack moves first


class SeededPlayer(Player):
    """A Player with its own RNGs, so seeding one player never disturbs another (or the global RNG).

    `self.rng` is, during a decision, the RNG of that decision's battle: made from the seed the arena
    announced for the battle (`seed_battle`), or the player's own `seed` for a battle with none.
    """

    def __init__(self, *args: Any, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.own_rng = random.Random(seed)
        self.rng = self.own_rng
        self.battle_rngs: PerBattleRngs[random.Random] = PerBattleRngs(random.Random)
        self.decision_errors = 0

    def seed_battle(self, battle_tag: str | None, seed: int) -> None:
        """The arena's seed for battle `battle_tag` (None: the next new battle)."""
        self.battle_rngs.assign(battle_tag, seed)

    def forget_battle_seed(self, battle_tag: str) -> None:
        self.battle_rngs.forget(battle_tag)

    def _battle_finished_callback(self, battle: AbstractBattle) -> None:
        super()._battle_finished_callback(battle)
        self.battle_rngs.forget(battle.battle_tag)

    def choose_random_order(self, battle: AbstractBattle) -> BattleOrder:
        """Uniform over the legal orders, like poke-env's RandomPlayer but seeded."""
        orders = battle.valid_orders
        return self.rng.choice(orders) if orders else self.choose_default_move()

    def best_by(self, items: Sequence[T], score: Callable[[T], float]) -> T:
        """Highest score, ties broken at random (a fixed tie-break would be exploitable)."""
        scores = [score(item) for item in items]
        best = max(scores)
        return self.rng.choice([item for item, value in zip(items, scores) if value == best])

    def choose_move(self, battle: AbstractBattle) -> BattleOrder:
        """Decide, but never let a heuristic bug stall a battle: log it and play a legal random order."""
        self.rng = self.battle_rngs.get(battle.battle_tag) or self.own_rng
        try:
            return self.decide(battle)
        except Exception:  # noqa: BLE001 - a stalled battle would hang the whole tournament
            self.decision_errors += 1
            self.logger.exception("baseline %s failed to decide; playing a random legal order",
                                  type(self).__name__)
            return self.choose_random_order(battle)

    def decide(self, battle: AbstractBattle) -> BattleOrder:
        raise NotImplementedError


class RandomBaseline(SeededPlayer):
    """poke-env RandomPlayer: a uniformly random legal order."""

    def decide(self, battle: AbstractBattle) -> BattleOrder:
        return self.choose_random_order(battle)


class MaxBasePowerBaseline(SeededPlayer):
    """poke-env MaxBasePowerPlayer: the available move with the highest base power."""

    def decide(self, battle: AbstractBattle) -> BattleOrder:
        if battle.available_moves:
            return self.create_order(self.best_by(battle.available_moves, lambda move: move.base_power))
        return self.choose_random_order(battle)


@contextlib.contextmanager
def poke_env_random(rng: random.Random) -> Iterator[None]:
    """poke-env's own random orders (`Player.choose_random_move`) draw from the module `random`: route them to
    `rng` while a decision runs. Decisions run one at a time in poke-env's loop thread, so nothing else sees it."""
    saved = poke_env_player.random
    poke_env_player.random = rng
    try:
        yield
    finally:
        poke_env_player.random = saved


class SimpleHeuristicsBaseline(SeededPlayer, SimpleHeuristicsPlayer):
    """poke-env SimpleHeuristicsPlayer unchanged (it treats Gen 1 physical/special by type already); its random
    fallback orders draw from the battle's RNG."""

    def decide(self, battle: AbstractBattle) -> BattleOrder:
        with poke_env_random(self.rng):
            return SimpleHeuristicsPlayer.choose_move(self, battle)


class Gen1Player(SeededPlayer):
    """Base of the Gen 1-specific baselines: refuses other formats instead of misplaying them."""

    def __init__(self, *args: Any, battle_format: str = "gen1ou", **kwargs: Any) -> None:
        if not battle_format.startswith("gen1"):
            raise UsageError(f"baseline {type(self).__name__} plays Gen 1 only, got battle format "
                             f"{battle_format!r}; use a gen1 format such as 'gen1ou'")
        super().__init__(*args, battle_format=battle_format, **kwargs)


def _moves_facing(battle: AbstractBattle) -> tuple[Pokemon, Pokemon] | None:
    """(own active, opponent active) when a move decision makes sense, else None."""
    active, opponent = battle.active_pokemon, battle.opponent_active_pokemon
    if battle.force_switch or not battle.available_moves or active is None or opponent is None:
        return None
    return active, opponent


class Gen1BossAI(Gen1Player):
    """The Gen 1 cartridge trainer AI: every move starts at 10, lower is better, random among the best.

    Status moves are encouraged against an unstatused target and strongly discouraged when they
    cannot work; damaging moves are encouraged when super-effective and discouraged when resisted
    (strongly when the target is immune); setup moves are encouraged on the first turn after
    switching in. It never switches by choice; when forced, it sends the first healthy slot.
    """

    BASE_SCORE = 10
    ENCOURAGE = -1
    DISCOURAGE = 1
    STRONGLY_DISCOURAGE = 5

    def decide(self, battle: AbstractBattle) -> BattleOrder:
        facing = _moves_facing(battle)
        if facing is None:
            if battle.available_switches:
                return self.create_order(battle.available_switches[0])
            return self.choose_random_order(battle)
        active, opponent = facing
        moves = battle.available_moves
        return self.create_order(self.best_by(moves, lambda move: -self.move_score(move, active, opponent)))

    def move_score(self, move: Move, active: Pokemon, opponent: Pokemon) -> int:
        score = self.BASE_SCORE
        if gen1.is_status_move(move):
            if move.status is not None:
                score += self.ENCOURAGE if gen1.can_inflict_status(move, opponent) else self.STRONGLY_DISCOURAGE
            if gen1.is_setup_move(move) and active.first_turn:
                score += self.ENCOURAGE
            return score
        effectiveness = gen1.type_effectiveness(move.type, opponent.types)
        if effectiveness == 0:
            score += self.STRONGLY_DISCOURAGE
        elif effectiveness > 1:
            score += self.ENCOURAGE
        elif effectiveness < 1:
            score += self.DISCOURAGE
        return score


def matchup_score(mon: Pokemon, opponent: Pokemon) -> float:
    """How well own `mon` fares against `opponent`: best type edge dealt minus taken, speed and HP.

    Own moves are all known; the opponent threatens with its revealed moves and its own types
    (Gen 1 movesets almost always carry STAB).
    """
    own_attacks = _damaging_move_types(mon) or set(mon.types)
    opponent_attacks = _damaging_move_types(opponent) | set(opponent.types)
    offense = max(gen1.type_effectiveness(move_type, opponent.types) for move_type in own_attacks)
    defense = max(gen1.type_effectiveness(move_type, mon.types) for move_type in opponent_attacks)
    speed_gap = mon.base_stats["spe"] - opponent.base_stats["spe"]
    speed = 0.1 if speed_gap > 0 else -0.1 if speed_gap < 0 else 0.0
    health = 0.4 * (mon.current_hp_fraction - opponent.current_hp_fraction)
    return offense - defense + speed + health


def _damaging_move_types(pokemon: Pokemon) -> set[PokemonType]:
    return {move.type for move in pokemon.moves.values()
            if not gen1.is_status_move(move) and move.base_power > 0}


class GymLeader(Gen1Player):
    """"Grunt" core (highest expected damage; forced switch to the best type matchup) plus
    KO detection, emergency switches out of very bad matchups, setup when healthy and healing when low.
    Unlike a pure damage maximiser it keeps Explosion/Self-Destruct for when the user is nearly spent.
    """

    EMERGENCY_MATCHUP = -1.5
    EMERGENCY_MARGIN = 1.5
    SETUP_ABOVE_HP = 0.9
    SETUP_CHANCE = 0.5
    HEAL_BELOW_HP = 1 / 3
    HEAL_CHANCE = 0.75
    SACRIFICE_BELOW_HP = 1 / 3
    LIKELY_KO = 0.85

    def decide(self, battle: AbstractBattle) -> BattleOrder:
        facing = _moves_facing(battle)
        if facing is None:
            switch = self.best_switch(battle)
            return self.create_order(switch) if switch else self.choose_random_order(battle)
        active, opponent = facing
        moves = battle.available_moves
        me, foe = gen1.combatant(active), gen1.combatant(opponent)  # read once: every estimate below uses them
        return self.create_order(
            self.ko_move(moves, me, foe)
            or self.emergency_switch(battle, active, opponent)
            or self.heal_move(moves, active)
            or self.setup_move(moves, active)
            or self.best_damage_move(moves, active, opponent, me, foe)
        )

    def best_switch(self, battle: AbstractBattle) -> Pokemon | None:
        switches = battle.available_switches
        opponent = battle.opponent_active_pokemon
        if not switches:
            return None
        if opponent is None:
            return self.rng.choice(switches)
        return self.best_by(switches, lambda mon: matchup_score(mon, opponent))

    def ko_move(self, moves: list[Move], me: gen1.Combatant, foe: gen1.Combatant) -> Move | None:
        chances = {move: gen1.hit_ko_chance(gen1.move_info(move), me, foe) for move in moves}
        likely = [move for move in moves if chances[move] >= self.LIKELY_KO]
        if not likely:
            return None
        return self.best_by(likely, lambda move: chances[move] + PRIORITY_TIEBREAK * move.entry.get("priority", 0)
                            - gen1.is_self_destruct(move))  # a KO that costs our own Pokémon comes last

    def emergency_switch(self, battle: AbstractBattle, active: Pokemon, opponent: Pokemon) -> Pokemon | None:
        current = matchup_score(active, opponent)
        if current > self.EMERGENCY_MATCHUP or not battle.available_switches:
            return None
        candidate = self.best_switch(battle)
        if candidate is not None and matchup_score(candidate, opponent) >= current + self.EMERGENCY_MARGIN:
            return candidate
        return None

    def heal_move(self, moves: list[Move], active: Pokemon) -> Move | None:
        healing = [move for move in moves if gen1.is_healing_move(move)]
        if healing and active.current_hp_fraction < self.HEAL_BELOW_HP and self.rng.random() < self.HEAL_CHANCE:
            return self.rng.choice(healing)
        return None

    def setup_move(self, moves: list[Move], active: Pokemon) -> Move | None:
        setup = [move for move in moves if gen1.is_setup_move(move) and gen1.setup_has_room(move, active)]
        if setup and active.current_hp_fraction > self.SETUP_ABOVE_HP and self.rng.random() < self.SETUP_CHANCE:
            return self.rng.choice(setup)
        return None

    def best_damage_move(self, moves: list[Move], active: Pokemon, opponent: Pokemon, me: gen1.Combatant,
                         foe: gen1.Combatant) -> Move:
        """Highest expected damage; Explosion/Self-Destruct only once the user has little left to lose."""
        if active.current_hp_fraction >= self.SACRIFICE_BELOW_HP:
            moves = [move for move in moves if not gen1.is_self_destruct(move)] or moves
        damage = {move: gen1.turn_damage(gen1.move_info(move), me, foe) for move in moves}
        if max(damage.values()) > 0:
            return self.best_by(moves, damage.__getitem__)
        useful_status = [move for move in moves if gen1.can_inflict_status(move, opponent)]
        return self.rng.choice(useful_status or moves)


BASELINES: dict[str, type[Player]] = {
    "random": RandomBaseline,
    "max_base_power": MaxBasePowerBaseline,
    "simple_heuristics": SimpleHeuristicsBaseline,
    "gen1_boss_ai": Gen1BossAI,
    "gym_leader": GymLeader,
}


def baseline_class(name: str) -> type[Player]:
    """Look a baseline up by name, with a message that lists the valid names (the one place that does)."""
    try:
        return BASELINES[name]
    except KeyError:
        raise UsageError(f"unknown baseline {name!r}; choose one of {', '.join(BASELINES)}") from None

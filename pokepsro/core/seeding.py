"""Deterministic seeds derived from a run seed and names, stable across processes (unlike `hash`).

Players draw their own random numbers (tie-breaks, sampled actions) from an RNG derived from the battle's
seed and their side, handed to them by the arena before the battle starts (`announce_battle_seed`), so a
rerun reproduces every battle whatever order battles interleave in, on one worker process or many.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, Generic, TypeVar

R = TypeVar("R")


def derive_seed(seed: int, *parts: object) -> int:
    """A 31-bit seed that depends only on `seed` and `parts`, so reruns reproduce each matchup exactly."""
    digest = hashlib.sha256(repr((int(seed),) + tuple(str(p) for p in parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def player_seed(battle_seed: int, side: str) -> int:
    """The seed of one side's ("a" or "b") own random draws in the battle seeded `battle_seed`."""
    return derive_seed(battle_seed, "player", side)


def announce_battle_seed(player: Any, battle_tag: str | None, seed: int) -> None:
    """Tell a player the seed of battle `battle_tag`, or of its next new battle when the tag is not known yet
    (a server lane learns it only after the challenge). Players without `seed_battle` ignore it."""
    hook = getattr(player, "seed_battle", None)
    if hook is not None:
        hook(battle_tag, seed)


def forget_battle_seed(player: Any, battle_tag: str) -> None:
    """The battle is over (or dropped): the player may drop its RNG."""
    hook = getattr(player, "forget_battle_seed", None)
    if hook is not None:
        hook(battle_tag)


class PerBattleRngs(Generic[R]):
    """A player's RNGs keyed by battle tag, each made from the seed the arena announced for that battle.

    A battle with no announced seed (a player used outside the arena) gets None: the player then falls back
    on its own RNG.
    """

    def __init__(self, make: Callable[[int], R]) -> None:
        self._make = make
        self._seeds: dict[str, int] = {}
        self._rngs: dict[str, R] = {}
        self._next_seed: int | None = None

    def assign(self, battle_tag: str | None, seed: int) -> None:
        if battle_tag is None:
            self._next_seed = seed
        else:
            self._seeds[battle_tag] = seed
            self._rngs.pop(battle_tag, None)  # a replayed battle starts its draws afresh

    def get(self, battle_tag: str) -> R | None:
        if battle_tag not in self._rngs:
            if battle_tag not in self._seeds and self._next_seed is not None:
                self._seeds[battle_tag], self._next_seed = self._next_seed, None
            if battle_tag not in self._seeds:
                return None
            self._rngs[battle_tag] = self._make(self._seeds[battle_tag])
        return self._rngs[battle_tag]

    def forget(self, battle_tag: str) -> None:
        self._seeds.pop(battle_tag, None)
        self._rngs.pop(battle_tag, None)

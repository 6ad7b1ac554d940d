"""Record what any poke-env Player decides, as trajectory shards for offline training.

`make_recording(PlayerClass)` gives a subclass whose every decision is stored (observation, legal
mask, the action its order maps to, the behaviour log-prob when the player has one) together with the
shaping potential Φ of the state it decided in. The reward itself is only the outcome's ±100 on the last
step: the trainers add the shaping γΦ(s') − Φ(s) with their own γ (`trajectories.shaped_rewards`).
`TrajectoryWriter.on_battle_end` is the arena's battle-end callback: it takes the finished battle's steps,
adds the outcome the arena recorded and writes one shard per recorded side.
"""

from __future__ import annotations

import inspect
import logging
import math
import os
import weakref
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from poke_env.battle.abstract_battle import AbstractBattle
from poke_env.player.battle_order import BattleOrder
from poke_env.player.player import Player

from pokepsro.core.errors import UsageError
from pokepsro.learning.features import (
    FEATURE_VERSION,
    OBS_DIM,
    action_mask,
    encode_battle,
    order_to_action,
    potential,
)
from pokepsro.learning.trajectories import write_shard

if TYPE_CHECKING:
    from pokepsro.battles.spec import BattleSpec

LOGGER = logging.getLogger(__name__)
SIDES = {"a": ("a",), "b": ("b",), "both": ("a", "b")}
OUTCOME_SIGN = {"win": 1, "loss": -1, "tie": 0}
OTHER_OUTCOME = {"win": "loss", "loss": "win", "tie": "tie"}
VICTORY_REWARD = 100.0  # the scale metamon's shaped reward used; `reward_scale` brings returns near ±1


@dataclass(frozen=True)
class DecisionState:
    """What is recorded of the state a decision was taken in, read before the player chooses (an awaited choice
    must not see a battle that moved on)."""

    obs: np.ndarray
    mask: np.ndarray
    potential: float

    @classmethod
    def of(cls, battle: AbstractBattle) -> DecisionState:
        return cls(obs=encode_battle(battle), mask=action_mask(battle), potential=potential(battle))


@dataclass
class BattleTrajectory:
    """One side's recorded decisions in one battle."""

    obs: list[np.ndarray] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)
    actions: list[int] = field(default_factory=list)
    logps: list[float] = field(default_factory=list)
    potentials: list[float] = field(default_factory=list)
    unrecorded_steps: int = 0

    def add_step(self, state: DecisionState, action: int, logp: float) -> None:
        self.obs.append(state.obs)
        self.masks.append(state.mask)
        self.potentials.append(state.potential)
        self.actions.append(action)
        self.logps.append(logp)


# Keyed by the battle object itself: the arena hands the same objects to the battle-end callback.
_TRAJECTORIES: weakref.WeakKeyDictionary[AbstractBattle, BattleTrajectory] = weakref.WeakKeyDictionary()


def pop_trajectory(battle: AbstractBattle) -> BattleTrajectory | None:
    """The recorded steps of `battle` (None if no recording player played it); forgets them."""
    return _TRAJECTORIES.pop(battle, None)


class RecordingMixin:
    """Put before a Player class: records each decision of the wrapped `choose_move`."""

    def choose_move(self, battle: AbstractBattle) -> BattleOrder | Awaitable[BattleOrder]:
        trajectory = _TRAJECTORIES.setdefault(battle, BattleTrajectory())
        state = DecisionState.of(battle)
        choice = super().choose_move(battle)
        if inspect.isawaitable(choice):
            return self._record_when_chosen(battle, trajectory, state, choice)
        self._record(battle, trajectory, state, choice)
        return choice

    async def _record_when_chosen(self, battle: AbstractBattle, trajectory: BattleTrajectory, state: DecisionState,
                                  choice: Awaitable[BattleOrder]) -> BattleOrder:
        order = await choice
        self._record(battle, trajectory, state, order)
        return order

    def _record(self, battle: AbstractBattle, trajectory: BattleTrajectory, state: DecisionState,
                order: BattleOrder) -> None:
        action = order_to_action(battle, order)
        if action is None:  # default / forfeit / an order outside the action space
            trajectory.unrecorded_steps += 1
            return
        behaviour_logp = getattr(self, "behaviour_logp", None)
        logp = behaviour_logp(battle) if behaviour_logp is not None else math.nan
        trajectory.add_step(state, action, logp)


_RECORDING_CLASSES: dict[type, type] = {}


def make_recording(player_cls: type[Player]) -> type[Player]:
    """`player_cls` with every decision recorded (the same subclass for repeated calls)."""
    if not (isinstance(player_cls, type) and issubclass(player_cls, Player)):
        raise UsageError(f"make_recording needs a poke-env Player class, got {player_cls!r}")
    if player_cls not in _RECORDING_CLASSES:
        _RECORDING_CLASSES[player_cls] = type(f"Recording{player_cls.__name__}", (RecordingMixin, player_cls), {})
    return _RECORDING_CLASSES[player_cls]


class TrajectoryWriter:
    """Arena battle-end callback writing `<battle_id>__<side>.npz` shards for the recorded sides.

    `battle_id` is `battle<spec index>`, not Showdown's room tag: the index is unique within a run and
    stable when a battle is replayed after a restart or resume (its shard is then simply rewritten),
    while room tags restart from 1 with every server. The room tag is kept in the meta.
    """

    def __init__(self, out_dir: str | os.PathLike, sides: str = "both", format: str = "gen1ou") -> None:
        if sides not in SIDES:
            raise UsageError(f"sides must be one of {', '.join(SIDES)}, got {sides!r}")
        self.out_dir = Path(out_dir)
        self.sides = SIDES[sides]
        self.format = format
        self.shards_written = 0
        self.missing_recordings = 0  # a side asked for whose player was not a recording player
        self.unrecorded_steps = 0

    def on_battle_end(self, spec: BattleSpec, battle_a: AbstractBattle, battle_b: AbstractBattle, record: dict) -> None:
        battles = {"a": battle_a, "b": battle_b}
        for side in ("a", "b"):
            trajectory = pop_trajectory(battles[side])  # always popped, so unrecorded sides don't linger
            if side not in self.sides:
                continue
            if trajectory is None or not trajectory.actions:
                self.missing_recordings += 1
                LOGGER.warning("battle %s: side %s has no recorded decisions; no shard written",
                               spec.index, side)
                continue
            self.unrecorded_steps += trajectory.unrecorded_steps
            self._write(spec, side, trajectory, record)

    def _write(self, spec: BattleSpec, side: str, trajectory: BattleTrajectory, record: dict) -> Path:
        arrays = finished_arrays(side, trajectory, record)
        battle_id = f"battle{spec.index:06d}"
        policy, opponent = (spec.policy_a, spec.policy_b) if side == "a" else (spec.policy_b, spec.policy_a)
        team = spec.team_a if side == "a" else spec.team_b
        meta = {"battle_id": battle_id, "policy": policy, "opponent": opponent,
                "outcome": side_outcome(side, record), "feature_version": FEATURE_VERSION, "obs_dim": OBS_DIM,
                "format": self.format, "team": team.id, "seed": spec.seed, "side": side,
                "showdown_battle": record.get("battle_id"), "end": record.get("end"),
                "unrecorded_steps": trajectory.unrecorded_steps}
        path = write_shard(self.out_dir / f"{battle_id}__{side}.npz", **arrays, meta=meta)
        self.shards_written += 1
        return path


def side_outcome(side: str, record: dict) -> str:
    return record["result_a"] if side == "a" else OTHER_OUTCOME[record["result_a"]]


def finished_arrays(side: str, trajectory: BattleTrajectory, record: dict) -> dict[str, np.ndarray]:
    """One side's finished battle as shard arrays: the sparse reward is the outcome the arena recorded (its limits
    make ties the battle itself never saw) on the last step, which is marked done."""
    steps = len(trajectory.actions)
    reward = np.zeros(steps, dtype=np.float32)
    reward[-1] = VICTORY_REWARD * OUTCOME_SIGN[side_outcome(side, record)]
    done = np.zeros(steps, dtype=bool)
    done[-1] = True
    return {"obs": np.stack(trajectory.obs), "action": np.asarray(trajectory.actions, dtype=np.int64),
            "mask": np.stack(trajectory.masks), "reward": reward,
            "potential": np.asarray(trajectory.potentials, dtype=np.float32), "done": done,
            "logp": np.asarray(trajectory.logps, dtype=np.float32)}

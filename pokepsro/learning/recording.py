"""Record what any poke-env Player decides, as trajectory shards for offline training.

`make_recording(PlayerClass)` gives a subclass whose every decision is stored on the player, per battle
(observation, legal mask, the action its order maps to, the behaviour log-prob when the player has one), together
with the shaping potential Φ of the state it decided in. A battle-end callback takes them from the player
(`take_trajectory`) and makes them the battle's `trajectories.Steps`, whose reward is only the outcome the arena
recorded, ±100 on the last step: the trainers add the shaping γΦ(s') − Φ(s) with their own γ
(`trajectories.shaped_rewards`).
`TrajectoryWriter.on_battle_end` is such a callback: it writes one shard per recorded side.
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
from typing import TYPE_CHECKING, Any

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
from pokepsro.learning.trajectories import Steps, write_shard

if TYPE_CHECKING:
    from pokepsro.battles.backend import FinishedSide
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
    """One side's recorded decisions in one battle: (state, action, behaviour log-prob) each."""

    decisions: list[tuple[DecisionState, int, float]] = field(default_factory=list)
    unrecorded_steps: int = 0

    def steps(self, outcome: str) -> Steps:
        """The finished battle's steps: the sparse reward of `outcome` on the last step, which is marked done."""
        states, actions, logps = zip(*self.decisions)
        reward = np.zeros(len(actions), dtype=np.float32)
        reward[-1] = VICTORY_REWARD * OUTCOME_SIGN[outcome]
        done = np.zeros(len(actions), dtype=bool)
        done[-1] = True
        return Steps(obs=np.stack([state.obs for state in states]), action=np.asarray(actions, dtype=np.int64),
                     mask=np.stack([state.mask for state in states]), reward=reward,
                     potential=np.asarray([state.potential for state in states], dtype=np.float32), done=done,
                     logp=np.asarray(logps, dtype=np.float32))


class RecordingMixin:
    """Put before a Player class: records each decision of the wrapped `choose_move` in `trajectories`, until a
    battle-end callback takes them (`take_trajectory`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Keyed by the battle object the arena hands to the battle-end callback: a battle dropped unfinished (retried,
        # crashed) takes its entry with it.
        self.trajectories: weakref.WeakKeyDictionary[AbstractBattle, BattleTrajectory] = weakref.WeakKeyDictionary()

    def choose_move(self, battle: AbstractBattle) -> BattleOrder | Awaitable[BattleOrder]:
        trajectory = self.trajectories.setdefault(battle, BattleTrajectory())
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
        trajectory.decisions.append((state, action, logp))


def take_trajectory(side: FinishedSide) -> BattleTrajectory | None:
    """What `side.player` recorded of `side.battle` (None: no recording player, or no decision), handed over once."""
    if not isinstance(side.player, RecordingMixin):
        return None
    trajectory = side.player.trajectories.pop(side.battle, None)
    return trajectory if trajectory is not None and trajectory.decisions else None


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

    def on_battle_end(self, spec: BattleSpec, side_a: FinishedSide, side_b: FinishedSide, record: dict) -> None:
        for side, finished in (("a", side_a), ("b", side_b)):
            trajectory = take_trajectory(finished)  # always taken, so unrecorded sides don't linger
            if side not in self.sides:
                continue
            if trajectory is None:
                self.missing_recordings += 1
                LOGGER.warning("battle %s: side %s has no recorded decisions; no shard written",
                               spec.index, side)
                continue
            self.unrecorded_steps += trajectory.unrecorded_steps
            self._write(spec, side, trajectory, record)

    def _write(self, spec: BattleSpec, side: str, trajectory: BattleTrajectory, record: dict) -> Path:
        battle_id = f"battle{spec.index:06d}"
        policy, opponent = (spec.policy_a, spec.policy_b) if side == "a" else (spec.policy_b, spec.policy_a)
        team = spec.team_a if side == "a" else spec.team_b
        outcome = side_outcome(side, record)
        meta = {"battle_id": battle_id, "policy": policy, "opponent": opponent,
                "outcome": outcome, "feature_version": FEATURE_VERSION, "obs_dim": OBS_DIM,
                "format": self.format, "team": team.id, "seed": spec.seed, "side": side,
                "showdown_battle": record.get("battle_id"), "end": record.get("end"),
                "unrecorded_steps": trajectory.unrecorded_steps}
        path = write_shard(self.out_dir / f"{battle_id}__{side}.npz", trajectory.steps(outcome), meta=meta)
        self.shards_written += 1
        return path


def side_outcome(side: str, record: dict) -> str:
    """Side `side`'s outcome as the arena recorded it (its limits make ties the battle itself never saw)."""
    return record["result_a"] if side == "a" else OTHER_OUTCOME[record["result_a"]]

"""A poke-env Player driven by a trained checkpoint, batching decisions across all concurrent battles.

The battle runner plays many battles at once in poke-env's single event loop, often with one Player
per lane. One forward pass per decision would waste the GPU (and, on CPU, Python overhead), so all
NeuralPlayers using the same checkpoint on the same device share one `BatchedPolicy`: each decision
parks a future; the batch runs as soon as every live battle of that policy is waiting on it, or a
tiny delay after the first decision arrived, so a lone battle is never stalled for long. Every forward pass
has the same size (`acting_logits`), so a decision's logits do not depend on which others shared its batch.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections import Counter
from collections.abc import Awaitable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from poke_env.battle.abstract_battle import AbstractBattle
from poke_env.player.battle_order import BattleOrder
from poke_env.player.player import Player

from pokepsro.core.seeding import PerBattleRngs
from pokepsro.learning.features import (
    FEATURE_VERSION,
    OBS_DIM,
    action_mask,
    action_to_order,
    encode_battle,
)
from pokepsro.learning.model import ActorCritic, load_checkpoint, pick_device, policy_act

FLUSH_DELAY_S = 0.0015


@dataclass
class _PendingDecision:
    obs: np.ndarray
    mask: np.ndarray
    temperature: float
    greedy: bool
    future: asyncio.Future
    generator: torch.Generator | None = None


def seeded_generator(seed: int) -> torch.Generator:
    """A CPU generator for one battle's sampled actions."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


class BatchedPolicy:
    """One model; decisions of every battle on the event loop are answered in shared forward passes.

    The forward pass is shared, the sampling is not: a decision that brings its battle's own generator
    (`decide(..., generator=...)`; NeuralPlayer passes the one seeded from the battle's seed) samples its
    action from that generator alone, so a battle's actions do not depend on which other decisions shared its
    batch. Decisions without one sample from the policy's own generator (seeded by `seed`, else by the OS).
    """

    def __init__(self, model: ActorCritic, seed: int | None = None,
                 flush_delay_s: float = FLUSH_DELAY_S) -> None:
        self.model = model.eval()
        self.flush_delay_s = flush_delay_s
        self.generator = torch.Generator()
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(seed)
        self.batch_sizes: Counter[int] = Counter()  # forward passes by number of decisions in them
        self._pending: list[_PendingDecision] = []
        self._live_battles: set[Hashable] = set()
        self._flush_handle: asyncio.TimerHandle | None = None

    def battle_started(self, key: Hashable) -> None:
        self._live_battles.add(key)

    def battle_finished(self, key: Hashable) -> None:
        self._live_battles.discard(key)
        if self._pending and len(self._pending) >= len(self._live_battles):
            self._flush()

    def decide(self, obs: np.ndarray, mask: np.ndarray, temperature: float, greedy: bool,
               generator: torch.Generator | None = None) -> Awaitable[tuple[int, float]]:
        """Future (action, behaviour log-prob), sampled with `generator` (the battle's own) when given;
        must be called from the event loop thread."""
        loop = asyncio.get_running_loop()
        decision = _PendingDecision(obs, mask, temperature, greedy, loop.create_future(), generator)
        self._pending.append(decision)
        if len(self._pending) >= len(self._live_battles):
            self._flush()
        elif self._flush_handle is None:
            self._flush_handle = loop.call_later(self.flush_delay_s, self._flush)
        return decision.future

    def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        batch, self._pending = self._pending, []
        if not batch:
            return
        self.batch_sizes[len(batch)] += 1
        groups: dict[tuple[float, bool], list[_PendingDecision]] = {}
        for decision in batch:
            groups.setdefault((decision.temperature, decision.greedy), []).append(decision)
        try:
            for (temperature, greedy), group in groups.items():
                actions, logps = self.act(np.stack([d.obs for d in group]), np.stack([d.mask for d in group]),
                                          temperature, greedy, generators=[d.generator for d in group])
                for decision, action, logp in zip(group, actions, logps, strict=True):
                    if not decision.future.done():
                        decision.future.set_result((action, logp))
        except Exception as error:  # noqa: BLE001 - every waiting battle must hear about it
            for decision in batch:
                if not decision.future.done():
                    decision.future.set_exception(error)

    def act(self, obs: np.ndarray, mask: np.ndarray, temperature: float, greedy: bool,
            generators: Sequence[torch.Generator | None] | None = None) -> tuple[list[int], list[float]]:
        """One forward pass over a batch (also the unbatched path, with a batch of one).

        With `generators` (one per row; None: the policy's own), each row's action is drawn from its row of
        the batch's probabilities with that row's generator.
        """
        with torch.inference_mode():
            actions, logps = policy_act(self.model, obs, mask, temperature=temperature, greedy=greedy,
                                        generator=self.generator, row_generators=generators)
        return actions.tolist(), logps.tolist()


_SHARED_POLICIES: dict[tuple[str, int, int, str], BatchedPolicy] = {}


def shared_policy(checkpoint: str | os.PathLike, device: str | torch.device | None = None,
                  seed: int | None = None) -> BatchedPolicy:
    """The process-wide policy for (checkpoint file version, device); loaded once, feature version checked."""
    path = Path(checkpoint).resolve()
    resolved_device = torch.device(device) if device is not None else pick_device()
    stat = path.stat() if path.is_file() else None
    key = (str(path), stat.st_mtime_ns if stat else 0, stat.st_size if stat else 0, str(resolved_device))
    if key not in _SHARED_POLICIES:
        loaded = load_checkpoint(path, map_location=resolved_device, expected_feature_version=FEATURE_VERSION,
                                 expected_obs_dim=OBS_DIM)
        _SHARED_POLICIES[key] = BatchedPolicy(loaded.model, seed=seed)
    return _SHARED_POLICIES[key]


class NeuralPlayer(Player):
    """Plays a checkpoint: sampled at `temperature`, or the most likely legal action when `greedy`.

    `batched=False` runs one forward pass per decision (the baseline the batching is measured against).
    An online learner passes its own `policy` (whose weights it updates between rounds) instead of a checkpoint.
    Sampled actions of a battle whose seed the arena announced (`seed_battle`) come from a generator of that
    battle's own, so they do not depend on how battles interleave or are batched.
    """

    def __init__(self, *args: Any, checkpoint: str | os.PathLike | None = None, temperature: float = 1.0,
                 greedy: bool = False, device: str | torch.device | None = None, seed: int | None = None,
                 batched: bool = True, policy: BatchedPolicy | None = None, **player_kwargs: Any) -> None:
        if not greedy and not temperature > 0:
            raise ValueError(f"temperature must be > 0 when sampling, got {temperature}")
        if (checkpoint is None) == (policy is None):
            raise ValueError("give a NeuralPlayer either a checkpoint or a policy")
        super().__init__(*args, **player_kwargs)
        self.policy = policy if policy is not None else shared_policy(checkpoint, device, seed)
        self.temperature = float(temperature)
        self.greedy = greedy
        self.batched = batched
        self._last_logp: dict[str, float] = {}
        self.battle_generators: PerBattleRngs[torch.Generator] = PerBattleRngs(seeded_generator)

    def seed_battle(self, battle_tag: str | None, seed: int) -> None:
        """The arena's seed for battle `battle_tag` (None: the next new battle)."""
        self.battle_generators.assign(battle_tag, seed)

    def forget_battle_seed(self, battle_tag: str) -> None:
        self.battle_generators.forget(battle_tag)

    def choose_move(self, battle: AbstractBattle) -> BattleOrder | Awaitable[BattleOrder]:
        mask = action_mask(battle)
        if not mask.any():  # nothing legal to choose (should not happen): let the server pick
            self._last_logp[battle.battle_tag] = math.nan
            return self.choose_default_move()
        obs = encode_battle(battle)
        generator = self.battle_generators.get(battle.battle_tag)
        if not self.batched:
            actions, logps = self.policy.act(obs[None], mask[None], self.temperature, self.greedy,
                                             generators=[generator])
            return self._order(battle, actions[0], logps[0])
        self.policy.battle_started(self._battle_key(battle))
        return self._batched_order(battle, obs, mask, generator)

    async def _batched_order(self, battle: AbstractBattle, obs: np.ndarray, mask: np.ndarray,
                             generator: torch.Generator | None) -> BattleOrder:
        action, logp = await self.policy.decide(obs, mask, self.temperature, self.greedy, generator=generator)
        return self._order(battle, action, logp)

    def _order(self, battle: AbstractBattle, action: int, logp: float) -> BattleOrder:
        self._last_logp[battle.battle_tag] = logp
        return action_to_order(battle, action)

    def behaviour_logp(self, battle: AbstractBattle) -> float:
        """Log-probability of the action last chosen in `battle` (0 when greedy); read by the recorder."""
        return self._last_logp.get(battle.battle_tag, math.nan)

    def _battle_key(self, battle: AbstractBattle) -> Hashable:
        return (id(self), battle.battle_tag)

    def _battle_finished_callback(self, battle: AbstractBattle) -> None:
        super()._battle_finished_callback(battle)
        self.policy.battle_finished(self._battle_key(battle))
        self._last_logp.pop(battle.battle_tag, None)
        self.battle_generators.forget(battle.battle_tag)

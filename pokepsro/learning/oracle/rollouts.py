"""Where the PPO learner plays its rounds: in this process, or over worker processes that each hold a copy of the
learner (its weights sent every round) and a simulator that stays up for the whole run.

Side A of a battle is the learner: `settings.learner` samples and records its decisions, `greedy_key(learner)`
plays greedily and records nothing (the greedy evaluation points, measured as every result is).
Either way `play(model, specs)` returns the round's records and the learner's finished decisions by battle index,
so the round's data does not depend on how battles were spread (each battle's draws come from its own seed).
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection, wait
from typing import Any

import numpy as np
import torch

from pokepsro.battles.spec import BattleSpec
from pokepsro.learning.recording import finished_arrays, make_recording, pop_trajectory

Episodes = dict[int, dict[str, np.ndarray]]


@dataclass(frozen=True)
class RolloutSettings:
    """What a rollout worker needs to rebuild the learner and its opponents (all picklable)."""

    learner: str
    temperature: float  # the learner samples at this temperature (PPO's behaviour policy)
    opponents: dict[str, Any]  # name -> picklable player factory
    model_config: dict
    obs_dim: int
    battle_format: str
    concurrency: int
    max_turns: int
    battle_timeout_s: float


def greedy_key(learner: str) -> str:
    """Side A's name when the learner plays greedily, unrecorded: the learner's name marked, never an opponent's."""
    return learner + "#greedy"


class LearnerEpisodes:
    """Battle-end callback keeping side A's finished decisions in memory, by battle index."""

    def __init__(self, tick=None) -> None:
        self.episodes: Episodes = {}
        self.tick = tick

    def __call__(self, spec, battle_a, battle_b, record: dict) -> None:
        trajectory = pop_trajectory(battle_a)
        pop_trajectory(battle_b)  # the opponents do not record, but never let a trajectory linger
        if trajectory is not None and trajectory.actions:
            self.episodes[spec.index] = finished_arrays("a", trajectory, record)
        if self.tick is not None:
            self.tick()

    def take(self) -> Episodes:
        episodes, self.episodes = self.episodes, {}
        return episodes


def _session(settings: RolloutSettings, model, on_battle_end, bar=None):
    from pokepsro.battles.direct import DirectSession
    from pokepsro.learning.neural import BatchedPolicy, NeuralPlayer

    players = dict(settings.opponents)
    policy = BatchedPolicy(model)
    players[settings.learner] = partial(make_recording(NeuralPlayer), policy=policy, temperature=settings.temperature)
    players[greedy_key(settings.learner)] = partial(NeuralPlayer, policy=policy, greedy=True)
    return DirectSession(players, battle_format=settings.battle_format, concurrency=settings.concurrency,
                         max_turns=settings.max_turns, battle_timeout_s=settings.battle_timeout_s,
                         on_battle_end=on_battle_end, bar=bar)


class LocalRollouts:
    """One simulator in this process; the learner plays with the very model being trained."""

    def __init__(self, settings: RolloutSettings, model, bar) -> None:
        self.episodes = LearnerEpisodes()
        self.session = _session(settings, model, self.episodes, bar)

    def __enter__(self) -> LocalRollouts:
        self.session.__enter__()
        return self

    def play(self, model, specs: list[BattleSpec]) -> tuple[list[dict], Episodes]:
        return self.session.play(specs), self.episodes.take()

    def __exit__(self, *exc_info) -> None:
        self.session.__exit__(*exc_info)


def _state_bytes(model) -> bytes:
    buffer = io.BytesIO()
    torch.save({name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}, buffer)
    return buffer.getvalue()


class RolloutPool:
    """`workers` processes (`python -m pokepsro.learning.oracle.rollouts`), battles dealt round-robin by index
    each round."""

    def __init__(self, settings: RolloutSettings, workers: int, bar) -> None:
        from pokepsro.battles.worker_pool import check_picklable_parts

        check_picklable_parts({f"the player factory of {name!r}": factory
                               for name, factory in settings.opponents.items()})
        self.settings = settings
        self.count = workers
        self.bar = bar
        self.workers = []

    def __enter__(self) -> RolloutPool:
        from pokepsro.battles.worker_pool import spawn_worker

        for number in range(self.count):
            worker = spawn_worker("pokepsro.learning.oracle.rollouts", number)
            worker.send(self.settings)
            self.workers.append(worker)
        return self

    def play(self, model, specs: list[BattleSpec]) -> tuple[list[dict], Episodes]:
        state = _state_bytes(model)
        shares = {worker.inbox: specs[k::self.count] for k, worker in enumerate(self.workers)}
        for worker in self.workers:
            worker.send(("round", state, shares[worker.inbox]))
        records: list[dict] = []
        episodes: Episodes = {}
        waiting = {worker.inbox for worker in self.workers}
        while waiting:
            for inbox in wait(list(waiting)):
                try:
                    kind, *payload = inbox.recv()
                except (EOFError, OSError):
                    raise RuntimeError("a rollout worker died mid-round (its log is above); rerun to resume "
                                       "from the last finished round") from None
                if kind == "tick":
                    self.bar.update(1)
                elif kind == "done":
                    records += payload[0]
                    episodes.update(payload[1])
                    waiting.discard(inbox)
                elif kind == "failed":
                    raise payload[0]
        return sorted(records, key=lambda record: record["index"]), episodes

    def __exit__(self, *exc_info) -> None:
        from pokepsro.battles.worker_pool import reap

        for worker in self.workers:
            worker.close()  # the worker reads EOF and stops its simulator
        for worker in self.workers:
            reap(worker.process)


def serve(inbox: Connection, outbox: Connection) -> int:
    """A rollout worker: rebuild the learner, then play each round with the weights that come with it."""
    from pokepsro.battles.worker_pool import picklable
    from pokepsro.learning.model import build_model, pick_device

    settings: RolloutSettings = inbox.recv()
    model = build_model(settings.model_config, settings.obs_dim).to(pick_device()).eval()
    episodes = LearnerEpisodes(tick=lambda: outbox.send(("tick",)))
    with _session(settings, model, episodes) as session:
        while True:
            try:
                _, state, specs = inbox.recv()
            except EOFError:
                return 0
            try:
                model.load_state_dict(torch.load(io.BytesIO(state), map_location=pick_device(), weights_only=True))
                records = session.play(specs)
            except Exception as error:  # noqa: BLE001 - the parent raises it for the whole run
                outbox.send(("failed", picklable(error)))
                return 1
            outbox.send(("done", records, episodes.take()))


if __name__ == "__main__":
    read_fd, write_fd = (int(fd) for fd in sys.argv[1:3])
    sys.exit(serve(Connection(read_fd, writable=False), Connection(write_fd, readable=False)))

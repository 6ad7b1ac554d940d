"""Where the PPO learner's battles are played: worker processes that play without pause while the learner updates.

Each worker (`python -m pokepsro.learning.oracle.rollouts`) runs one simulator for the whole job and holds, on
the CPU, `slots` copies of the learner (its forward passes of a few rows are as fast there as on a GPU, and
14 workers need no 14 CUDA contexts), one per version of its weights that may be acting at once: version v lives in
slot v mod `slots`, so a worker can finish battles of one version while it starts those of the next. The parent
(`RolloutWorkers`) publishes versions and hands out battles a few at a time as workers have room for them, so no
worker waits for another's longest battle. Weights travel as a file in shared memory (/dev/shm where there is one)
that each worker reads itself and acknowledges: the parent writes a version once, whatever the number of workers,
and never blocks on a busy worker draining megabytes from its pipe.

Which version plays which battle is the caller's schedule, never the timing: each battle's draws come from its
own seed and every forward pass has one size (`BatchedPolicy`), so a battle's outcome and decisions depend on
its spec and its version only, whichever worker played it and whatever else was in flight.

Side A is the learner: `settings.learner` samples and records its decisions, `greedy_key(learner)` plays
greedily and records nothing (the greedy evaluation points, measured as every result is).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import io
import shutil
import sys
import tempfile
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import torch

from pokepsro.battles.backend import ArenaSettings, FinishedSide
from pokepsro.battles.spec import BattleSpec
from pokepsro.core.files import atomic_write_bytes
from pokepsro.learning.recording import make_recording, side_outcome, take_trajectory
from pokepsro.learning.trajectories import Steps

PREFETCH = 4  # battles queued in a worker beyond its `concurrency`, so a free lane never waits for the parent
SHARED_MEMORY = Path("/dev/shm")  # where weight files go when the machine has it (a RAM file system)


@dataclass(frozen=True)
class RolloutSettings:
    """What a rollout worker needs to rebuild the learner and its opponents (all picklable)."""

    learner: str
    temperature: float  # the learner samples at this temperature (PPO's behaviour policy)
    opponents: dict[str, Any]  # name -> picklable player factory
    model_config: dict
    obs_dim: int
    battle_format: str
    concurrency: int  # battles in flight per worker
    max_turns: int
    battle_timeout_s: float
    slots: int = 1  # versions of the learner's weights that may act at once
    report_every_turns: int = 0  # tell the parent each time a battle of side A passes this many more turns (0 = never)


def greedy_key(learner: str) -> str:
    """Side A's name when the learner plays greedily, unrecorded: the learner's name marked, never an opponent's."""
    return learner + "#greedy"


def slot_key(policy: str, slot: int) -> str:
    """The worker's player for `policy` with the weights in `slot`."""
    return f"{policy}~{slot}"


class LearnerEpisodes:
    """Battle-end callback taking side A's recorded decisions from its player, kept by battle index as the battle's
    `Steps` until they are sent to the parent."""

    def __init__(self) -> None:
        self.episodes: dict[int, Steps] = {}

    def __call__(self, spec: BattleSpec, side_a: FinishedSide, side_b: FinishedSide, record: dict) -> None:
        trajectory = take_trajectory(side_a)
        take_trajectory(side_b)  # the opponents do not record, but never let a trajectory linger
        if trajectory is not None:
            self.episodes[spec.index] = trajectory.steps(side_outcome("a", record))

    def pop(self, index: int) -> Steps | None:
        return self.episodes.pop(index, None)


@dataclass
class Finished:
    """One battle played for the caller: the job it belongs to, its record and the learner's decisions (None when
    the learner played greedily)."""

    job: Any
    record: dict
    episode: Steps | None


@dataclass
class Passed:
    """A battle still playing has reached `turn` (so it lasts at least that long): what lets the learner stop
    waiting for a long battle whose decisions a later update will train on."""

    job: Any
    index: int
    turn: int


@dataclass
class _Ticket:
    job: Any
    spec: BattleSpec


@dataclass
class _Worker:
    number: int
    link: Any  # worker_pool.Worker
    held: int = 0


class RolloutWorkers:
    """The parent's side: `publish(version, model)`, `submit(job, specs, version)`, then `collect()` finished
    battles. A version may only be published once no submitted battle of the version it replaces (the same slot)
    is still unfinished; the caller's schedule guarantees it."""

    def __init__(self, settings: RolloutSettings, workers: int, bar) -> None:
        from pokepsro.battles.worker_pool import check_picklable_parts

        check_picklable_parts({f"the player factory of {name!r}": factory
                               for name, factory in settings.opponents.items()})
        self.settings = settings
        self.count = workers
        self.bar = bar
        self.workers: dict[Connection, _Worker] = {}
        self.queue: collections.deque[tuple[int, BattleSpec]] = collections.deque()
        self.tickets: dict[int, _Ticket] = {}
        self.next_ticket = 0
        self.unread: dict[Path, int] = {}  # weight file -> workers yet to read it

    def __enter__(self) -> RolloutWorkers:
        from pokepsro.battles.worker_pool import spawn_worker

        self.weights_dir = Path(tempfile.mkdtemp(prefix="pokepsro-weights-",
                                                 dir=SHARED_MEMORY if SHARED_MEMORY.is_dir() else None))
        for number in range(self.count):
            link = spawn_worker("pokepsro.learning.oracle.rollouts", number)
            link.send(self.settings)
            self.workers[link.inbox] = _Worker(number, link)
        return self

    def publish(self, version: int, model) -> None:
        """Give every worker `model`'s weights as `version` (into slot version mod slots)."""
        path = self.weights_dir / f"version_{version}.pt"
        buffer = io.BytesIO()
        torch.save({name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}, buffer)
        atomic_write_bytes(path, buffer.getvalue())
        self.unread[path] = len(self.workers)
        for worker in self.workers.values():
            worker.link.send(("weights", version % self.settings.slots, str(path)))

    def submit(self, job, specs: list[BattleSpec], version: int, *, greedy: bool = False) -> None:
        """Queue `specs` for the learner (sampling, or greedy) with the weights of `version`. Each is sent under a
        ticket of its own as its index, so the same battles can be queued twice (greedy points)."""
        policy = slot_key(greedy_key(self.settings.learner) if greedy else self.settings.learner,
                          version % self.settings.slots)
        for spec in specs:
            ticket = self.next_ticket
            self.next_ticket += 1
            self.tickets[ticket] = _Ticket(job, spec)
            self.queue.append(dataclasses.replace(spec, index=ticket, policy_a=policy))
        self._hand_out()

    def collect(self, timeout: float) -> list[Finished | Passed]:
        """The battles finished, and the turns reported, within `timeout` seconds (at least one, unless the time
        ran out)."""
        finished: list[Finished | Passed] = []
        for inbox in wait(list(self.workers), timeout=timeout):
            worker = self.workers[inbox]
            while inbox.poll():
                try:
                    kind, *payload = inbox.recv()
                except (EOFError, OSError):
                    raise RuntimeError(f"rollout worker {worker.number} died (its log is above); rerun to resume "
                                       "from the last committed round") from None
                if kind == "failed":
                    raise payload[0]
                if kind == "read":
                    self._read(Path(payload[0]))
                    continue
                if kind == "turn":
                    ticket, turn = payload
                    if ticket in self.tickets:
                        finished.append(Passed(self.tickets[ticket].job, self.tickets[ticket].spec.index, turn))
                    continue
                worker.held -= 1
                finished.append(self._finished(*payload))
        self._hand_out()
        return finished

    def _finished(self, record: dict, episode: Steps | None) -> Finished:
        ticket = self.tickets.pop(record["index"])
        spec = ticket.spec
        record = {**record, "index": spec.index, "policy_a": spec.policy_a,
                  "winner": spec.policy_a if record["result_a"] == "win" else record["winner"]}
        self.bar.update(1)
        return Finished(ticket.job, record, episode)

    def _read(self, path: Path) -> None:
        """One more worker has loaded the weight file; the last one lets it go."""
        self.unread[path] -= 1
        if not self.unread[path]:
            del self.unread[path]
            path.unlink()

    def _hand_out(self) -> None:
        room = self.settings.concurrency + PREFETCH
        for worker in sorted(self.workers.values(), key=lambda worker: worker.held):
            take = min(room - worker.held, len(self.queue))
            if take > 0:
                worker.link.send(("battles", [self.queue.popleft() for _ in range(take)]))
                worker.held += take

    def __exit__(self, *exc_info) -> None:
        from pokepsro.battles.worker_pool import reap

        for worker in self.workers.values():
            worker.link.close()  # the worker reads EOF and stops its simulator
        for worker in self.workers.values():
            reap(worker.link.process)
        shutil.rmtree(self.weights_dir, ignore_errors=True)


class _StreamFeed:
    """The worker's arena feed: battles are pushed by the parent; each record goes back with its episode."""

    exhausted = False

    def __init__(self, outbox: Connection, episodes: LearnerEpisodes, turns: _TurnReports | None) -> None:
        self.outbox = outbox
        self.episodes = episodes
        self.turns = turns

    def top_up(self, held: int) -> None:
        """The parent pushes battles as this worker has room; it never asks."""

    def recorded(self, record: dict) -> None:
        if self.turns is not None:
            self.turns.forget(record["index"])
        self.outbox.send(("battle", record, self.episodes.pop(record["index"])))


class _TurnReports:
    """Turn callback of a worker's arena: side A's battle `index` has reached another `every` turns."""

    def __init__(self, outbox: Connection, every: int) -> None:
        self.outbox, self.every = outbox, every
        self.reported: dict[int, int] = {}

    def __call__(self, spec: BattleSpec, turn: int) -> None:
        passed = (turn - 1) // self.every if turn > 0 else 0
        if passed > self.reported.get(spec.index, 0):
            self.reported[spec.index] = passed
            self.outbox.send(("turn", spec.index, turn))

    def forget(self, index: int) -> None:
        self.reported.pop(index, None)


def _players(settings: RolloutSettings, models: list) -> dict:
    """The opponents, and per slot the learner sampling (recorded) and greedy (unrecorded)."""
    from pokepsro.learning.neural import BatchedPolicy, NeuralPlayer

    players = dict(settings.opponents)
    for slot, model in enumerate(models):
        policy = BatchedPolicy(model)
        players[slot_key(settings.learner, slot)] = partial(make_recording(NeuralPlayer), policy=policy,
                                                            temperature=settings.temperature)
        players[slot_key(greedy_key(settings.learner), slot)] = partial(NeuralPlayer, policy=policy, greedy=True)
    return players


def serve(inbox: Connection, outbox: Connection) -> int:
    """A rollout worker: the learner in every slot, then battles and weights as the parent sends them."""
    from pokepsro.battles.battle_worker import serve_arena
    from pokepsro.learning.model import build_model

    settings: RolloutSettings = inbox.recv()
    models = [build_model(settings.model_config, settings.obs_dim).eval() for _ in range(settings.slots)]
    episodes = LearnerEpisodes()
    turns = _TurnReports(outbox, settings.report_every_turns) if settings.report_every_turns else None
    arena_settings = ArenaSettings(players=_players(settings, models), battle_format=settings.battle_format,
                                   concurrency=settings.concurrency, record_path=None, max_turns=settings.max_turns,
                                   battle_timeout_s=settings.battle_timeout_s, on_battle_end=episodes, on_turn=turns)

    def handle(arena, message) -> None:
        kind, *payload = message
        if kind == "weights":
            slot, path = payload
            models[slot].load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            with contextlib.suppress(BrokenPipeError):  # the parent has every battle and is gone: nobody waits
                outbox.send(("read", path))
        else:
            arena.receive(payload[0])

    return serve_arena(inbox, outbox, arena_settings, _StreamFeed(outbox, episodes, turns), handle)


if __name__ == "__main__":
    read_fd, write_fd = (int(fd) for fd in sys.argv[1:3])
    sys.exit(serve(Connection(read_fd, writable=False), Connection(write_fd, readable=False)))

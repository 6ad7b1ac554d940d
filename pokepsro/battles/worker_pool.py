"""The direct backend over several worker processes: `run_battles(..., backend="direct", workers=N)`.

One Python process is one core of poke-env parsing and `choose_move`, so on a many-core node the battles
run in N worker processes (`python -m pokepsro.battles.battle_worker`), each with its own simulator process. This
parent hands battles out on request, a few at a time, and is the only writer of the record file, so
results merge into one file with each battle counted once. A worker that dies is replaced and the battles
it held but had not recorded are replayed; an error in a worker (a player failing, a refused team) stops
the run with that error.

Starting a worker (Python, torch, poke-env, a simulator) takes seconds, so a job of several runs (an evaluation
playing one run per opponent and team set) keeps one `WorkerPool` for all of them, `run_battles(...,
workers=pool)`: its workers start once and play run after run, each run with its own players and record file.

Workers get the run's settings by pickling: player factories and the battle-end callback must be
module-level classes or functions (or objects of them), not lambdas or closures. Workers are separate
programs, not forks, because poke-env runs a background event-loop thread that a fork would corrupt.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import io
import logging
import os
import pickle
import subprocess
import sys
from multiprocessing.connection import Connection, wait

from pokepsro.battles.backend import ArenaSettings, progress_bar
from pokepsro.battles.spec import BattleSpec
from pokepsro.core.errors import UsageError
from pokepsro.core.files import append_jsonl

LOGGER = logging.getLogger(__name__)
MAX_WORKER_RESTARTS = 3  # per run, over all workers
SHUTDOWN_WAIT_S = 10.0
WAIT_S = 1.0
# Each worker is one core's worth: torch's and BLAS's own threads would only spin against the other workers
# (Snakemake sets these to the job's threads for the job itself).
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


@dataclasses.dataclass
class Worker:
    """One worker process, its two pipe ends on this side, and the battles it holds unrecorded."""

    number: int
    process: subprocess.Popen
    inbox: Connection
    outbox: Connection
    held: dict[int, BattleSpec] = dataclasses.field(default_factory=dict)
    playing: bool = False  # in a run: not yet "done" with it

    def send(self, message) -> None:
        """Send, unless the worker has just died: its closed pipe then says so, and its battles are replayed."""
        with contextlib.suppress(OSError):
            self.outbox.send(message)

    def close(self) -> None:
        self.inbox.close()
        self.outbox.close()


def play_in_processes(pending: list[BattleSpec], settings: ArenaSettings, workers: int | WorkerPool,
                      progress: bool, total: int) -> dict[int, dict]:
    """Play `pending` over the kept pool `workers`, or over `workers` processes started for this run only; block
    until every battle is recorded."""
    if isinstance(workers, WorkerPool):
        return workers.play(pending, settings, progress, total)
    with WorkerPool(min(workers, len(pending))) as pool:
        return pool.play(pending, settings, progress, total)


def check_picklable(settings: ArenaSettings) -> None:
    """Name the first player factory or callback a worker process could not receive."""
    parts = {f"the player factory of {name!r}": factory for name, factory in settings.players.items()}
    parts["the on_battle_end callback"] = settings.on_battle_end
    check_picklable_parts(parts)


def check_picklable_parts(parts: dict) -> None:
    """`parts`: what it is -> the object; the first that cannot be pickled is a UsageError naming it."""
    for what, part in parts.items():
        try:
            pickle.dumps(part)
        except (pickle.PicklingError, AttributeError, TypeError) as error:
            raise UsageError(f"workers > 1 plays in separate processes, but {what} cannot be sent to them "
                             f"({error}): use a module-level class or function instead of a lambda or closure, "
                             "or workers: 1") from None


def picklable(error: BaseException) -> BaseException:
    """The error itself when it survives pickling (UsageError stays a UsageError), else its text."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # noqa: BLE001 - any failure to round-trip
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


class WorkerPool:
    """`size` battle worker processes, started on first use and kept for run after run until `close` (or the end
    of a `with` block); and the parent's bookkeeping of the run in progress: battles not yet handed out, records.

    A run ends once every battle is recorded and every worker has said it is done, so no message of one run is
    left for the next. A run that fails closes the pool; a later run starts fresh workers.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise UsageError(f"a worker pool needs at least 1 worker, got {size}")
        self.size = size
        self.workers: dict[Connection, Worker] = {}
        self.started = 0  # workers started over the pool's life, replacements included
        self.queue: collections.deque[BattleSpec] = collections.deque()
        self.expected: set[int] = set()
        self.records: dict[int, dict] = {}
        self.record_path = None
        self.worker_settings: ArenaSettings | None = None
        self.bar = None
        self.restarts = 0

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def play(self, pending: list[BattleSpec], settings: ArenaSettings, progress: bool, total: int) -> dict[int, dict]:
        """Play `pending` over the pool's workers; block until every battle is recorded."""
        worker_settings = dataclasses.replace(settings, record_path=None,
                                              concurrency=max(1, -(-settings.concurrency // self.size)))
        check_picklable(worker_settings)
        self.queue = collections.deque(pending)
        self.expected = {spec.index for spec in pending}
        self.records = {}
        self.record_path = settings.record_path
        self.worker_settings = worker_settings
        self.restarts = 0
        self.bar = progress_bar(total, len(pending), progress)
        try:
            for worker in list(self.workers.values()):
                self.begin(worker)
            while len(self.workers) < self.size:
                self.start_worker()
            self.run()
        except BaseException:
            self.close()  # workers may be mid-run: none is reused
            raise
        finally:
            self.bar.close()
        return self.records

    def run(self) -> None:
        while len(self.records) < len(self.expected) or any(worker.playing for worker in self.workers.values()):
            if not self.workers:
                raise RuntimeError(f"every battle worker ended with {len(self.expected) - len(self.records)} "
                                   "battles unrecorded")
            for inbox in wait(list(self.workers), timeout=WAIT_S):
                worker = self.workers[inbox]
                try:
                    message = inbox.recv()
                except (EOFError, OSError):
                    self.worker_ended(worker)
                    continue
                self.handle(worker, message)

    def start_worker(self) -> None:
        worker = spawn_worker("pokepsro.battles.battle_worker", self.started)
        self.started += 1
        self.workers[worker.inbox] = worker
        self.begin(worker)

    def begin(self, worker: Worker) -> None:
        """Start the run on a worker: it gets the run's settings, then asks for battles."""
        worker.playing = True
        worker.send(self.worker_settings)

    def handle(self, worker: Worker, message: tuple) -> None:
        kind, payload = message
        if kind == "need":
            specs = [self.queue.popleft() for _ in range(min(payload, len(self.queue)))]
            worker.held.update((spec.index, spec) for spec in specs)
            worker.send(specs)
        elif kind == "record":
            self.keep(worker, payload)
        elif kind == "done":
            worker.playing = False
        elif kind == "failed":
            raise payload
        else:
            raise RuntimeError(f"battle worker {worker.number} sent an unknown message {kind!r}")

    def keep(self, worker: Worker, record: dict) -> None:
        index = record["index"]
        worker.held.pop(index, None)
        if index in self.records or index not in self.expected:
            return
        if self.record_path is not None:
            append_jsonl(self.record_path, [record])
        self.records[index] = record
        self.bar.update(1)

    def worker_ended(self, worker: Worker) -> None:
        """Its pipe closed: a worker that ended cleanly holding nothing leaves; a lost one is replaced, its battles
        replayed."""
        del self.workers[worker.inbox]
        worker.close()
        returncode = reap(worker.process)
        if not worker.held and returncode == 0:
            return
        self.restarts += 1
        if self.restarts > MAX_WORKER_RESTARTS:
            raise RuntimeError(f"battle workers died {self.restarts} times; {len(self.expected) - len(self.records)} "
                               "battles left unplayed (the workers' errors are in the log above)")
        LOGGER.warning("battle worker %d (pid %d) ended with exit code %s holding %d unrecorded battles: replaying "
                       "them on a fresh worker (restart %d of at most %d)", worker.number, worker.process.pid,
                       returncode, len(worker.held), self.restarts, MAX_WORKER_RESTARTS)
        self.queue.extendleft(sorted(worker.held.values(), key=lambda spec: spec.index, reverse=True))
        self.start_worker()

    def close(self) -> None:
        """Close every pipe (a worker then stops), and end any worker that lingers."""
        for worker in self.workers.values():
            worker.close()
        for worker in self.workers.values():
            reap(worker.process)
        self.workers.clear()


def spawn_worker(module: str, number: int) -> Worker:
    """Start `python -m module READ_FD WRITE_FD`, a separate program (not a fork), with pipes both ways."""
    to_worker_read, to_worker_write = os.pipe()
    from_worker_read, from_worker_write = os.pipe()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, sys.path)), **ONE_THREAD}
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", module, str(to_worker_read), str(from_worker_write)],
            pass_fds=(to_worker_read, from_worker_write), env=env, stdout=_job_log(), stderr=_job_log(),
            start_new_session=True)  # Ctrl-C reaches this process only; it stops the workers
    finally:
        os.close(to_worker_read)
        os.close(from_worker_write)
    return Worker(number, process, Connection(from_worker_read, writable=False),
                  Connection(to_worker_write, readable=False))


def _job_log():
    """Where this process's Python output goes now (a job's log file, redirected by `run_job`), so the workers'
    warnings land in the same log rather than on the terminal; None (inherit) when that is no real file."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None
    return sys.stderr


def reap(process: subprocess.Popen) -> int:
    """The exit code, waiting a moment for it; a process that will not stop is killed."""
    try:
        return process.wait(SHUTDOWN_WAIT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()

"""One battle worker process of the direct backend: `python -m pokepsro.battles.battle_worker READ_FD WRITE_FD`.

Started by `pokepsro.battles.worker_pool`. For each run it reads the run's `ArenaSettings` (player factories,
limits, the battle-end callback) from the parent, then plays the battles the parent hands out on its own simulator
process through `pokepsro.battles.direct`, asking for more as battles end. Each battle's callback runs here; its
record goes back to the parent, which writes it. When the parent has no more battles it says "done" and waits for
the next run's settings (a kept `WorkerPool` plays run after run on the same workers); it stops when the parent
closes the pipe.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from poke_env.concurrency import POKE_LOOP

from pokepsro.battles.backend import ArenaSettings, progress_bar
from pokepsro.battles.direct import SHUTDOWN_WAIT_S, DirectArena, SpecFeed, host_command
from pokepsro.battles.spec import BattleSpec
from pokepsro.battles.worker_pool import picklable

LOGGER = logging.getLogger(__name__)
POLL_S = 0.1
PREFETCH = 2  # battles queued here beyond `concurrency`, so a slot never waits for the parent


class ParentFeed:
    """The parent's side of the arena: asks it for battles and hands it records (from poke-env's loop)."""

    def __init__(self, outbox: Connection, wanted: int) -> None:
        self.outbox = outbox
        self.wanted = wanted
        self.asked: collections.deque[int] = collections.deque()  # the parent answers requests in order
        self.ran_out = False

    @property
    def exhausted(self) -> bool:
        """The parent has no more battles and has answered every request: no answer of this run is left in the
        pipe for the next run to read."""
        return self.ran_out and not self.asked

    def top_up(self, held: int) -> None:
        want = self.wanted - held - sum(self.asked)
        if want > 0 and not self.ran_out:
            self.asked.append(want)
            self.outbox.send(("need", want))

    def recorded(self, record: dict) -> None:
        self.outbox.send(("record", record))

    def deliver(self, arena: DirectArena, specs: list[BattleSpec]) -> None:
        """An answer to the oldest request: fewer battles than asked for means the parent has no more."""
        if len(specs) < self.asked.popleft():
            self.ran_out = True
        arena.receive(specs)


def serve(inbox: Connection, outbox: Connection) -> int:
    """One arena per run, each from the settings the parent sends, until the parent closes the pipe."""
    while True:
        try:
            settings: ArenaSettings = inbox.recv()
        except EOFError:
            return 0
        feed = ParentFeed(outbox, settings.concurrency + PREFETCH)
        status = serve_arena(inbox, outbox, settings, feed, feed.deliver)
        if status != 0 or not feed.exhausted:  # failed, or the parent went away mid-run
            return status
        with contextlib.suppress(BrokenPipeError):  # the parent stopped the pool just now: the next read ends it
            outbox.send(("done", None))


def serve_arena(inbox: Connection, outbox: Connection, settings: ArenaSettings, feed: SpecFeed,
                handle: Callable[[DirectArena, Any], None]) -> int:
    """Run one arena fed by `feed` until the parent closes the pipe; every message from the parent goes to
    `handle(arena, message)` on poke-env's loop, in the order sent. An error ends the worker and goes to the
    parent."""
    arena = DirectArena(settings, host_command(), progress_bar(0, 0, shown=False), feed)
    future = asyncio.run_coroutine_threadsafe(arena.run([]), POKE_LOOP)
    while not future.done():
        if not inbox.poll(POLL_S):
            continue
        try:
            message = inbox.recv()
        except EOFError:  # the parent is gone or has every record: stop, leaving nothing behind
            future.cancel()
            break
        POKE_LOOP.call_soon_threadsafe(handle, arena, message)
    try:
        future.result(timeout=SHUTDOWN_WAIT_S)
    except (concurrent.futures.CancelledError, TimeoutError):
        return 0
    except Exception as error:  # the parent raises it for the whole run
        LOGGER.exception("battle worker failed")
        outbox.send(("failed", picklable(error)))
        return 1
    return 0


def main(argv: list[str]) -> int:
    read_fd, write_fd = (int(fd) for fd in argv)
    return serve(Connection(read_fd, writable=False), Connection(write_fd, readable=False))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

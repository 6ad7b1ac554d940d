"""Run scheduled battles on either backend, counting every battle exactly once: the one entry point.

`run_battles` checks the schedule and the players, keeps the battles already in the record file (a killed job
resumes), and hands the rest to a backend: `direct` (a simulator process with no server, `battles.direct`, or
one per worker process, `battles.worker_pool`) or `server` (a local Showdown server, `battles.server`). Every
backend writes the same record, once per battle.
"""

from __future__ import annotations

import collections
import contextlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from pokepsro.battles.backend import ArenaSettings, BattleEndCallback, PlayerFactory
from pokepsro.battles.direct import play_direct
from pokepsro.battles.server import play_all
from pokepsro.battles.showdown import ShowdownServer
from pokepsro.battles.spec import SEATS, BattleSpec
from pokepsro.battles.worker_pool import WorkerPool, play_in_processes
from pokepsro.core.errors import UsageError
from pokepsro.core.files import read_jsonl

BACKENDS = ("server", "direct")


def run_battles(specs: Sequence[BattleSpec], players: Mapping[str, PlayerFactory], *,
                battle_format: str = "gen1ou", concurrency: int = 16, server: ShowdownServer | None = None,
                server_log: Path | None = None, record_path: Path | None = None, max_turns: int = 500,
                battle_timeout_s: float = 600.0, progress: bool = True,
                on_battle_end: BattleEndCallback | None = None, backend: str = "server",
                workers: int | WorkerPool = 1) -> list[dict]:
    """Play every spec not already recorded in `record_path`; return all their records, sorted by index.

    `backend="server"` plays through a local Showdown server: without `server`, a private one is started
    for the call (log: `server_log`, default beside the records or in the temp folder). `backend="direct"`
    plays with no server on a simulator process of its own (`pokepsro.battles.direct`), or over `workers` worker
    processes each with its own simulator (`pokepsro.battles.worker_pool`; factories and callback must then be
    picklable), or over the processes of a kept `WorkerPool` passed as `workers` (see `kept_workers`);
    `concurrency` is the number of battles in flight over all of them. Either way
    `on_battle_end(spec, side_a, side_b, record)` (each side a `FinishedSide`: its Player and battle object) runs
    in poke-env's loop thread (of the worker process that played the battle) before the record is written, so a
    battle whose callback did not finish is replayed on resume.
    """
    validate_run(specs, players, concurrency, max_turns, battle_timeout_s)
    validate_backend(backend, workers, server)
    recorded = load_recorded(record_path, specs) if record_path is not None else {}
    pending = [spec for spec in specs if spec.index not in recorded]
    if pending:
        settings = ArenaSettings(players=players, battle_format=battle_format, concurrency=concurrency,
                                 record_path=record_path, max_turns=max_turns, battle_timeout_s=battle_timeout_s,
                                 on_battle_end=on_battle_end)
        if backend == "direct" and (isinstance(workers, WorkerPool) or workers > 1):
            recorded.update(play_in_processes(pending, settings, workers, progress, len(specs)))
        elif backend == "direct":
            recorded.update(play_direct(pending, settings, progress, len(specs)))
        elif server is None:
            log_path = server_log or default_server_log(record_path)
            with ShowdownServer(log_path) as owned_server:
                recorded.update(play_all(pending, settings, owned_server, progress, len(specs)))
        else:
            recorded.update(play_all(pending, settings, server, progress, len(specs)))
    return [recorded[spec.index] for spec in sorted(specs, key=lambda s: s.index)]


def validate_run(specs: Sequence[BattleSpec], players: Mapping[str, PlayerFactory], concurrency: int,
                 max_turns: int, battle_timeout_s: float) -> None:
    if concurrency < 1:
        raise UsageError(f"concurrency must be at least 1, got {concurrency}")
    if max_turns < 1:
        raise UsageError(f"max_turns must be at least 1, got {max_turns}")
    if battle_timeout_s <= 0:
        raise UsageError(f"battle_timeout_s must be positive, got {battle_timeout_s}")
    duplicates = [index for index, count in collections.Counter(s.index for s in specs).items() if count > 1]
    if duplicates:
        raise UsageError(f"battle indices must be unique within a run; repeated: {sorted(duplicates)[:10]}")
    for spec in specs:
        if spec.a_seat not in SEATS:
            raise UsageError(f"battle {spec.index}: a_seat must be 'p1' or 'p2', got {spec.a_seat!r}")
        for policy in (spec.policy_a, spec.policy_b):
            if policy not in players:
                raise UsageError(f"battle {spec.index} names policy {policy!r}, which has no player factory "
                                 f"(known: {', '.join(sorted(players)) or 'none'})")


def kept_workers(backend: str, workers: int) -> contextlib.AbstractContextManager[int | WorkerPool]:
    """What to pass as `run_battles`' `workers` to several runs in a row: over worker processes of the direct
    backend, one `WorkerPool` for all of them (its workers start once, not once per run); else `workers` itself."""
    if backend == "direct" and workers > 1:
        return WorkerPool(workers)
    return contextlib.nullcontext(workers)


def validate_backend(backend: str, workers: int | WorkerPool, server: ShowdownServer | None) -> None:
    if backend not in BACKENDS:
        raise UsageError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    count = workers.size if isinstance(workers, WorkerPool) else workers
    if count < 1:
        raise UsageError(f"workers must be at least 1, got {count}")
    if backend == "direct" and server is not None:
        raise UsageError("a Showdown server was given, but the direct backend plays without one: "
                         "pass backend='server' or no server")
    if backend == "server" and (count != 1 or isinstance(workers, WorkerPool)):
        raise UsageError(f"workers={count} needs backend='direct' (the server backend scales with its "
                         "own subprocesses)")


def load_recorded(record_path: Path, specs: Sequence[BattleSpec]) -> dict[int, dict]:
    """Records of `specs` already in the file; one that contradicts its spec means a different schedule."""
    if not Path(record_path).exists():
        return {}
    by_index = {spec.index: spec for spec in specs}
    recorded: dict[int, dict] = {}
    for record in read_jsonl(record_path):
        spec = by_index.get(record.get("index"))
        if spec is None or spec.index in recorded:
            continue
        if (record.get("policy_a"), record.get("policy_b"), record.get("a_seat")) != \
                (spec.policy_a, spec.policy_b, spec.a_seat):
            raise UsageError(f"record file {record_path} has battle {spec.index} as {record.get('policy_a')} vs "
                             f"{record.get('policy_b')} ({record.get('a_seat')}), but this run schedules "
                             f"{spec.policy_a} vs {spec.policy_b} ({spec.a_seat}): delete the file or use another path")
        recorded[spec.index] = record
    return recorded


def default_server_log(record_path: Path | None) -> Path:
    """Beside the records when there are any, else in the temp folder (never the working directory)."""
    if record_path is not None:
        return Path(record_path).with_name(Path(record_path).name + ".showdown.log")
    return Path(tempfile.gettempdir()) / f"pokepsro-showdown-{os.getpid()}.log"

"""The direct backend over several worker processes: one record per battle, callbacks, faults, resume."""

from __future__ import annotations

import collections
import json
import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from conftest import descendants
from poke_env.player import RandomPlayer
from test_arena import PLAYERS, assert_exact_accounting

from pokepsro.battles.api import run_battles
from pokepsro.battles.spec import BattleSpec, schedule_matchup
from pokepsro.battles.worker_pool import WorkerPool
from pokepsro.core.errors import UsageError
from pokepsro.core.files import read_jsonl

WORKER_MODULE = b"pokepsro.battles.battle_worker"


class CallbackLog:
    """A picklable on_battle_end callback: one JSON line per battle, written by whichever process played it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, spec, side_a, side_b, record) -> None:
        line = {"index": spec.index, "pid": os.getpid(), "mkl_threads": os.environ.get("MKL_NUM_THREADS"),
                "usernames": [side_a.battle.player_username, side_b.battle.player_username]}
        with open(self.path, "a") as handle:
            handle.write(json.dumps(line) + "\n")


class FailingPlayer(RandomPlayer):
    def choose_move(self, battle):
        raise ValueError("this player cannot decide")


def assert_no_processes_left() -> None:
    assert descendants(WORKER_MODULE) == [] and descendants(b"battle_host.js") == []


def mixed_schedule(team_set, n: int) -> list[BattleSpec]:
    template = schedule_matchup("random", "?", n, team_set, seed=5)
    return [BattleSpec(s.index, s.policy_a, ("random", "maxbp")[k % 3 == 0], s.a_seat, s.team_a, s.team_b, s.seed)
            for k, s in enumerate(template)]


def test_two_workers_record_each_battle_once_and_run_the_callback_where_it_was_played(team_set, tmp_path,
                                                                                     monkeypatch):
    monkeypatch.setenv("MKL_NUM_THREADS", "2")  # as Snakemake sets it for a 2-thread job
    specs = mixed_schedule(team_set, 24)
    path, log = tmp_path / "records.jsonl", tmp_path / "callbacks.jsonl"
    records = run_battles(specs, PLAYERS, backend="direct", workers=2, concurrency=6, record_path=path,
                          progress=False, on_battle_end=CallbackLog(log))
    assert_exact_accounting(records, specs)
    assert sorted(r["index"] for r in read_jsonl(path)) == list(range(24))
    calls = read_jsonl(log)
    assert sorted(call["index"] for call in calls) == list(range(24))
    pids = {call["pid"] for call in calls}
    assert len(pids) == 2 and os.getpid() not in pids, "both workers played, none in this process"
    assert all(len(set(call["usernames"])) == 2 for call in calls), "self-play needs two distinct players"
    assert {call["mkl_threads"] for call in calls} == {"1"}, "a worker is one core: no BLAS threads of its own"
    assert_no_processes_left()


def test_killed_worker_process_is_replaced_and_its_battles_replayed(team_set, tmp_path, caplog):
    specs = schedule_matchup("maxbp", "random", 60, team_set, seed=8)
    path = tmp_path / "records.jsonl"
    outcome: dict = {}

    def play() -> None:
        try:
            outcome["records"] = run_battles(specs, PLAYERS, backend="direct", workers=2, concurrency=8,
                                             record_path=path, progress=False)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = error

    runner = threading.Thread(target=play)
    with caplog.at_level(logging.WARNING, logger="pokepsro.battles.worker_pool"):
        runner.start()
        deadline = time.monotonic() + 120
        while len(read_jsonl(path) if path.exists() else []) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        victim = descendants(WORKER_MODULE)[0]
        os.kill(victim, signal.SIGKILL)
        runner.join(timeout=240)
    assert not runner.is_alive() and "error" not in outcome, outcome.get("error")
    assert_exact_accounting(outcome["records"], specs)
    on_disk = [r["index"] for r in read_jsonl(path)]
    assert sorted(on_disk) == list(range(60)), collections.Counter(on_disk).most_common(3)
    assert any(f"pid {victim}) ended" in message and "replaying" in message for message in caplog.messages)
    assert_no_processes_left()


def test_resume_over_workers_plays_only_the_unrecorded_battles(team_set, tmp_path):
    specs = schedule_matchup("maxbp", "random", 14, team_set, seed=6)
    path, log = tmp_path / "records.jsonl", tmp_path / "callbacks.jsonl"
    first = run_battles(specs[:6], PLAYERS, backend="direct", record_path=path, progress=False)
    records = run_battles(specs, PLAYERS, backend="direct", workers=2, record_path=path, progress=False,
                          on_battle_end=CallbackLog(log))
    assert sorted(call["index"] for call in read_jsonl(log)) == list(range(6, 14))
    assert_exact_accounting(records, specs)
    assert records[:6] == first


def test_a_kept_pool_plays_run_after_run_on_the_workers_it_started_once(team_set, tmp_path, caplog):
    runs = [schedule_matchup("maxbp", "random", 10, team_set, seed=2), mixed_schedule(team_set, 12),
            schedule_matchup("random", "maxbp", 6, team_set, seed=4)]
    log = tmp_path / "callbacks.jsonl"

    def play(number: int) -> None:
        path = tmp_path / f"records{number}.jsonl"
        records = run_battles(runs[number], PLAYERS, backend="direct", workers=pool, concurrency=6,
                              record_path=path, progress=False, on_battle_end=CallbackLog(log))
        assert_exact_accounting(records, runs[number])
        assert sorted(r["index"] for r in read_jsonl(path)) == [s.index for s in runs[number]], "its own file"

    with caplog.at_level(logging.WARNING, logger="pokepsro.battles.worker_pool"), WorkerPool(2) as pool:
        play(0)
        play(1)
        pids = {call["pid"] for call in read_jsonl(log)}
        assert len(pids) == 2 and pool.started == 2, "both runs played on the same two workers"
        # A worker lost between runs is replaced when the next run starts; that run still counts each battle once.
        victim = min(pids)
        os.kill(victim, signal.SIGKILL)
        play(2)
        assert pool.started == 3 and victim not in {call["pid"] for call in read_jsonl(log)[22:]}
    assert any(f"pid {victim}) ended" in message for message in caplog.messages)
    assert_no_processes_left()


def test_an_error_in_a_worker_stops_the_run_with_it(team_set, tmp_path):
    path = tmp_path / "records.jsonl"
    # Unnoticed, the error would stall each battle until its limit, then record it as a timeout tie: no error.
    with pytest.raises(RuntimeError, match="this player cannot decide"):
        run_battles(schedule_matchup("failing", "random", 8, team_set, seed=1),
                    {"failing": FailingPlayer, "random": RandomPlayer}, backend="direct", workers=2,
                    battle_timeout_s=300, record_path=path, progress=False)
    assert not path.exists() or read_jsonl(path) == []
    assert_no_processes_left()


def test_factories_workers_cannot_receive_are_a_usage_error_naming_them(team_set):
    players = {**PLAYERS, "maxbp": lambda **kwargs: PLAYERS["maxbp"](**kwargs)}
    with pytest.raises(UsageError, match="player factory of 'maxbp' cannot be sent"):
        run_battles(schedule_matchup("maxbp", "random", 2, team_set, seed=1), players, backend="direct",
                    workers=2, progress=False)

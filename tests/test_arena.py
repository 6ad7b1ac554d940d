"""The battle runner against a real Showdown server: exact accounting, limits, crash recovery, resume."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import ClassVar

import pytest
from conftest import processes_in_group, processes_running_in, restore_ctrl_c, team_text
from poke_env.player import MaxBasePowerPlayer, RandomPlayer

from pokepsro.battles import server as arena
from pokepsro.battles.api import run_battles
from pokepsro.battles.records import summarize_records
from pokepsro.battles.showdown import ShowdownServer
from pokepsro.battles.spec import BattleSpec, schedule_matchup
from pokepsro.core.errors import UsageError
from pokepsro.core.files import read_jsonl, write_jsonl
from pokepsro.gen1.teams import Team, TeamSet, pack_team_text

PLAYERS = {"maxbp": MaxBasePowerPlayer, "random": RandomPlayer}
RECORD_KEYS = {"index", "battle_id", "policy_a", "policy_b", "a_seat", "winner", "result_a", "end", "turns",
               "team_a", "team_b", "seed", "format"}


class SlowPlayer(RandomPlayer):
    """Thinks for a while every move, so a short wall-time limit is certain to cut its battles."""

    async def choose_move(self, battle):
        await asyncio.sleep(0.3)
        return self.choose_random_move(battle)


def seats_seen(collected: dict):
    """on_battle_end callback keeping each side's real seat and username per battle index."""
    def on_battle_end(spec, side_a, side_b, record):
        battle_a, battle_b = side_a.battle, side_b.battle
        collected[spec.index] = (battle_a.player_role, battle_b.player_role,
                                 battle_a.player_username, battle_b.player_username)
    return on_battle_end


def outcomes_seen(collected: dict):
    """on_battle_end callback keeping, per battle index, each side's (finished, won) as its battle object saw it."""
    def on_battle_end(spec, side_a, side_b, record):
        collected[spec.index] = tuple((side.battle.finished, side.battle.won) for side in (side_a, side_b))
    return on_battle_end


FORFEITED_BY_A = ((True, False), (True, True))  # the simulator ended the battle on side A's forfeit


def assert_exact_accounting(records: list[dict], specs: list[BattleSpec]) -> None:
    assert [r["index"] for r in records] == sorted(s.index for s in specs)
    for record, spec in zip(records, sorted(specs, key=lambda s: s.index)):
        assert RECORD_KEYS <= record.keys()
        assert (record["policy_a"], record["policy_b"], record["a_seat"]) == (spec.policy_a, spec.policy_b,
                                                                               spec.a_seat)
        assert (record["team_a"], record["team_b"], record["seed"]) == (spec.team_a.id, spec.team_b.id, spec.seed)
        assert record["result_a"] in ("win", "loss", "tie")


def test_schedule_matchup_alternates_seats_and_is_reproducible(team_set):
    specs = schedule_matchup("a", "b", 6, team_set, seed=7, start_index=10)
    assert [s.index for s in specs] == list(range(10, 16))
    assert [s.a_seat for s in specs] == ["p1", "p2"] * 3
    assert specs == schedule_matchup("a", "b", 6, team_set, seed=7, start_index=10)
    assert len({s.seed for s in specs}) == 6
    assert {s.team_a for s in specs} | {s.team_b for s in specs} <= set(team_set.teams)
    many = schedule_matchup("a", "b", 40, team_set, seed=1)
    assert len({s.team_a.id for s in many}) == 2, "teams are drawn per battle, not fixed"
    with pytest.raises(UsageError):
        schedule_matchup("a", "b", -1, team_set, seed=1)


@pytest.mark.parametrize("change, message", [
    (dict(policy_b="nobody"), "no player factory"),
    (dict(a_seat="p3"), "a_seat"),
])
def test_bad_specs_are_usage_errors(team_set, showdown_server, change, message):
    spec = dataclasses.replace(schedule_matchup("maxbp", "random", 1, team_set, seed=1)[0], **change)
    with pytest.raises(UsageError, match=message):
        run_battles([spec], PLAYERS, server=showdown_server, progress=False)


def test_duplicate_indices_are_usage_errors(team_set, showdown_server):
    specs = schedule_matchup("maxbp", "random", 2, team_set, seed=1)
    with pytest.raises(UsageError, match="unique"):
        run_battles(specs + specs[:1], PLAYERS, server=showdown_server, progress=False)


@pytest.mark.slow
def test_maxbp_beats_random_with_exact_accounting(team_set, showdown_server, tmp_path):
    specs = schedule_matchup("maxbp", "random", 60, team_set, seed=3)
    seen: dict = {}
    records = run_battles(specs, PLAYERS, server=showdown_server, concurrency=8, progress=False,
                          record_path=tmp_path / "records.jsonl", on_battle_end=seats_seen(seen))
    assert_exact_accounting(records, specs)
    assert sorted(read_jsonl(tmp_path / "records.jsonl"), key=lambda r: r["index"]) == records
    assert len({r["battle_id"] for r in records}) == 60
    for record in records:
        role_a, role_b, _, _ = seen[record["index"]]
        assert (role_a, role_b) == ((record["a_seat"], "p2") if record["a_seat"] == "p1" else ("p2", "p1"))
    summary = summarize_records(records)
    assert summary["battles"] == 60 and summary["ends"] == {"normal": 60}
    assert summary["win_rate"] >= 0.8, summary
    assert summary["battles_per_s"] > 0
    assert summary["by_pair"][0]["policy_a"] == "maxbp" and summary["by_pair"][0]["battles"] == 60


def test_self_play_and_mixed_opponents_in_one_run(team_set, showdown_server, monkeypatch):
    """Side B's policy changes per battle (as when sampling from a mixture), including self-play.

    Lanes may keep only two players here, so switching opponents also disconnects and recreates players.
    """
    monkeypatch.setattr(arena, "MAX_PLAYERS_PER_LANE", 2)
    template = schedule_matchup("random", "?", 8, team_set, seed=5)
    opponents = ["random", "maxbp", "random", "random", "maxbp", "maxbp", "random", "maxbp"]
    specs = [BattleSpec(s.index, s.policy_a, opponent, s.a_seat, s.team_a, s.team_b, s.seed)
             for s, opponent in zip(template, opponents)]
    seen: dict = {}
    records = run_battles(specs, PLAYERS, server=showdown_server, concurrency=3, progress=False,
                          on_battle_end=seats_seen(seen))
    assert_exact_accounting(records, specs)
    assert [r["policy_b"] for r in records] == opponents
    for record in records:
        _, _, user_a, user_b = seen[record["index"]]
        assert user_a != user_b, "self-play needs two distinct players"
        if record["result_a"] != "tie":
            assert record["winner"] == (record["policy_a"] if record["result_a"] == "win" else record["policy_b"])


def test_turn_limit_ends_every_battle_as_a_tie_with_an_owned_server(team_set, tmp_path):
    specs = schedule_matchup("random", "random", 6, team_set, seed=2)
    log = tmp_path / "server.log"
    records = run_battles(specs, PLAYERS, concurrency=3, max_turns=3, server_log=log, progress=False)
    assert_exact_accounting(records, specs)
    assert {r["end"] for r in records} == {"turn_limit"}
    assert {r["result_a"] for r in records} == {"tie"}
    assert {r["winner"] for r in records} == {None}
    assert {r["turns"] for r in records} == {4}, "forfeited at the first decision past turn 3"
    log_text = log.read_text()
    assert "listening on 127.0.0.1" in log_text
    private_root = re.search(r"starting Showdown on \S+ in (\S+)", log_text).group(1)
    assert processes_running_in(Path(private_root)) == [], "the server owned by run_battles is gone"


def test_wall_time_limit_records_a_timeout_tie(team_set, showdown_server):
    specs = schedule_matchup("slow", "random", 2, team_set, seed=4)
    ended: dict = {}
    records = run_battles(specs, {"slow": SlowPlayer, "random": RandomPlayer}, server=showdown_server,
                          concurrency=2, battle_timeout_s=2.0, progress=False, on_battle_end=outcomes_seen(ended))
    assert_exact_accounting(records, specs)
    assert [(r["end"], r["result_a"], r["winner"]) for r in records] == [("timeout", "tie", None)] * 2
    # Cut by the limit (side A forfeited and the server ended the battle), not played out nor left stuck.
    assert ended == {spec.index: FORFEITED_BY_A for spec in specs}
    # The lanes' players were stuck or forfeited cleanly; either way the server still serves new battles.
    again = run_battles(schedule_matchup("maxbp", "random", 2, team_set, seed=4), PLAYERS, server=showdown_server,
                        progress=False)
    assert [r["end"] for r in again] == ["normal", "normal"]


def test_resume_plays_only_the_unrecorded_battles(team_set, showdown_server, tmp_path):
    path = tmp_path / "records.jsonl"
    specs = schedule_matchup("maxbp", "random", 12, team_set, seed=6)
    first = run_battles(specs[:5], PLAYERS, server=showdown_server, record_path=path, progress=False)
    with open(path, "a") as handle:
        handle.write('{"index": 11, "torn')  # a killed writer's half line is ignored
    played = []
    records = run_battles(specs, PLAYERS, server=showdown_server, record_path=path, progress=False,
                          on_battle_end=lambda spec, a, b, record: played.append(spec.index))
    assert sorted(played) == list(range(5, 12))
    assert_exact_accounting(records, specs)
    assert records[:5] == first


def test_resume_from_a_different_schedule_is_refused(team_set, tmp_path):
    path = tmp_path / "records.jsonl"
    write_jsonl(path, [{"index": 0, "policy_a": "random", "policy_b": "maxbp", "a_seat": "p1"}])
    specs = schedule_matchup("maxbp", "random", 2, team_set, seed=6)
    with pytest.raises(UsageError, match="delete the file"):
        run_battles(specs, PLAYERS, record_path=path, progress=False)


@pytest.mark.slow
def test_server_killed_mid_run_is_restarted_and_no_battle_is_lost_or_doubled(team_set, tmp_path, caplog):
    specs = schedule_matchup("maxbp", "random", 40, team_set, seed=8)
    path = tmp_path / "records.jsonl"
    killed = []
    with ShowdownServer(tmp_path / "server.log") as server:
        def kill_after_ten(spec, side_a, side_b, record):
            if len(read_jsonl(path) if path.exists() else []) == 9 and not killed:
                killed.append(server.pid)
                os.killpg(server.pid, signal.SIGKILL)

        with caplog.at_level(logging.WARNING, logger="pokepsro.battles.server"):
            records = run_battles(specs, PLAYERS, server=server, concurrency=4, record_path=path, progress=False,
                                  on_battle_end=kill_after_ten)
        assert killed and server.restarts == 1 and server.alive()
    assert_exact_accounting(records, specs)
    on_disk = [r["index"] for r in read_jsonl(path)]
    assert sorted(on_disk) == list(range(40)), collections.Counter(on_disk).most_common(3)
    assert any("restarting" in message for message in caplog.messages)
    assert "restarting Showdown" in (tmp_path / "server.log").read_text()
    assert processes_in_group(killed[0]) == []


def test_interrupted_run_stops_its_own_server_and_keeps_whole_records(tmp_path):
    """SIGINT (Ctrl-C) to a process inside run_battles: no node process survives, the JSONL stays readable."""
    records, log = tmp_path / "records.jsonl", tmp_path / "server.log"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from conftest import TEAM_TEXTS, team_text
        from poke_env.player import MaxBasePowerPlayer, RandomPlayer
        from pokepsro.battles.api import run_battles
        from pokepsro.battles.spec import schedule_matchup
        from pokepsro.gen1.teams import Team, TeamSet, pack_team_text
        teams = tuple(Team(k, team_text(m), pack_team_text(team_text(m))) for k, m in TEAM_TEXTS.items())
        specs = schedule_matchup("maxbp", "random", 2000, TeamSet("t", "gen1ou", teams), seed=1)
        def announce(spec, side_a, side_b, record):
            print("battle ended", flush=True)
        run_battles(specs, {{"maxbp": MaxBasePowerPlayer, "random": RandomPlayer}}, concurrency=4,
                    record_path={str(records)!r}, server_log={str(log)!r}, progress=False, on_battle_end=announce)
    """)
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True, preexec_fn=restore_ctrl_c)
    try:
        assert owner.stdout.readline() == "battle ended\n"
        owner.send_signal(signal.SIGINT)
        assert owner.wait(timeout=30) != 0
    finally:
        if owner.poll() is None:
            owner.kill()
    private_root = re.search(r"starting Showdown on \S+ in (\S+)", log.read_text()).group(1)
    deadline = time.monotonic() + 10
    while processes_running_in(Path(private_root)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_running_in(Path(private_root)) == []
    indices = [r["index"] for r in read_jsonl(records)]
    assert 1 <= len(indices) < 2000 and len(set(indices)) == len(indices)


def test_refused_team_fails_fast_with_the_servers_reason(showdown_server, tmp_path):
    """A team the server's validator refuses is an error quoting the reason, never a silent tie or a hang."""
    banned = team_text([("Mewtwo", "Psychic", "Amnesia", "Recover", "Thunderbolt")])
    team_set = TeamSet("banned", "gen1ou", (Team("mewtwo", banned, pack_team_text(banned)),))
    path = tmp_path / "records.jsonl"
    # Each attempt fails on the server's popup; a popup missed would fail as "no battle started within 30 s".
    with pytest.raises(RuntimeError, match=r"failed 3 times; last: server popup to .*Mewtwo is tagged Uber"):
        run_battles(schedule_matchup("maxbp", "random", 1, team_set, seed=1), PLAYERS, server=showdown_server,
                    record_path=path, progress=False)
    assert not path.exists() or read_jsonl(path) == []


class BrokenPlayer(RandomPlayer):
    """A user Player with a bug: its move choice raises (every call counted in `calls`)."""

    calls: ClassVar[list[str]] = []

    def choose_move(self, battle):
        BrokenPlayer.calls.append(battle.battle_tag)
        raise ValueError("bug in the user's bot")


@pytest.mark.parametrize("backend", ["server", "direct"])
def test_a_player_whose_choice_raises_fails_the_run_fast(team_set, backend, tmp_path):
    specs = schedule_matchup("broken", "random", 4, team_set, seed=3)
    players = {"broken": BrokenPlayer, "random": RandomPlayer}
    BrokenPlayer.calls.clear()
    path = tmp_path / "records.jsonl"
    # Unnoticed, the error would stall each battle until its limit, then record it as a timeout tie: no error.
    with pytest.raises(RuntimeError, match="bug in the user's bot"):
        run_battles(specs, players, concurrency=2, backend=backend, battle_timeout_s=300, record_path=path,
                    server_log=tmp_path / "server.log", progress=False)
    assert not path.exists() or read_jsonl(path) == []
    # The run stopped at the first failure: no battle beyond the two lanes' first was started.
    assert 1 <= len(BrokenPlayer.calls) <= 2 and len(set(BrokenPlayer.calls)) == len(BrokenPlayer.calls)

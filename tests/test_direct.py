"""The direct backend against the real simulator: records like the server's, limits, faults, equivalence."""

from __future__ import annotations

import collections
import logging
import os
import signal

import pytest
from conftest import descendants, team_text
from poke_env.player import RandomPlayer
from test_arena import FORFEITED_BY_A, PLAYERS, SlowPlayer, assert_exact_accounting, outcomes_seen, seats_seen

from pokepsro.battles import direct
from pokepsro.battles.api import run_battles
from pokepsro.battles.records import summarize_records
from pokepsro.battles.spec import BattleSpec, schedule_matchup
from pokepsro.core.errors import UsageError
from pokepsro.core.files import read_jsonl
from pokepsro.gen1.baselines import BASELINES
from pokepsro.gen1.teams import Team, TeamSet, pack_team_text

SIMULATOR_ERROR = "simulator error in battle"


def simulator_pids() -> list[int]:
    """Live battle-host processes started under this process."""
    return descendants(direct.HOST_SCRIPT.name.encode())


def simulator_errors(caplog) -> list[str]:
    return [m for m in caplog.messages if SIMULATOR_ERROR in m]


class ImpossibleOrder:
    """An order no Pokémon has: the simulator answers it with an |error| line."""

    message = "/choose move 9"


class OneBadChoicePlayer(RandomPlayer):
    """Sends one impossible order first, then plays legal random orders (poke-env re-asks after the error)."""

    def choose_move(self, battle):
        if not getattr(self, "erred", False):
            self.erred = True
            return ImpossibleOrder()
        return self.choose_random_move(battle)


def test_maxbp_beats_random_with_server_records_and_no_simulator_error(team_set, tmp_path, caplog):
    specs = schedule_matchup("maxbp", "random", 40, team_set, seed=3)
    seen: dict = {}
    path = tmp_path / "records.jsonl"
    with caplog.at_level(logging.WARNING, logger="pokepsro.battles.direct"):
        records = run_battles(specs, PLAYERS, backend="direct", concurrency=8, progress=False, record_path=path,
                              on_battle_end=seats_seen(seen))
    assert_exact_accounting(records, specs)
    assert read_jsonl(path) == sorted(records, key=lambda r: r["finished_at"])
    assert len({r["battle_id"] for r in records}) == 40
    for record in records:
        role_a, role_b, user_a, user_b = seen[record["index"]]
        assert (role_a, role_b) == ((record["a_seat"], "p2") if record["a_seat"] == "p1" else ("p2", "p1"))
        assert user_a != user_b
    summary = summarize_records(records)
    assert summary["ends"] == {"normal": 40}
    assert summary["win_rate"] >= 0.8, summary
    assert simulator_errors(caplog) == []
    assert simulator_pids() == [], "the run's simulator is gone"


def test_simulator_errors_are_seen_and_the_battle_still_ends(team_set, caplog):
    """The zero-error assertions above can fail: an illegal order is reported and then corrected."""
    specs = schedule_matchup("bad", "random", 1, team_set, seed=1)
    with caplog.at_level(logging.WARNING, logger="pokepsro.battles.direct"):
        records = run_battles(specs, {"bad": OneBadChoicePlayer, "random": RandomPlayer}, backend="direct",
                              progress=False)
    assert len(simulator_errors(caplog)) == 1
    assert "[Invalid choice]" in simulator_errors(caplog)[0]
    assert records[0]["end"] == "normal"


def test_self_play_and_mixed_opponents(team_set):
    template = schedule_matchup("random", "?", 8, team_set, seed=5)
    opponents = ["random", "maxbp", "random", "random", "maxbp", "maxbp", "random", "maxbp"]
    specs = [BattleSpec(s.index, s.policy_a, opponent, s.a_seat, s.team_a, s.team_b, s.seed)
             for s, opponent in zip(template, opponents)]
    seen: dict = {}
    records = run_battles(specs, PLAYERS, backend="direct", concurrency=4, progress=False,
                          on_battle_end=seats_seen(seen))
    assert_exact_accounting(records, specs)
    assert [r["policy_b"] for r in records] == opponents
    for record in records:
        assert seen[record["index"]][2] != seen[record["index"]][3], "self-play needs two distinct players"
        if record["result_a"] != "tie":
            assert record["winner"] == (record["policy_a"] if record["result_a"] == "win" else record["policy_b"])


def test_turn_limit_ends_every_battle_as_a_tie(team_set):
    specs = schedule_matchup("random", "random", 6, team_set, seed=2)
    records = run_battles(specs, PLAYERS, backend="direct", concurrency=3, max_turns=3, progress=False)
    assert_exact_accounting(records, specs)
    assert {(r["end"], r["result_a"], r["winner"], r["turns"]) for r in records} == {("turn_limit", "tie", None, 4)}


def test_wall_time_limit_records_a_timeout_tie(team_set):
    specs = schedule_matchup("slow", "random", 2, team_set, seed=4)
    ended: dict = {}
    records = run_battles(specs, {"slow": SlowPlayer, "random": RandomPlayer}, backend="direct", concurrency=2,
                          battle_timeout_s=2.0, progress=False, on_battle_end=outcomes_seen(ended))
    assert_exact_accounting(records, specs)
    assert [(r["end"], r["result_a"], r["winner"]) for r in records] == [("timeout", "tie", None)] * 2
    # The limit made side A forfeit and the simulator ended the battle on it, rather than the battle being
    # dropped after the forfeit's grace period or played out to its natural end.
    assert ended == {spec.index: FORFEITED_BY_A for spec in specs}


def test_resume_plays_only_the_unrecorded_battles(team_set, tmp_path):
    path = tmp_path / "records.jsonl"
    specs = schedule_matchup("maxbp", "random", 12, team_set, seed=6)
    first = run_battles(specs[:5], PLAYERS, backend="direct", record_path=path, progress=False)
    with open(path, "a") as handle:
        handle.write('{"index": 11, "torn')  # a killed writer's half line is ignored
    played = []
    records = run_battles(specs, PLAYERS, backend="direct", record_path=path, progress=False,
                          on_battle_end=lambda spec, a, b, record: played.append(spec.index))
    assert sorted(played) == list(range(5, 12))
    assert_exact_accounting(records, specs)
    assert records[:5] == first


def test_simulator_killed_mid_run_is_replaced_and_the_count_is_exact(team_set, tmp_path, caplog):
    specs = schedule_matchup("maxbp", "random", 60, team_set, seed=8)
    path = tmp_path / "records.jsonl"
    killed = []

    def kill_the_simulator_after_ten(spec, side_a, side_b, record):
        if len(read_jsonl(path) if path.exists() else []) == 9 and not killed:
            killed.append(simulator_pids()[0])
            os.kill(killed[0], signal.SIGKILL)

    with caplog.at_level(logging.WARNING, logger="pokepsro.battles.direct"):
        records = run_battles(specs, PLAYERS, backend="direct", concurrency=8, record_path=path,
                              progress=False, on_battle_end=kill_the_simulator_after_ten)
    assert killed
    assert_exact_accounting(records, specs)
    on_disk = [r["index"] for r in read_jsonl(path)]
    assert sorted(on_disk) == list(range(60)), collections.Counter(on_disk).most_common(3)
    assert any("died with" in message and "replaying" in message for message in caplog.messages)
    assert simulator_pids() == []


def test_refused_team_fails_fast_with_the_validators_reason(tmp_path):
    banned = team_text([("Mewtwo", "Psychic", "Amnesia", "Recover", "Thunderbolt")])
    team_set = TeamSet("banned", "gen1ou", (Team("mewtwo", banned, pack_team_text(banned)),))
    path = tmp_path / "records.jsonl"
    # A refusal missed would leave the battle unstarted until its wall-time limit, then fail some other way: the
    # validator's reason, with nothing recorded, is the refusal seen at once.
    with pytest.raises(RuntimeError, match="validator refused a team for gen1ou: .*Mewtwo is tagged Uber"):
        run_battles(schedule_matchup("maxbp", "random", 3, team_set, seed=1), PLAYERS, backend="direct",
                    concurrency=1, record_path=path, progress=False)
    assert not path.exists() or read_jsonl(path) == []
    assert simulator_pids() == []


@pytest.mark.parametrize("options, message", [
    ({"backend": "websocket"}, "backend must be"),
    ({"backend": "direct", "workers": 0}, "workers must be"),
    ({"backend": "server", "workers": 2}, "needs backend='direct'"),
])
def test_bad_backend_options_are_usage_errors(team_set, options, message):
    with pytest.raises(UsageError, match=message):
        run_battles(schedule_matchup("maxbp", "random", 1, team_set, seed=1), PLAYERS, progress=False, **options)


EQUIVALENCE_PAIRS = [("simple_heuristics", "max_base_power"), ("max_base_power", "gen1_boss_ai"),
                     ("gym_leader", "simple_heuristics")]
EQUIVALENCE_BATTLES = 500


@pytest.mark.slow
@pytest.mark.parametrize("policy_a, policy_b", EQUIVALENCE_PAIRS)
def test_direct_and_server_backends_agree(team_set, showdown_server, policy_a, policy_b, caplog):
    """Same schedule through both backends: their 95 % intervals overlap, and no simulator error."""
    specs = schedule_matchup(policy_a, policy_b, EQUIVALENCE_BATTLES, team_set, seed=11)
    players = {name: BASELINES[name] for name in (policy_a, policy_b)}
    through_server = summarize_records(run_battles(specs, players, server=showdown_server, concurrency=16,
                                                   progress=False))
    with caplog.at_level(logging.WARNING, logger="pokepsro.battles.direct"):
        direct_records = run_battles(specs, players, backend="direct", concurrency=16, progress=False)
    through_direct = summarize_records(direct_records)
    assert simulator_errors(caplog) == []
    assert all(r["result_a"] in ("win", "loss", "tie") for r in direct_records)
    (server_low, server_high), (direct_low, direct_high) = through_server["ci95"], through_direct["ci95"]
    assert server_low <= direct_high and direct_low <= server_high, (through_server, through_direct)

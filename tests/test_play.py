"""`pokepsro play` on the managed local Showdown server: scripted poke-env clients challenge it and ladder against it;
bad URLs, refused logins and unknown policies are one line and exit 2, and the password never shows."""

from __future__ import annotations

import asyncio
import http.server
import subprocess
import sys
import threading
from pathlib import Path
from typing import ClassVar

import pytest
from conftest import write_tiny_checkpoint
from poke_env.concurrency import POKE_LOOP
from poke_env.player import Player
from poke_env.ps_client.account_configuration import AccountConfiguration

from pokepsro.battles.showdown import free_port
from pokepsro.cli import main
from pokepsro.core.files import read_jsonl
from pokepsro.gen1.baselines import BASELINES
from pokepsro.gen1.teams import load_team_set
from pokepsro.metagame.mixture import mixture_entry
from pokepsro.metagame.play import plan_battles, policy_members
from pokepsro.metagame.population import PolicyEntry, Population, heuristic_entry
from pokepsro.metagame.solver import write_meta_strategy

REPO = Path(__file__).resolve().parents[1]
SEED = 3
PASSWORD = "sentinel-Pa55word-9"


def write_mixture(tmp_path: Path) -> tuple[Path, Path]:
    """σ = ½ max_base_power + ½ a (tiny, untrained) neural checkpoint."""
    members = Population((heuristic_entry("max_base_power"),
                          PolicyEntry(name="tiny_net", kind="checkpoint", spec=str(write_tiny_checkpoint(tmp_path / "net.pt")),
                                      options={"greedy": True})))
    members.save(tmp_path / "population.json")
    write_meta_strategy(tmp_path / "meta_strategy.json", members.names, [0.5, 0.5])
    return tmp_path / "population.json", tmp_path / "meta_strategy.json"


def start_agent(server, policy: str, username: str, games: list[str], out: Path) -> subprocess.Popen:
    """The command line, in its own process, once it says it is logged in."""
    agent = subprocess.Popen([sys.executable, "-m", "pokepsro.cli", "play", policy, "--server", server.websocket_url,
                              "--username", username, *games, "--out", str(out), "--seed", str(SEED)],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = agent.stdout.readline()
    assert first.startswith(f"logged in as {username}"), first + agent.stderr.read()
    return agent


def scripted_client(server, username: str) -> Player:
    team = load_team_set("competitive", "gen1ou").teams[0].packed
    return BASELINES["max_base_power"](account_configuration=AccountConfiguration(username, None),
                                       battle_format="gen1ou", server_configuration=server.server_configuration,
                                       team=team)


def in_poke_loop(coroutine, timeout: float = 180):
    return asyncio.run_coroutine_threadsafe(coroutine, POKE_LOOP).result(timeout=timeout)


def finish(agent: subprocess.Popen, client: Player) -> str:
    out, err = agent.communicate(timeout=60)
    in_poke_loop(client.ps_client.stop_listening(), timeout=10)
    assert agent.returncode == 0, err[-3000:]
    return out


def test_every_challenge_is_played_by_a_member_drawn_from_sigma_and_recorded_once(showdown_server, tmp_path):
    population, strategy = write_mixture(tmp_path)
    records_path = tmp_path / "played.jsonl"
    battles = 4
    agent = start_agent(showdown_server, f"mixture:{population}:{strategy}", "ppagentmix",
                        ["--accept-challenges", str(battles)], records_path)
    client = scripted_client(showdown_server, "ppchallenger")
    in_poke_loop(client.send_challenges("ppagentmix", battles))
    out = finish(agent, client)

    records = read_jsonl(records_path)
    assert [r["index"] for r in records] == list(range(battles))
    assert sorted(r["battle_id"] for r in records) == sorted(client.battles)  # each battle once, no other
    members, sigma = policy_members(mixture_entry("nash_mixture", population, strategy))
    plans = plan_battles(members, sigma, load_team_set("competitive", "gen1ou"), battles, SEED, 0)
    assert [r["policy_a"] for r in records] == [plan.policy_a for plan in plans]
    assert {r["policy_a"] for r in records} == {"max_base_power", "tiny_net"}  # both members played
    assert [r["team_a"] for r in records] == [plan.team_a.id for plan in plans]
    for record in records:
        theirs = client.battles[record["battle_id"]]
        assert record["result_a"] == {True: "loss", False: "win", None: "tie"}[theirs.won]
        assert (record["agent"], record["opponent"], record["policy_b"]) == ("nash_mixture", "ppchallenger",
                                                                          "ppchallenger")
        assert record["rating"] is None and record["team_b"] is None  # an unrated challenge, the opponent's team
    assert f"in {battles} battles" in out


def test_ladder_games_are_recorded_with_the_ratings_the_server_reports(showdown_server, tmp_path):
    records_path = tmp_path / "ladder.jsonl"
    agent = start_agent(showdown_server, "max_base_power", "ppagentlad", ["--ladder", "2"], records_path)
    client = scripted_client(showdown_server, "pprival")
    in_poke_loop(client.ladder(2))
    finish(agent, client)

    records = read_jsonl(records_path)
    assert sorted(r["battle_id"] for r in records) == sorted(client.battles)
    assert all(r["opponent"] == "pprival" for r in records)
    assert all(isinstance(r["rating"], int) and isinstance(r["opponent_rating"], int) for r in records)
    assert records[0]["rating"] == records[0]["opponent_rating"]  # both new to this server's ladder


class RefusingLoginServer(http.server.BaseHTTPRequestHandler):
    """A login server that turns every password down (as Showdown's does a wrong one) and keeps what it got."""

    received: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.received.append(self.rfile.read(int(self.headers["Content-Length"])).decode())
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b']{"actionsuccess":false,"assertion":";;Invalid username/password"}')

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def refusing_login_server():
    server = http.server.HTTPServer(("127.0.0.1", 0), RefusingLoginServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/action.php?"
    server.shutdown()
    server.server_close()


def play(args: list[str], tmp_path: Path, capsys) -> tuple[int, str]:
    code = main(["play", *args, "--accept-challenges", "1", "--out", str(tmp_path / "never.jsonl")])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("policy, server, message", [
    ("random", "http://127.0.0.1:8000", "is not a websocket URL"),
    ("random", "closed port", "cannot connect to the Showdown server"),
    ("nonsense", "the server", "unknown policy 'nonsense'"),
    ("mixture:missing.json:strategy.json", "the server", "missing.json: file not found"),
])
def test_bad_url_or_unknown_policy_is_one_line_and_exit_2(showdown_server, tmp_path, capsys, policy, server, message):
    url = {"closed port": f"ws://127.0.0.1:{free_port()}/showdown/websocket",
           "the server": showdown_server.websocket_url}.get(server, server)
    code, output = play([policy, "--server", url, "--username", "ppbad"], tmp_path, capsys)
    assert code == 2
    assert output.startswith("error: ") and output.count("\n") == 1 and message in output
    assert not (tmp_path / "never.jsonl").exists()


@pytest.mark.parametrize("login_server", ["refusing", "unreachable"])
def test_a_refused_login_is_one_line_and_exit_2_and_never_shows_the_password(
        showdown_server, refusing_login_server, tmp_path, capsys, login_server):
    password_file = tmp_path / "password.txt"
    password_file.write_text(PASSWORD + "\n")
    url = refusing_login_server if login_server == "refusing" else f"http://127.0.0.1:{free_port()}/action.php?"
    RefusingLoginServer.received.clear()
    code, output = play(["random", "--server", showdown_server.websocket_url, "--username", "pplogin",
                         "--password-file", str(password_file), "--login-server", url], tmp_path, capsys)
    assert code == 2
    assert output.startswith("error: the server") and "refused the login of pplogin" in output
    assert output.count("\n") == 1
    assert PASSWORD not in output
    if login_server == "refusing":  # the password was really sent, to the login server alone
        assert PASSWORD in RefusingLoginServer.received[0]

"""Put a policy on a Showdown server: accept challenges (people play it on a local server) or ladder (a public
server rates it, which is how metamon reports strength).

One logged-in account, `ServerAgent`, plays one battle at a time. Each battle is played by a member Player drawn
for it (a Nash mixture draws from σ per battle; any other policy is its own only member) with a team drawn from
the team set; both draws and the member's own random draws derive from the seed and the battle's index. Every
finished battle is appended once to the record file in the arena's format (`policy_a`: the member that played,
`policy_b`: the opponent's name, `team_b`: null, as the opponent's team is its own), plus `agent`, `opponent`,
and the ratings the server announced for a rated battle. The password is read from a file; it is never printed
or logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

from poke_env.concurrency import POKE_LOOP
from poke_env.data import to_id_str
from poke_env.player import Player
from poke_env.ps_client.account_configuration import AccountConfiguration
from poke_env.ps_client.server_configuration import ServerConfiguration
from poke_env.teambuilder import Teambuilder

from pokepsro.battles.backend import build_record
from pokepsro.battles.direct import quiet_known_gen1_gaps
from pokepsro.battles.spec import BattleSpec, sample_members
from pokepsro.core.errors import UsageError
from pokepsro.core.files import append_jsonl, read_jsonl
from pokepsro.core.seeding import announce_battle_seed, derive_seed, player_seed
from pokepsro.gen1.teams import TeamSet
from pokepsro.metagame.mixture import load_mixture
from pokepsro.metagame.population import PolicyEntry, Population, player_factory

PUBLIC_LOGIN_SERVER = "https://play.pokemonshowdown.com/action.php?"
LOGIN_TIMEOUT_S = 30.0
MAX_USERNAME_LENGTH = 18  # Showdown's limit
MODES = ("challenges", "ladder")


def plan_battles(members: Population, sigma, team_set: TeamSet, n: int, seed: int,
                 start_index: int) -> list[BattleSpec]:
    """Battles `start_index` ... `start_index + n - 1`: the member (`policy_a`) and team drawn from the seed and
    the battle's index alone. The opponent and the seat are the server's to decide: filled in when it ends."""
    return [BattleSpec(index=index, policy_a=sample_members(members.names, sigma, 1,
                                                             derive_seed(seed, "play-member", index))[0],
                       policy_b="", a_seat="", team_a=team_set.draw(random.Random(derive_seed(seed, "play-team", index))),
                       team_b=None, seed=derive_seed(seed, "play", index))
            for index in range(start_index, start_index + n)]


def policy_members(policy: PolicyEntry) -> tuple[Population, list[float]]:
    """A mixture's members and σ; any other policy is its own only member."""
    if policy.kind == "mixture":
        members, sigma = load_mixture(policy)
        return members, [float(weight) for weight in sigma]
    return Population((policy,)), [1.0]


class PlannedTeams(Teambuilder):
    """poke-env asks for one team per challenge it accepts or ladder search it starts: the planned ones, in order."""

    def __init__(self, plans: list[BattleSpec]) -> None:
        self.teams: Iterator[str] = iter([plan.team_a.packed for plan in plans])

    def yield_team(self) -> str:
        return next(self.teams)


class ServerAgent(Player):
    """The account on the server; each battle is played by its planned member, battles taking the plans in the
    order they start (one battle at a time, so the order teams were handed out in)."""

    def __init__(self, *, agent_name: str, members: dict[str, Player], plans: list[BattleSpec],
                 on_record: Callable[[dict], None], **player_kwargs) -> None:
        super().__init__(team=PlannedTeams(plans), max_concurrent_battles=1, start_listening=False, **player_kwargs)
        self.agent_name = agent_name
        self.members = members
        self.plans = plans
        self.on_record = on_record
        self.started: dict[str, tuple[BattleSpec, float]] = {}

    def plan_of(self, battle) -> BattleSpec:
        tag = battle.battle_tag
        if tag not in self.started:
            plan = self.plans[len(self.started)]
            self.started[tag] = (plan, time.monotonic())
            announce_battle_seed(self.members[plan.policy_a], tag, player_seed(plan.seed, "a"))
        return self.started[tag][0]

    def choose_move(self, battle):
        return self.members[self.plan_of(battle).policy_a].choose_move(battle)

    def teampreview(self, battle):
        return self.members[self.plan_of(battle).policy_a].teampreview(battle)

    def _battle_finished_callback(self, battle) -> None:
        plan = self.plan_of(battle)
        self.members[plan.policy_a]._battle_finished_callback(battle)
        opponent = battle.opponent_username
        spec = dataclasses.replace(plan, policy_b=opponent, a_seat=battle.player_role)
        wall_s = time.monotonic() - self.started[battle.battle_tag][1]
        self.on_record({**build_record(spec, battle, self.format, "normal", wall_s), "agent": self.agent_name,
                        "opponent": opponent, **reported_ratings(battle, self.username)})


def reported_ratings(battle, username: str) -> dict:
    """Both ratings as the server announced them in a rated battle's `|player|` lines (None when unrated)."""
    ratings = {to_id_str(entry["username"]): int(entry["rating"])
               for entry in battle._players if str(entry.get("rating", "")).isdigit()}  # poke-env keeps them here
    own = to_id_str(username)
    return {"rating": ratings.get(own),
            "opponent_rating": next((rating for name, rating in ratings.items() if name != own), None)}


class LoginProblems(logging.Handler):
    """What the client logged while connecting and logging in: a failed connection, a refused name, a popup.

    An error (refused name, failed connection or login request) sets `refused` at once; the password, should a
    message ever repeat it, is masked.
    """

    def __init__(self, password: str | None) -> None:
        super().__init__(logging.WARNING)
        self.password = password
        self.messages: list[str] = []
        self.refused = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.note(record.getMessage(), refused=record.levelno >= logging.ERROR)

    def note(self, message: str, *, refused: bool) -> None:
        if self.password:
            message = message.replace(self.password, "***")
        self.messages.append(" ".join(message.split()))
        if refused:
            POKE_LOOP.call_soon_threadsafe(self.refused.set)

    def reason(self) -> str:
        return self.messages[0] if self.messages else "no reason given"


def check_server_url(url: str) -> str:
    parts = urlparse(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise UsageError(f"--server {url!r} is not a websocket URL; give one like "
                         "ws://127.0.0.1:8000/showdown/websocket or wss://sim3.psim.us/showdown/websocket")
    return url


def check_username(username: str) -> str:
    if not 1 <= len(username) <= MAX_USERNAME_LENGTH or not any(c.isalpha() for c in username):
        raise UsageError(f"--username {username!r}: a Showdown name has 1 to {MAX_USERNAME_LENGTH} characters, "
                         "at least one a letter")
    return username


def read_password(path: Path) -> str:
    """The first line of the password file (the error names the file, never its content)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"--password-file {path} cannot be read ({type(error).__name__}); "
                         "give a file holding the password on its first line") from None
    password = lines[0].strip() if lines else ""
    if not password:
        raise UsageError(f"--password-file {path} is empty; put the password on its first line")
    return password


def guard_client(agent: Player, problems: LoginProblems) -> None:
    """poke-env's login request raises inside a message handler, where nobody hears it: note it as a refused
    login. Errors of the other handlers poke-env has logged already; drop them there, or asyncio prints each
    again, traceback and all, as an exception that was never retrieved."""
    client = agent.ps_client
    log_in, handle_message = client.log_in, client._handle_message

    async def log_in_or_note(split_message):
        try:
            await log_in(split_message)
        except Exception as error:  # noqa: BLE001 - unreachable login server, or an answer that is not a login
            problems.note(f"the login request to {client.server_configuration.authentication_url} failed "
                          f"({type(error).__name__}: {error})", refused=True)

    async def handle_logged_message(message: str) -> None:
        with contextlib.suppress(Exception):
            await handle_message(message)

    client.log_in = log_in_or_note
    client._handle_message = handle_logged_message


def quiet_logger(player: Player, handler: logging.Handler) -> None:
    """The player's warnings go to `handler` alone (poke-env prints each to stderr, tracebacks included)."""
    logger = player.logger
    for existing in list(logger.handlers):
        logger.removeHandler(existing)
    logger.setLevel(logging.WARNING)
    logger.addFilter(quiet_known_gen1_gaps)
    logger.addHandler(handler)


def play_on_server(policy: PolicyEntry, *, server_url: str, username: str, password: str | None,
                   login_server: str | None, mode: str, battles: int, team_set: TeamSet, battle_format: str, seed: int,
                   record_path: Path, announce: Callable[[str], None] = print) -> list[dict]:
    """Log in as `username` and play `battles` battles (accepted challenges or ladder games); returns their
    records, each also appended to `record_path` when its battle ends (indices continue an existing file)."""
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    members, sigma = policy_members(policy)
    factories = {name: player_factory(members[name]) for name, weight in zip(members.names, sigma) if weight > 0}
    check_server_url(server_url)
    check_username(username)
    start_index = len(read_jsonl(record_path)) if record_path.exists() else 0
    plans = plan_battles(members, sigma, team_set, battles, seed, start_index)
    stderr = logging.StreamHandler(sys.stderr)
    member_players = {name: factory(account_configuration=AccountConfiguration(f"{name}@{username}", None),
                                    battle_format=battle_format, max_concurrent_battles=0, start_listening=False)
                      for name, factory in factories.items()}
    for player in member_players.values():
        quiet_logger(player, stderr)
    records: list[dict] = []

    def keep(record: dict) -> None:
        append_jsonl(record_path, [record])
        records.append(record)
        rating = f", rating {record['rating']}" if record["rating"] is not None else ""
        announce(f"battle {len(records)}/{battles} against {record['opponent']}: {record['result_a']} "
                 f"({record['policy_a']}, {record['turns']} turns{rating})")

    agent = ServerAgent(agent_name=policy.name, members=member_players, plans=plans, on_record=keep,
                        account_configuration=AccountConfiguration(username, password), battle_format=battle_format,
                        server_configuration=ServerConfiguration(server_url, login_server or PUBLIC_LOGIN_SERVER))
    problems = LoginProblems(password)
    quiet_logger(agent, problems)
    guard_client(agent, problems)
    session = asyncio.run_coroutine_threadsafe(
        serve(agent, problems, stderr, mode=mode, battles=battles, server_url=server_url, announce=announce),
        POKE_LOOP)
    try:
        session.result()
    except BaseException:
        session.cancel()
        raise
    return records


async def serve(agent: ServerAgent, problems: LoginProblems, stderr: logging.Handler, *, mode: str, battles: int,
                server_url: str, announce: Callable[[str], None]) -> None:
    """Connect, log in, play; a failed connection or login is one UsageError, and the websocket is closed after."""
    client = agent.ps_client
    client._listening_coroutine = asyncio.run_coroutine_threadsafe(client.listen(), POKE_LOOP)
    connection = asyncio.wrap_future(client._listening_coroutine)
    try:
        await logged_in(agent, problems, connection, server_url)
        agent.logger.removeHandler(problems)
        agent.logger.addHandler(stderr)  # from now on the client's warnings are worth seeing
        announce(f"logged in as {agent.username} on {server_url}; "
                 + (f"waiting for {battles} challenges in {agent.format}" if mode == "challenges"
                    else f"laddering {battles} games of {agent.format}"))
        play = asyncio.ensure_future(agent.accept_challenges(None, battles) if mode == "challenges"
                                     else agent.ladder(battles))
        try:
            done, _ = await asyncio.wait({play, connection}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # interrupted
            play.cancel()
            raise
        if play not in done:
            play.cancel()
            raise UsageError(f"the server {server_url} closed the connection after {agent.n_finished_battles} of "
                             f"{battles} battles; the finished ones are recorded")
        play.result()
    finally:
        agent.logger.setLevel(logging.CRITICAL)  # poke-env logs its own closing as a warning
        if not connection.done() and hasattr(client, "websocket"):
            await client.websocket.close()
        client._listening_coroutine.cancel()


async def logged_in(agent: Player, problems: LoginProblems, connection: asyncio.Future, server_url: str) -> None:
    client = agent.ps_client
    waits = {asyncio.ensure_future(client.logged_in.wait()), asyncio.ensure_future(problems.refused.wait())}
    try:
        await asyncio.wait({*waits, connection}, timeout=LOGIN_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
    if client.logged_in.is_set():
        return
    if connection.done():
        raise UsageError(f"cannot connect to the Showdown server {server_url} ({problems.reason()}); check --server")
    if problems.refused.is_set():
        raise UsageError(f"the server {server_url} refused the login of {agent.username}: {problems.reason()}; "
                         "check --username, --password-file and --login-server")
    raise UsageError(f"no login as {agent.username} on {server_url} within {LOGIN_TIMEOUT_S:.0f} s "
                     f"({problems.reason()}); check --server and --username")

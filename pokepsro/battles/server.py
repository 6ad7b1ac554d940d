"""The server backend: battles on a local Showdown server, played by poke-env Players over websockets.

`play_all` plays the pending battles in `concurrency` lanes; a lane owns its own poke-env Players (one per side
and policy, `max_concurrent_battles=1`) and plays one battle at a time, so the finished battle of each side is
known without guessing. A battle past the turn limit or the wall-time limit is forfeited and recorded as a tie; a
battle cut by a dying server is replayed after a restart. Records are kept as in every backend
(`battles.backend`); `battles.api.run_battles` chooses this backend and resumes from the record file.

All network work runs in poke-env's own event loop (`POKE_LOOP`, a background thread); `play_all` blocks the
calling thread until every battle is recorded. It is the cross-check of the direct backend, and the way to play
on a ladder.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import inspect
import itertools
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from poke_env.concurrency import POKE_LOOP
from poke_env.data import to_id_str
from poke_env.player import Player
from poke_env.ps_client.account_configuration import AccountConfiguration
from websockets.exceptions import ConnectionClosed

from pokepsro.battles.backend import (
    ArenaSettings,
    FinishedSide,
    build_record,
    enforce_turn_limit,
    keep_record,
    progress_bar,
)
from pokepsro.battles.showdown import ShowdownServer
from pokepsro.battles.spec import BattleSpec
from pokepsro.core.seeding import announce_battle_seed, player_seed

if TYPE_CHECKING:
    from poke_env.battle.abstract_battle import AbstractBattle

LOGGER = logging.getLogger(__name__)
START_TIMEOUT_S = 30.0         # challenge -> both sides see the battle; longer means something is broken
FORFEIT_GRACE_S = 10.0         # a forfeit that does not end the battle by then leaves the lane's players stuck
WATCHDOG_INTERVAL_S = 0.25
MAX_ATTEMPTS_PER_BATTLE = 3    # start failures / dropped connections before giving up on one battle
MAX_SERVER_RESTARTS = 3
MAX_PLAYERS_PER_LANE = 8       # idle players beyond this are disconnected (least recently used first)


def play_all(pending: list[BattleSpec], settings: ArenaSettings, server: ShowdownServer, progress: bool,
             total: int) -> dict[int, dict]:
    """Play `pending` in rounds; a round ends when all are recorded or the server died (then restart it)."""
    arena = Arena(settings, server)
    bar = progress_bar(total, len(pending), progress)
    try:
        for restarts in itertools.count():
            remaining = [spec for spec in pending if spec.index not in arena.records]
            if not remaining:
                return arena.records
            if restarts > 0:
                if restarts > MAX_SERVER_RESTARTS:
                    raise RuntimeError(f"Showdown server died {restarts} times; {len(remaining)} battles left "
                                       f"unplayed (see {server.log_path})")
                LOGGER.warning("Showdown server died (%d battles left): restarting it (restart %d of at most %d)",
                               len(remaining), restarts, MAX_SERVER_RESTARTS)
                server.restart()
            arena.play_round(remaining, bar)
    finally:
        bar.close()


class ServerLost(Exception):
    """The server process died: the battle in flight is dropped and replayed after a restart."""


class PlayerLost(Exception):
    """A player's websocket closed while the server lives: the lane rebuilds its players and retries."""


class BattleStartFailed(Exception):
    """The challenge did not turn into a battle (refused team, lost challenge): retried with fresh players."""


class Arena:
    """Shared state of one `run_battles` call: settings, the server, records, retry counts."""

    def __init__(self, settings: ArenaSettings, server: ShowdownServer) -> None:
        self.settings = settings
        self.server = server
        self.records: dict[int, dict] = {}
        self.attempts: collections.Counter[int] = collections.Counter()
        self.run_token = secrets.token_hex(3)
        self.usernames = itertools.count()
        self.server_down: asyncio.Event | None = None
        self.bar = None

    def play_round(self, specs: list[BattleSpec], bar) -> None:
        """Block until the round's coroutine (in POKE_LOOP) ends; an interrupt cancels it."""
        self.bar = bar
        future = asyncio.run_coroutine_threadsafe(self._round(specs), POKE_LOOP)
        try:
            future.result()
        except BaseException:
            future.cancel()
            raise

    def username(self, lane: int, side: str) -> str:
        """Unique within the server and short (Showdown names have at most 18 characters)."""
        return f"pp{self.run_token}l{lane}{side}{next(self.usernames)}"

    async def _round(self, specs: list[BattleSpec]) -> None:
        self.server_down = asyncio.Event()
        queue = collections.deque(specs)
        lanes = [Lane(self, number, queue) for number in range(min(self.settings.concurrency, len(specs)))]
        watchdog = asyncio.create_task(self._watch_server())
        tasks = [asyncio.create_task(lane.run()) for lane in lanes]
        try:
            await asyncio.gather(*tasks)
        finally:
            watchdog.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(watchdog, *tasks, return_exceptions=True)
            await asyncio.gather(*(lane.close_players() for lane in lanes), return_exceptions=True)

    async def _watch_server(self) -> None:
        while self.server.alive():
            await asyncio.sleep(WATCHDOG_INTERVAL_S)
        self.server_down.set()

    def count_attempt(self, spec: BattleSpec, reason: Exception) -> None:
        self.attempts[spec.index] += 1
        if self.attempts[spec.index] >= MAX_ATTEMPTS_PER_BATTLE:
            raise RuntimeError(f"battle {spec.index} ({spec.policy_a} vs {spec.policy_b}) failed "
                               f"{MAX_ATTEMPTS_PER_BATTLE} times; last: {reason}") from reason
        LOGGER.warning("battle %d: %s; retrying with fresh players", spec.index, reason)

    def finish(self, spec: BattleSpec, side_a: FinishedSide, side_b: FinishedSide, record: dict) -> None:
        keep_record(self.settings, self.records, spec, side_a, side_b, record)
        self.bar.update(1)


class PopupCollector(logging.Handler):
    """Keeps the server popups a player's client logs (refused team, refused challenge) and signals them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.popups: list[str] = []
        self.arrived = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Popup message received"):
            self.popups.append(message.split("|popup|", 1)[-1].replace("||", " "))
            self.arrived.set()

    def clear(self) -> None:
        self.popups.clear()
        self.arrived.clear()


@dataclass
class LanePlayer:
    """A Player plus what the lane watches on it: popups and the end of its websocket."""

    player: Player
    popups: PopupCollector
    disconnected: asyncio.Event
    failures: list[BaseException]
    failed: asyncio.Event
    turn_limited: set[str] = field(default_factory=set)

    @property
    def user_id(self) -> str:
        return to_id_str(self.player.username)


class Lane:
    """Plays battles one after another with its own players, taking specs from the round's queue."""

    def __init__(self, arena: Arena, number: int, queue: collections.deque[BattleSpec]) -> None:
        self.arena = arena
        self.number = number
        self.queue = queue
        self.players: collections.OrderedDict[tuple[str, str], LanePlayer] = collections.OrderedDict()

    async def run(self) -> None:
        while self.queue and not self.arena.server_down.is_set():
            spec = self.queue.popleft()
            try:
                finished_a, finished_b, record, healthy = await self.play(spec)
            except ServerLost:
                return
            except (PlayerLost, BattleStartFailed, ConnectionClosed) as problem:
                if not self.arena.server.alive():  # the watchdog has not noticed yet
                    self.arena.server_down.set()
                    return
                self.arena.count_attempt(spec, problem)
                await self.close_players()
                self.queue.appendleft(spec)
                continue
            self.arena.finish(spec, finished_a, finished_b, record)
            if not healthy:
                await self.close_players()

    async def play(self, spec: BattleSpec) -> tuple[FinishedSide, FinishedSide, dict, bool]:
        """One battle from challenge to record; `healthy` is False when its players are left stuck."""
        settings = self.arena.settings
        side_a = await self.player("a", spec.policy_a)
        side_b = await self.player("b", spec.policy_b)
        # Each side's own draws come from the battle's seed; the tag is known only once it started, and a lane's
        # players play one battle at a time, so the seed is for their next battle.
        announce_battle_seed(side_a.player, None, player_seed(spec.seed, "a"))
        announce_battle_seed(side_b.player, None, player_seed(spec.seed, "b"))
        started = time.monotonic()
        battle_a, battle_b = await self.start(spec, side_a, side_b)
        remaining = max(0.0, started + settings.battle_timeout_s - time.monotonic())
        end, healthy = "normal", True
        try:
            await self.until(both_finished(side_a, battle_a, side_b, battle_b), remaining, side_a, side_b)
        except asyncio.TimeoutError:
            end = "timeout"
            healthy = await self.forfeit(side_a, battle_a, side_b, battle_b)
        if end == "normal" and battle_a.battle_tag in side_a.turn_limited | side_b.turn_limited:
            end = "turn_limit"
        record = build_record(spec, battle_a, settings.battle_format, end, time.monotonic() - started)
        return FinishedSide(side_a.player, battle_a), FinishedSide(side_b.player, battle_b), record, healthy

    async def start(self, spec: BattleSpec, side_a: LanePlayer, side_b: LanePlayer
                    ) -> tuple[AbstractBattle, AbstractBattle]:
        """Challenge (p1) and accept (p2) with this battle's teams; return each side's new battle object."""
        a_is_p1 = spec.a_seat == "p1"
        challenger, acceptor = (side_a, side_b) if a_is_p1 else (side_b, side_a)
        challenger_team, acceptor_team = ((spec.team_a, spec.team_b) if a_is_p1 else (spec.team_b, spec.team_a))
        known_a, known_b = set(side_a.player.battles), set(side_b.player.battles)
        drain(acceptor.player._challenge_queue)  # stale repeats of earlier challenges
        for side in (side_a, side_b):
            side.popups.clear()
        timeout = min(START_TIMEOUT_S, self.arena.settings.battle_timeout_s)
        try:
            await self.until(both_logged_in(side_a, side_b), timeout, side_a, side_b)
            await challenger.player.ps_client.challenge(acceptor.user_id, self.arena.settings.battle_format,
                                                        challenger_team.packed)
            await self.until(challenge_from(acceptor, challenger.user_id), timeout, side_a, side_b,
                             popups_fail=True)
            await acceptor.player.ps_client.accept_challenge(challenger.user_id, acceptor_team.packed)
            battle_a, battle_b = await self.until(
                asyncio.gather(new_battle(side_a, known_a), new_battle(side_b, known_b)), timeout, side_a, side_b,
                popups_fail=True)
        except asyncio.TimeoutError:
            raise BattleStartFailed(f"no battle started within {timeout:.0f} s") from None
        if battle_a.battle_tag != battle_b.battle_tag:
            raise BattleStartFailed(f"sides joined different battles ({battle_a.battle_tag}, {battle_b.battle_tag})")
        return battle_a, battle_b

    async def forfeit(self, side_a: LanePlayer, battle_a: AbstractBattle, side_b: LanePlayer,
                      battle_b: AbstractBattle) -> bool:
        """End a battle past its wall-time limit; True when it really ended (the players are reusable)."""
        try:
            await side_a.player.ps_client.send_message("/forfeit", battle_a.battle_tag)
            await self.until(both_finished(side_a, battle_a, side_b, battle_b), FORFEIT_GRACE_S, side_a, side_b)
            return True
        except (asyncio.TimeoutError, PlayerLost, ConnectionClosed):
            return False

    async def until(self, awaitable, timeout: float, *sides: LanePlayer, popups_fail: bool = False):
        """Await `awaitable` within `timeout`, unless the server dies or a side's websocket closes first.

        With `popups_fail`, a server popup to either side (refused team or challenge) fails it at once.
        """
        work = asyncio.ensure_future(awaitable)
        alarms = {asyncio.ensure_future(self.arena.server_down.wait()): lambda: ServerLost("Showdown server died")}
        for side in sides:
            alarms[asyncio.ensure_future(side.disconnected.wait())] = functools.partial(
                PlayerLost, f"websocket of {side.player.username} closed")
            alarms[asyncio.ensure_future(side.failed.wait())] = functools.partial(player_failure, side)
            if popups_fail:
                alarms[asyncio.ensure_future(side.popups.arrived.wait())] = functools.partial(
                    popup_failure, side)
        try:
            done, _ = await asyncio.wait({work, *alarms}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in (work, *alarms):
                if not future.done():
                    future.cancel()
        if work in done:
            return work.result()
        for alarm, problem in alarms.items():
            if alarm in done:
                raise problem()
        raise asyncio.TimeoutError

    async def player(self, side: str, policy: str) -> LanePlayer:
        """This lane's player for `policy` on `side` (self-play gets two distinct Players), made on first use."""
        key = (side, policy)
        if key in self.players:
            self.players.move_to_end(key)
            return self.players[key]
        if len(self.players) >= MAX_PLAYERS_PER_LANE:
            _, evicted = self.players.popitem(last=False)
            await close_player(evicted)
        settings = self.arena.settings
        player = settings.players[policy](
            account_configuration=AccountConfiguration(self.arena.username(self.number, side), None),
            battle_format=settings.battle_format,
            server_configuration=self.arena.server.server_configuration,
            max_concurrent_battles=1,
        )
        lane_player = LanePlayer(player, PopupCollector(), watch_disconnect(player), *watch_failures(player))
        player.logger.setLevel(logging.WARNING)  # popups are logged at WARNING; the lane must see them
        player.logger.addHandler(lane_player.popups)
        enforce_turn_limit(player, settings.max_turns, lane_player.turn_limited)
        self.players[key] = lane_player
        return lane_player

    async def close_players(self) -> None:
        players, self.players = list(self.players.values()), collections.OrderedDict()
        await asyncio.gather(*(close_player(p) for p in players), return_exceptions=True)


# -- helpers on poke-env players and battles -----------------------------------------------------------------

def watch_failures(player: Player) -> tuple[list[BaseException], asyncio.Event]:
    """Errors raised by the player's choose_move, and an event set on the first one.

    poke-env only logs such an error and the battle would stall until its timeout; the lane fails the run
    at once instead, naming the player and the error.
    """
    failures: list[BaseException] = []
    failed = asyncio.Event()
    loop = asyncio.get_running_loop()
    choose_move = player.choose_move

    def fail(error: BaseException) -> None:
        failures.append(error)
        loop.call_soon_threadsafe(failed.set)

    async def awaited(choice):
        try:
            return await choice
        except Exception as error:
            fail(error)
            raise

    def checked(battle):
        try:
            choice = choose_move(battle)
        except Exception as error:
            fail(error)
            raise
        return awaited(choice) if inspect.isawaitable(choice) else choice

    player.choose_move = checked
    return failures, failed


def player_failure(side: LanePlayer) -> RuntimeError:
    error = side.failures[0]
    return RuntimeError(f"{type(side.player).__name__} ({side.player.username}) failed choosing a move: {error!r}")


def watch_disconnect(player: Player) -> asyncio.Event:
    """An event set when the player's listening coroutine (its websocket) ends."""
    disconnected = asyncio.Event()
    loop = asyncio.get_running_loop()
    player.ps_client._listening_coroutine.add_done_callback(lambda _: loop.call_soon_threadsafe(disconnected.set))
    return disconnected


async def close_player(side: LanePlayer) -> None:
    """Close the websocket quietly (poke-env logs every close as a warning)."""
    side.player.logger.setLevel(logging.ERROR)
    client = side.player.ps_client
    if side.disconnected.is_set():
        return
    if hasattr(client, "websocket"):
        await client.websocket.close()
    else:
        client._listening_coroutine.cancel()


def popup_failure(side: LanePlayer) -> BattleStartFailed:
    return BattleStartFailed(f"server popup to {side.player.username}: " + " / ".join(side.popups.popups))


def drain(queue: asyncio.Queue) -> None:
    while not queue.empty():
        queue.get_nowait()


async def both_logged_in(*sides: LanePlayer) -> None:
    await asyncio.gather(*(side.player.ps_client.logged_in.wait() for side in sides))


async def challenge_from(acceptor: LanePlayer, challenger_id: str) -> None:
    while to_id_str(await acceptor.player._challenge_queue.get()) != challenger_id:
        pass


async def new_battle(side: LanePlayer, known: set[str]) -> AbstractBattle:
    """The battle object the player creates for its next battle (it plays one at a time)."""
    player = side.player
    condition = player._battle_start_condition
    async with condition:
        await condition.wait_for(lambda: set(player.battles) - known)
    (tag,) = set(player.battles) - known
    return player.battles[tag]


async def battle_finished(side: LanePlayer, battle: AbstractBattle) -> None:
    condition = side.player._battle_end_condition
    async with condition:
        await condition.wait_for(lambda: battle.finished)


async def both_finished(side_a: LanePlayer, battle_a: AbstractBattle, side_b: LanePlayer,
                        battle_b: AbstractBattle) -> None:
    await asyncio.gather(battle_finished(side_a, battle_a), battle_finished(side_b, battle_b))



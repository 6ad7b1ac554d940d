"""The direct battle backend: battles in a simulator process, with no Showdown server and no websocket.

The simulator is one Node process (`pokepsro/battles/js/battle_host.js`) running many battles at once through the
simulator's `BattleStream`. It sends each side exactly what a server would send that side (its view of the
battle log, its requests and errors), tagged by battle and seat, as JSON lines on stdout; choices go back on
stdin. On the Python side the messages feed the real poke-env `Player` objects through their own
`_handle_battle_message`, and the order a player hands to `ps_client.send_message` is routed to the
simulator instead of a websocket. So any poke-env Player's `choose_move` (baselines, user players, batched neural
players, recording wrappers) runs unchanged, and battle state is parsed by poke-env itself.

One Player per side and policy plays all its battles concurrently (its battles are keyed by tag). Battles are
seeded with their spec's seed. Records, callbacks and limits are those of every backend (`battles.backend`): a
battle past the turn limit or the wall-time limit is forfeited and recorded as a tie; a battle cut by a dying
simulator is replayed on a fresh one; each battle is recorded exactly once. One such arena runs in the calling
process (`workers: 1`), in each worker process of `pokepsro.battles.worker_pool`, or in each rollout worker of
the PPO oracle (`pokepsro.learning.oracle.rollouts`).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import functools
import itertools
import logging
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import orjson
from poke_env.concurrency import POKE_LOOP
from poke_env.player import Player
from poke_env.ps_client.account_configuration import AccountConfiguration

from pokepsro.battles.backend import (
    ArenaSettings,
    FinishedSide,
    build_record,
    enforce_turn_limit,
    keep_record,
    progress_bar,
)
from pokepsro.battles.spec import BattleSpec
from pokepsro.core.errors import SetupError
from pokepsro.core.seeding import announce_battle_seed, forget_battle_seed, player_seed
from pokepsro.gen1.simulator import check_showdown_install, node_executable, showdown_root

LOGGER = logging.getLogger(__name__)
HOST_SCRIPT = Path(__file__).resolve().parent / "js" / "battle_host.js"
HOST_READY_TIMEOUT_S = 30.0
FORFEIT_GRACE_S = 10.0        # a forfeit that has not ended the battle by then: record it anyway
MAX_SIMULATOR_RESTARTS = 3    # per run
MAX_CRASHES_PER_BATTLE = 3    # the simulator threw inside the same battle this often: give up
READ_CHUNK_BYTES = 1 << 16
STDERR_TAIL_CHARS = 2000
SHUTDOWN_WAIT_S = 5.0
OTHER_SEAT = {"p1": "p2", "p2": "p1"}


def play_direct(pending: list[BattleSpec], settings: ArenaSettings, progress: bool, total: int,
                feed: SpecFeed | None = None) -> dict[int, dict]:
    """Play `pending` (then what `feed` hands out) on one simulator process; block until all are recorded."""
    bar = progress_bar(total, len(pending), progress)
    arena = DirectArena(settings, host_command(), bar, feed)
    future = asyncio.run_coroutine_threadsafe(arena.run(pending), POKE_LOOP)
    try:
        future.result()
    except BaseException:
        future.cancel()  # the run's own clean-up stops the simulator; give it a moment
        concurrent.futures.wait([future], timeout=SHUTDOWN_WAIT_S)
        raise
    finally:
        bar.close()
    return arena.records


def host_command() -> tuple[str, ...]:
    """The command starting one battle host (checks the Showdown install first)."""
    root = showdown_root()
    check_showdown_install(root)
    # A larger young generation: the simulator allocates many short-lived objects per turn, and fewer
    # scavenges cut its CPU per turn by 3-5 % (benchmarks/battle_throughput.py) for ~100 MB more memory.
    return (node_executable(), "--max-semi-space-size=64", str(HOST_SCRIPT), str(root))


class SimulatorProcess:
    """One `battle_host.js` process: JSON lines in, JSON lines out, stderr kept for error messages."""

    def __init__(self, command: tuple[str, ...], number: int, dispatch, on_lost) -> None:
        self.command = command
        self.number = number
        self.dispatch = dispatch
        self.on_lost = on_lost
        self.process: asyncio.subprocess.Process | None = None
        self.ready = asyncio.Event()
        self.stderr_tail = ""
        self.stopping = False
        self._outbox: list[bytes] = []
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *self.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True)  # Ctrl-C reaches Python, which stops it
        self._tasks = [asyncio.create_task(self._read_stdout()), asyncio.create_task(self._read_stderr())]
        try:
            await asyncio.wait_for(self.ready.wait(), HOST_READY_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise SetupError(f"the battle host did not start within {HOST_READY_TIMEOUT_S:.0f} s: "
                             f"{self.stderr_tail.strip() or 'no output'}") from None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def send(self, command: dict) -> None:
        """Queue a command; all commands of one event-loop turn go out in one write."""
        if not self._outbox:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outbox.append(orjson.dumps(command))

    def _flush(self) -> None:
        commands, self._outbox = self._outbox, []
        if self.process is not None and self.process.returncode is None and not self.process.stdin.is_closing():
            self.process.stdin.write(b"\n".join(commands) + b"\n")

    async def stop(self) -> None:
        """Close stdin (the host exits), kill it if it lingers, and reap it."""
        self.stopping = True
        if self.process is None:
            return
        if self.process.returncode is None:
            self.process.stdin.close()
            try:
                await asyncio.wait_for(self.process.wait(), SHUTDOWN_WAIT_S)
            except asyncio.TimeoutError:
                self.process.kill()
                await self.process.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _read_stdout(self) -> None:
        pending = b""
        while True:
            chunk = await self.process.stdout.read(READ_CHUNK_BYTES)
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                tag, kind, payload = orjson.loads(line)
                if tag == "" and kind == "ready":
                    self.ready.set()
                else:
                    self.dispatch(self, tag, kind, payload)
        await self.process.wait()
        if not self.stopping:
            self.on_lost(self)

    async def _read_stderr(self) -> None:
        while True:
            chunk = await self.process.stderr.read(READ_CHUNK_BYTES)
            if not chunk:
                return
            self.stderr_tail = (self.stderr_tail + chunk.decode(errors="replace"))[-STDERR_TAIL_CHARS:]


@dataclass
class Seat:
    """One side of a battle: its Player and the messages it has yet to read, in order."""

    player: Player
    inbox: collections.deque[str] = field(default_factory=collections.deque)
    reading: bool = False


@dataclass
class DirectBattle:
    spec: BattleSpec
    tag: str
    simulator: SimulatorProcess
    seats: dict[str, Seat]
    started: float
    end: str = "normal"
    timer: asyncio.TimerHandle | None = None
    over: bool = False

    def seat_of(self, player: Player) -> str | None:
        for name, seat in self.seats.items():
            if seat.player is player:
                return name
        return None

    def players(self) -> tuple[Player, Player]:
        """Side A's and side B's Player."""
        return self.seats[self.spec.a_seat].player, self.seats[OTHER_SEAT[self.spec.a_seat]].player

    def battle_objects(self) -> tuple:
        """Side A's and side B's poke-env battle objects (None until that side's first message)."""
        return tuple(player._battles.get(self.tag) for player in self.players())


class SpecFeed(Protocol):
    """Where a battle worker process (`battles.battle_worker`) gets its battles from and sends its records to."""

    exhausted: bool

    def top_up(self, held: int) -> None:
        """Ask for more battles when fewer than wanted are queued or in flight (`held`)."""

    def recorded(self, record: dict) -> None:
        """Hand one battle's record on (its callback has run)."""


class DirectArena:
    """State of one direct run: its simulator, players, battles in flight, records; all in poke-env's loop."""

    def __init__(self, settings: ArenaSettings, command: tuple[str, ...], bar, feed: SpecFeed | None = None) -> None:
        self.settings = settings
        self.feed = feed
        self.command = command
        self.bar = bar
        self.records: dict[int, dict] = {}
        self.queue: collections.deque[BattleSpec] = collections.deque()
        self.battles: dict[str, DirectBattle] = {}
        self.players: dict[tuple[str, str], Player] = {}
        self.turn_limited: set[str] = set()
        self.launches: collections.Counter[int] = collections.Counter()
        self.crashes: collections.Counter[int] = collections.Counter()
        self.simulator: SimulatorProcess | None = None
        self.simulator_numbers = itertools.count()
        self.restarts = 0
        self.simulator_errors = 0
        self.run_token = secrets.token_hex(3)
        self.failure: BaseException | None = None
        self.done: asyncio.Event | None = None
        self.tasks: set[asyncio.Task] = set()  # the loop keeps only weak references to tasks

    # -- the run ----------------------------------------------------------------------------------------------

    async def run(self, pending: list[BattleSpec]) -> None:
        self.done = asyncio.Event()
        self.queue.extend(pending)
        try:
            self.simulator = self.new_simulator()
            await self.simulator.start()
            self.launch_more()
            await self.done.wait()
        finally:
            if self.simulator is not None:
                await self.simulator.stop()
        if self.failure is not None:
            raise self.failure

    def new_simulator(self) -> SimulatorProcess:
        return SimulatorProcess(self.command, next(self.simulator_numbers), self.dispatch, self.simulator_lost)

    def spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def fail(self, failure: BaseException) -> None:
        if self.failure is None:
            self.failure = failure
        self.done.set()

    def launch_more(self) -> None:
        """Start queued battles on the simulator (once it is ready), up to `concurrency` in flight."""
        simulator = self.simulator
        if simulator is None or not simulator.ready.is_set() or simulator.stopping:
            return
        while self.queue and len(self.battles) < self.settings.concurrency and self.failure is None:
            self.launch(self.queue.popleft(), simulator)
        if self.feed is not None and self.failure is None:
            self.feed.top_up(len(self.queue) + len(self.battles))
        if not self.queue and not self.battles and (self.feed is None or self.feed.exhausted):
            self.done.set()

    def receive(self, specs: list[BattleSpec]) -> None:
        """More battles from the feed (an empty list once the feed is exhausted)."""
        self.queue.extend(specs)
        self.launch_more()

    def launch(self, spec: BattleSpec, simulator: SimulatorProcess) -> None:
        settings = self.settings
        tag = f"battle-{settings.battle_format}-{self.run_token}-{spec.index}-{self.launches[spec.index]}"
        self.launches[spec.index] += 1
        seat_b = OTHER_SEAT[spec.a_seat]
        seats = {spec.a_seat: Seat(self.player("a", spec.policy_a)), seat_b: Seat(self.player("b", spec.policy_b))}
        teams = {spec.a_seat: spec.team_a, seat_b: spec.team_b}
        for side, seat_name in (("a", spec.a_seat), ("b", seat_b)):  # each side's own draws: from the battle's seed
            announce_battle_seed(seats[seat_name].player, tag, player_seed(spec.seed, side))
        battle = DirectBattle(spec, tag, simulator, seats, time.monotonic())
        battle.timer = asyncio.get_running_loop().call_later(settings.battle_timeout_s, self.expire, battle)
        self.battles[tag] = battle
        simulator.send({"start": tag, "format": settings.battle_format, "seed": spec.seed,
                     **{name: {"name": seats[name].player.username, "team": teams[name].packed}
                        for name in ("p1", "p2")}})

    def player(self, side: str, policy: str) -> Player:
        """The run's Player for `policy` on `side` (self-play gets two), made on first use, never connected."""
        key = (side, policy)
        if key not in self.players:
            player = self.settings.players[policy](
                account_configuration=AccountConfiguration(f"pd{self.run_token}{side}{len(self.players)}", None),
                battle_format=self.settings.battle_format, max_concurrent_battles=0, start_listening=False)
            player.logger.setLevel(logging.WARNING)
            player.logger.addFilter(quiet_known_gen1_gaps)
            player.ps_client.send_message = functools.partial(self.send_order, player)
            enforce_turn_limit(player, self.settings.max_turns, self.turn_limited)
            if side == "a" and self.settings.on_turn is not None:
                self.report_turns(player)
            self.players[key] = player
        return self.players[key]

    def report_turns(self, player: Player) -> None:
        """Tell `settings.on_turn` the turn of each decision `player` makes (a lower bound of the battle's length)."""
        choose_move = player.choose_move

        def choose_and_report(battle):
            running = self.battles.get(battle.battle_tag)
            if running is not None:
                self.settings.on_turn(running.spec, battle.turn)
            return choose_move(battle)

        player.choose_move = choose_and_report

    # -- messages from the simulator--------------------------------------------------------------------------

    def dispatch(self, simulator: SimulatorProcess, tag: str, kind: str, payload) -> None:
        battle = self.battles.get(tag)
        if battle is None or battle.simulator is not simulator:
            return  # a battle already recorded or dropped
        if kind in battle.seats:
            self.deliver(battle, kind, payload)
        elif kind == "refused":
            self.fail(RuntimeError(f"battle {battle.spec.index}: the simulator's validator refused a team for "
                                   f"{self.settings.battle_format}: {'; '.join(payload)}"))
        elif kind == "crashed":
            self.battle_crashed(battle, payload)
        # "end": the battle is recorded once both players have read their |win| or |tie| line

    def deliver(self, battle: DirectBattle, seat_name: str, text: str) -> None:
        if "|error|" in text:
            self.simulator_errors += 1
            LOGGER.warning("simulator error in battle %d (%s): %s", battle.spec.index, seat_name,
                           text[text.index("|error|"):].split("\n", 1)[0])
        seat = battle.seats[seat_name]
        seat.inbox.append(text)
        if not seat.reading:
            seat.reading = True
            self.spawn(self.read_inbox(battle, seat))

    async def read_inbox(self, battle: DirectBattle, seat: Seat) -> None:
        """Feed the seat's messages, in order, to its Player exactly as its websocket client would."""
        try:
            while seat.inbox:
                text = seat.inbox.popleft()
                await seat.player._handle_battle_message(
                    [line.split("|") for line in f">{battle.tag}\n{text}".split("\n")])
        except Exception as error:
            LOGGER.exception("player failed in battle %d", battle.spec.index)
            self.fail(RuntimeError(f"battle {battle.spec.index}: {type(seat.player).__name__} failed: {error!r}"))
            return
        finally:
            seat.reading = False
        self.finish_if_over(battle)

    async def send_order(self, player: Player, message: str, room: str = "", message_2: str | None = None) -> None:
        """Stands in for the player's `ps_client.send_message`: orders go to the battle's simulator."""
        battle = self.battles.get(room)
        seat_name = battle.seat_of(player) if battle is not None else None
        if seat_name is None:
            return  # /leave after the end, or an order for a battle already recorded or dropped
        if message.startswith("/choose "):
            battle.simulator.send({"choose": room, "side": seat_name, "choice": message[len("/choose "):]})
        elif message.startswith("/team "):
            battle.simulator.send({"choose": room, "side": seat_name, "choice": message[1:]})
        elif message == "/forfeit":
            battle.simulator.send({"forfeit": room, "side": seat_name})
        # anything else (/timer, /leave, open team sheets) has no meaning without a server

    # -- ends ---------------------------------------------------------------------------------------------------

    def finish_if_over(self, battle: DirectBattle) -> None:
        if battle.over:
            return
        battle_a, battle_b = battle.battle_objects()
        if battle_a is not None and battle_b is not None and battle_a.finished and battle_b.finished:
            self.finish(battle, battle_a, battle_b)

    def finish(self, battle: DirectBattle, battle_a, battle_b) -> None:
        end = battle.end
        if end == "normal" and battle.tag in self.turn_limited:
            end = "turn_limit"
        self.forget(battle)
        record = build_record(battle.spec, battle_a, self.settings.battle_format, end,
                              time.monotonic() - battle.started)
        player_a, player_b = battle.players()
        try:
            keep_record(self.settings, self.records, battle.spec, FinishedSide(player_a, battle_a),
                        FinishedSide(player_b, battle_b), record)
        except Exception as error:  # noqa: BLE001 - the caller's callback failed: stop the run with its error
            self.fail(error)
            return
        if self.feed is not None:
            self.feed.recorded(record)
        self.bar.update(1)
        self.launch_more()

    def forget(self, battle: DirectBattle) -> None:
        """Take the battle out of the run and out of its players (their battle dicts would grow forever)."""
        battle.over = True
        if battle.timer is not None:
            battle.timer.cancel()
        self.battles.pop(battle.tag, None)
        self.turn_limited.discard(battle.tag)
        for seat in battle.seats.values():
            seat.inbox.clear()
            seat.player._battles.pop(battle.tag, None)
            forget_battle_seed(seat.player, battle.tag)

    def expire(self, battle: DirectBattle) -> None:
        """Past the wall-time limit: side A forfeits; recorded as a timeout tie once the battle ends."""
        battle.end = "timeout"
        battle.simulator.send({"forfeit": battle.tag, "side": battle.spec.a_seat})
        battle.timer = asyncio.get_running_loop().call_later(FORFEIT_GRACE_S, self.abandon, battle)

    def abandon(self, battle: DirectBattle) -> None:
        """The forfeit did not end the battle (a player is stuck): record the timeout tie anyway."""
        battle_a, battle_b = battle.battle_objects()
        battle.simulator.send({"drop": battle.tag})
        if battle_a is None or battle_b is None:  # the simulator never even started it: treat it as lost
            self.simulator_lost(battle.simulator)
            return
        self.finish(battle, battle_a, battle_b)

    def battle_crashed(self, battle: DirectBattle, message: str) -> None:
        spec = battle.spec
        self.crashes[spec.index] += 1
        if self.crashes[spec.index] >= MAX_CRASHES_PER_BATTLE:
            self.fail(RuntimeError(f"the simulator crashed {MAX_CRASHES_PER_BATTLE} times in battle {spec.index} "
                                   f"({spec.policy_a} vs {spec.policy_b}); last: {message[-1000:]}"))
            return
        LOGGER.warning("simulator crashed in battle %d; replaying it: %s", spec.index, message[-300:])
        self.forget(battle)
        self.queue.appendleft(spec)
        self.launch_more()

    def simulator_lost(self, simulator: SimulatorProcess) -> None:
        """The simulator died: replay its battles on a fresh one (at most MAX_SIMULATOR_RESTARTS per run)."""
        if simulator.stopping or self.failure is not None:
            return
        simulator.stopping = True
        lost = [battle for battle in self.battles.values() if battle.simulator is simulator]
        for battle in lost:
            self.forget(battle)
        self.queue.extendleft(reversed([battle.spec for battle in lost]))
        self.restarts += 1
        if self.restarts > MAX_SIMULATOR_RESTARTS:
            self.fail(RuntimeError(f"the simulator process died {self.restarts} times; {len(self.queue)} battles "
                                   f"left unplayed; its last stderr: {simulator.stderr_tail.strip()[-1000:]}"))
            return
        LOGGER.warning("simulator process %d (pid %s) died with %d battles in flight: replaying them on a fresh "
                       "one (restart %d of at most %d)", simulator.number, simulator.pid, len(lost), self.restarts,
                       MAX_SIMULATOR_RESTARTS)
        self.spawn(self.replace(simulator))

    async def replace(self, simulator: SimulatorProcess) -> None:
        await simulator.stop()
        self.simulator = self.new_simulator()
        try:
            await self.simulator.start()
        except BaseException as error:  # noqa: BLE001 - reported as the run's failure
            self.fail(error)
            return
        self.launch_more()


def quiet_known_gen1_gaps(record: logging.LogRecord) -> bool:
    """Drop poke-env's warning for Gen 1 partial trapping ("[from] Wrap"), logged on every such turn of every
    battle (a known tracking gap, poke-env #753); every other warning stays."""
    return not record.getMessage().startswith("Unmanaged move message format")

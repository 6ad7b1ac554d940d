"""A private, loopback-only Pokémon Showdown server whose whole process group lives and dies with its owner.

Showdown reads `config/config.js` and writes logs/state relative to its package root (the folder above
`dist/`, found from the module's own path). Each server therefore runs from a private temp folder that
symlinks the read-only package (`dist`, `data`, ...) next to its own `config/` and `logs/`; with
`--preserve-symlinks(-main)` (the launcher loads `dist/server/index.js` as a main module) and
`NODE_PRESERVE_SYMLINKS=1` (inherited by forked subprocesses) Node keeps the symlinked paths, so the server
and its subprocesses see the private folder as their root. Several servers (parallel jobs, tests) can run at
once without clobbering each other.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

from poke_env.ps_client.server_configuration import ServerConfiguration
from websockets.sync.client import connect

from pokepsro.core.errors import SetupError
from pokepsro.gen1.simulator import check_showdown_install, node_executable, showdown_root

# Login is a local "/trn name,0," without a password, so this URL is never contacted (see PSClient.log_in).
UNUSED_AUTHENTICATION_URL = "http://127.0.0.1:9/action.php?"
PRIVATE_ENTRIES = {"config", "logs", "pokemon-showdown"}

SERVER_CONFIG_JS = """\
'use strict';
// Written by pokepsro.battles.showdown for one private, local server; everything else comes from config-example.js.
exports.port = {port};
exports.bindaddress = '127.0.0.1';
exports.nothrottle = true;
exports.noipchecks = true;
exports.noguestsecurity = true;
exports.repl = false;
exports.backdoor = false;
exports.consoleips = [];
exports.loginserver = '{unused_login_server}';
exports.watchconfig = false;
exports.crashguardemail = null;
exports.reportbattles = false;
exports.reportjoins = false;
exports.logchallenges = false;
exports.logchat = false;
exports.autolockdown = false;
exports.usesqlite = false;
"""
# Loaded with `node --require` into the main server process: a Python owner killed by SIGKILL cannot stop the
# server, but the server notices it was re-parented and takes its whole process group down with it.
OWNER_WATCH_JS = """\
'use strict';
if (!process.send) {  // forked subprocesses inherit --require; only the main process (no IPC channel) watches
  const owner = process.ppid;
  setInterval(() => {
    if (process.ppid !== owner) process.kill(-process.pid, 'SIGKILL');
  }, 1000).unref();
}
"""


def free_port() -> int:
    """A port the kernel just had free on 127.0.0.1 (the server binds it moments later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def build_private_root(root: Path, private: Path, port: int) -> None:
    """Symlink the read-only package into `private` and give it its own config and log folders."""
    for entry in root.iterdir():
        if entry.name not in PRIVATE_ENTRIES:
            (private / entry.name).symlink_to(entry)
    # A real copy of the launcher: it loads ./dist relative to its own (unresolved) location.
    shutil.copy2(root / "pokemon-showdown", private / "pokemon-showdown")
    (private / "owner-watch.js").write_text(OWNER_WATCH_JS, encoding="utf-8")
    # chat-plugins/ holds the server's own state files; without it every start logs ENOENT crashes.
    (private / "config" / "chat-plugins").mkdir(parents=True)
    (private / "config" / "config.js").write_text(
        SERVER_CONFIG_JS.format(port=port, unused_login_server=UNUSED_AUTHENTICATION_URL), encoding="utf-8")
    for folder in ("repl", "chat", "modlog"):
        (private / "logs" / folder).mkdir(parents=True)


def dependency_path(root: Path) -> str:
    """NODE_PATH for dependencies npm hoisted next to the package (the private root is not inside them)."""
    return str(root.parent) if root.parent.name == "node_modules" else ""


def websocket_accepts(url: str, timeout: float) -> bool:
    """True when a websocket handshake at `url` succeeds."""
    try:
        with connect(url, open_timeout=timeout, close_timeout=timeout):
            return True
    except Exception:  # refused, reset, or handshake rejected while the server is still starting
        return False


def exit_on_sigterm() -> object:
    """Turn SIGTERM (how job schedulers cancel) into SystemExit, so `with` blocks unwind and stop the server.

    Only from the main thread and only where nobody set a handler; returns what to restore (None: nothing).
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return None
    signal.signal(signal.SIGTERM, raise_system_exit)
    return signal.SIG_DFL


def raise_system_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def restore_sigterm(previous: object) -> None:
    if previous is not None and signal.getsignal(signal.SIGTERM) is raise_system_exit:
        signal.signal(signal.SIGTERM, previous)


def log_tail(path: Path, max_chars: int = 2000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-max_chars:]
    except FileNotFoundError:
        return "(no log written)"


class ShowdownServer:
    """`with ShowdownServer(log_path) as server:` — a local Showdown server owned by this process."""

    def __init__(self, log_path: str | os.PathLike, *, port: int | None = None,
                 startup_timeout: float = 60.0, stop_grace: float = 5.0) -> None:
        self.log_path = Path(log_path)
        self.requested_port = port
        self.startup_timeout = startup_timeout
        self.stop_grace = stop_grace
        self.port: int | None = None
        self.restarts = 0
        self._process: subprocess.Popen | None = None
        self._private_root: Path | None = None
        self._previous_sigterm: object = None

    # -- public API -------------------------------------------------------------------------------------------

    @property
    def websocket_url(self) -> str:
        if self.port is None:
            raise RuntimeError("Showdown server is not started")
        return f"ws://127.0.0.1:{self.port}/showdown/websocket"

    @property
    def server_configuration(self) -> ServerConfiguration:
        """What poke-env players need; the authentication URL is never used (players have no password)."""
        return ServerConfiguration(self.websocket_url, UNUSED_AUTHENTICATION_URL)

    @property
    def pid(self) -> int | None:
        """Process id (and process-group id) of the server's main node process."""
        return self._process.pid if self._process is not None else None

    @property
    def private_root(self) -> Path | None:
        return self._private_root

    def start(self) -> ServerConfiguration:
        """Start the server and block until its websocket accepts connections."""
        if self.alive():
            raise RuntimeError(f"Showdown server already running on port {self.port}")
        root = showdown_root()
        node = node_executable()
        check_showdown_install(root)
        self.port = self.requested_port or free_port()
        self._private_root = Path(tempfile.mkdtemp(prefix="pokepsro-showdown-"))
        try:
            build_private_root(root, self._private_root, self.port)
            self._launch(node, root)
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self.server_configuration

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """SIGTERM the whole process group, SIGKILL it after the grace period, reap, remove the private root."""
        if self._process is not None:
            self._signal_group(signal.SIGTERM)
            try:
                self._process.wait(timeout=self.stop_grace)
            except subprocess.TimeoutExpired:
                pass
            # Subprocesses (simulator, validator, ...) may outlive the main process: kill what is left.
            self._signal_group(signal.SIGKILL)
            self._process.wait()
            self._process = None
        if self._private_root is not None:
            shutil.rmtree(self._private_root, ignore_errors=True)
            self._private_root = None

    def restart(self) -> ServerConfiguration:
        """Stop (if needed) and start again: same port when one was requested, otherwise a fresh one."""
        self.stop()
        self.restarts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"--- pokepsro: restarting Showdown (restart #{self.restarts})\n".encode())
        return self.start()

    def __enter__(self) -> ShowdownServer:
        self._previous_sigterm = exit_on_sigterm()
        try:
            self.start()
        except BaseException:
            restore_sigterm(self._previous_sigterm)
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        try:
            self.stop()
        finally:
            restore_sigterm(self._previous_sigterm)

    # -- internals --------------------------------------------------------------------------------------------

    def _launch(self, node: str, root: Path) -> None:
        """`node pokemon-showdown start` in the private root, in its own process group, output to the log."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "NODE_PRESERVE_SYMLINKS": "1", "NODE_PATH": dependency_path(root)}
        with open(self.log_path, "ab") as log:
            log.write(f"--- pokepsro: starting Showdown on 127.0.0.1:{self.port} in {self._private_root} "
                      f"(package {root})\n".encode())
            log.flush()
            self._process = subprocess.Popen(
                [node, "--preserve-symlinks", "--preserve-symlinks-main",
                 "--require", str(self._private_root / "owner-watch.js"), "pokemon-showdown",
                 "start", "--no-security", "--skip-build", str(self.port)],
                cwd=self._private_root, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)

    def _signal_group(self, signum: int) -> None:
        try:
            os.killpg(self._process.pid, signum)
        except ProcessLookupError:
            pass

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise SetupError(f"Showdown server exited during start-up (code {self._process.returncode}); "
                                 f"log tail:\n{log_tail(self.log_path)}")
            if websocket_accepts(self.websocket_url, timeout=2.0):
                return
            time.sleep(0.2)
        raise SetupError(f"Showdown server did not accept websockets on port {self.port} within "
                         f"{self.startup_timeout:.0f} s; log tail:\n{log_tail(self.log_path)}")

"""The managed Showdown server: loopback only, private config, and never an orphan node process."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import processes_in_group, restore_ctrl_c
from websockets.sync.client import connect

from pokepsro.battles.showdown import ShowdownServer
from pokepsro.core.errors import SetupError
from pokepsro.gen1.simulator import showdown_root

LOOPBACK_HEX = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it
TCP_LISTEN = "0A"
# How long a wait may last before the test calls it a hang: generous, since other load on the machine slows
# everything (a bound on speed is no unit test's business).
HANG_GUARD_S = 60.0


def listening_addresses(port: int) -> list[str]:
    """Local addresses (hex) of IPv4/IPv6 sockets listening on `port`."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            next(handle)
            for line in handle:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if int(hex_port, 16) == port and state == TCP_LISTEN:
                    found.append(address)
    return found


def websocket_greets(url: str) -> str:
    """The greeting frames a new client gets, up to the `|challstr|` that starts a Showdown login."""
    frames = []
    with connect(url, open_timeout=HANG_GUARD_S) as websocket:
        while not any("|challstr|" in frame for frame in frames) and len(frames) < 10:
            frames.append(str(websocket.recv(timeout=HANG_GUARD_S)))
    return "\n".join(frames)


def wait_until_gone(group: int, timeout: float = HANG_GUARD_S) -> list[int]:
    deadline = time.monotonic() + timeout
    while processes_in_group(group) and time.monotonic() < deadline:
        time.sleep(0.1)
    return processes_in_group(group)


def test_server_serves_on_loopback_with_private_config_and_stops_cleanly(tmp_path):
    log = tmp_path / "logs" / "server.log"
    with ShowdownServer(log) as server:
        group = server.pid
        private_root = server.private_root
        assert server.alive()
        assert "challstr" in websocket_greets(server.websocket_url)
        assert listening_addresses(server.port) == [LOOPBACK_HEX]
        config = (private_root / "config" / "config.js").read_text()
        assert "exports.repl = false;" in config
        assert "exports.bindaddress = '127.0.0.1';" in config
        assert "exports.backdoor = false;" in config
        assert not (showdown_root() / "config" / "config.js").exists(), "must not write into the package"
        assert len(processes_in_group(group)) >= 2, "server and its subprocesses share one process group"
        assert server.server_configuration.websocket_url == f"ws://127.0.0.1:{server.port}/showdown/websocket"
    assert not server.alive()
    assert wait_until_gone(group) == []
    assert not private_root.exists()
    assert "listening on 127.0.0.1" in log.read_text()


def test_two_servers_run_side_by_side(tmp_path):
    with ShowdownServer(tmp_path / "a.log") as first, ShowdownServer(tmp_path / "b.log") as second:
        assert first.port != second.port
        assert "challstr" in websocket_greets(first.websocket_url)
        assert "challstr" in websocket_greets(second.websocket_url)


def test_exception_inside_block_stops_the_whole_group(tmp_path):
    with pytest.raises(ValueError):
        with ShowdownServer(tmp_path / "server.log") as server:
            group = server.pid
            raise ValueError("boom")
    assert wait_until_gone(group) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_interrupted_terminated_or_killed_owner_leaves_no_node(tmp_path, signum):
    """Ctrl-C (KeyboardInterrupt) or a scheduler's SIGTERM unwind the owner and stop the group; after a SIGKILL
    of the owner the server notices it was orphaned and stops itself."""
    script = textwrap.dedent(f"""
        import sys, time
        from pokepsro.battles.showdown import ShowdownServer
        with ShowdownServer({str(tmp_path / 'server.log')!r}) as server:
            print(server.pid, server.private_root, flush=True)
            time.sleep(60)
    """)
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                             preexec_fn=restore_ctrl_c)
    try:
        group, private_root = owner.stdout.readline().split()
        assert processes_in_group(int(group))
        owner.send_signal(signum)
        assert owner.wait(timeout=30) != 0
    finally:
        if owner.poll() is None:
            owner.kill()
    assert wait_until_gone(int(group)) == []
    if signum == signal.SIGKILL:  # nobody was left to remove the private root
        shutil.rmtree(private_root)
    assert not os.path.exists(private_root)


def test_killed_server_is_detected_and_restarts(tmp_path):
    with ShowdownServer(tmp_path / "server.log") as server:
        old_group = server.pid
        os.killpg(old_group, signal.SIGKILL)
        deadline = time.monotonic() + HANG_GUARD_S
        while server.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not server.alive()
        configuration = server.restart()
        assert server.alive() and server.restarts == 1
        assert configuration == server.server_configuration
        assert "challstr" in websocket_greets(configuration.websocket_url)
        new_group = server.pid
    assert wait_until_gone(old_group) == []
    assert wait_until_gone(new_group) == []
    assert "restarting Showdown" in (tmp_path / "server.log").read_text()


def test_fixed_port_is_used(tmp_path):
    from pokepsro.battles.showdown import free_port

    port = free_port()
    with ShowdownServer(tmp_path / "server.log", port=port) as server:
        assert server.port == port
        assert listening_addresses(port) == [LOOPBACK_HEX]


def test_missing_install_asks_for_make_setup(tmp_path, monkeypatch):
    monkeypatch.setenv("POKEPSRO_SHOWDOWN_DIR", "/nonexistent")
    with pytest.raises(SetupError, match="make setup"):
        ShowdownServer(tmp_path / "server.log").start()


def test_missing_node_asks_for_make_setup(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SetupError, match="make setup"):
        ShowdownServer(tmp_path / "server.log").start()


def test_server_that_dies_at_start_up_reports_its_log(tmp_path, monkeypatch):
    """A package whose launcher exits at once: SetupError quoting the log instead of a 60 s wait."""
    fake = tmp_path / "pokemon-showdown"
    (fake / "dist" / "server").mkdir(parents=True)
    (fake / "dist" / "server" / "index.js").write_text("")
    (fake / "pokemon-showdown").write_text("console.error('no config here'); process.exit(3);\n")
    monkeypatch.setenv("POKEPSRO_SHOWDOWN_DIR", str(fake))
    server = ShowdownServer(tmp_path / "server.log", startup_timeout=30)
    # The exit is seen as such: waiting out the start-up timeout would say "did not accept websockets".
    with pytest.raises(SetupError, match=r"exited during start-up \(code 3\)(.|\n)*no config here"):
        server.start()
    assert not server.alive() and server.pid is None and server.private_root is None

"""Shared fixtures: one real Showdown server per test session, two legal Gen 1 OU teams, a node-process probe."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch

from pokepsro.battles.showdown import ShowdownServer
from pokepsro.gen1.teams import Team, TeamSet, pack_team_text
from pokepsro.learning.features import FEATURE_VERSION, OBS_DIM
from pokepsro.learning.model import build_model, save_checkpoint

TINY_MODEL = {"architecture": "residual_mlp", "width": 32, "depth": 1, "expansion": 2}

EVS = "EVs: 252 HP / 252 Atk / 252 Def / 252 SpA / 252 Spe"
TEAM_TEXTS = {
    "classic": [("Tauros", "Body Slam", "Hyper Beam", "Blizzard", "Earthquake"),
                ("Chansey", "Ice Beam", "Thunderbolt", "Soft-Boiled", "Thunder Wave"),
                ("Snorlax", "Body Slam", "Hyper Beam", "Earthquake", "Self-Destruct"),
                ("Starmie", "Psychic", "Blizzard", "Thunderbolt", "Recover"),
                ("Exeggutor", "Sleep Powder", "Psychic", "Explosion", "Stun Spore"),
                ("Alakazam", "Psychic", "Seismic Toss", "Thunder Wave", "Recover")],
    "electric": [("Zapdos", "Thunderbolt", "Drill Peck", "Thunder Wave", "Agility"),
                 ("Rhydon", "Earthquake", "Rock Slide", "Body Slam", "Substitute"),
                 ("Jynx", "Lovely Kiss", "Blizzard", "Psychic", "Rest"),
                 ("Slowbro", "Surf", "Amnesia", "Thunder Wave", "Rest"),
                 ("Cloyster", "Blizzard", "Clamp", "Explosion", "Hyper Beam"),
                 ("Jolteon", "Thunderbolt", "Double Kick", "Pin Missile", "Thunder Wave")],
}


def write_tiny_checkpoint(path: Path, feature_version: str = FEATURE_VERSION, seed: int = 0) -> Path:
    """An untrained TINY_MODEL policy (weights from `seed`): real checkpoints for tests that need any policy."""
    torch.manual_seed(seed)
    model = build_model(TINY_MODEL, OBS_DIM)
    return save_checkpoint(path, model, model_config=TINY_MODEL, obs_dim=OBS_DIM, feature_version=feature_version,
                           train_config={}, epoch=0, metrics={})


def team_text(mons: list[tuple[str, ...]]) -> str:
    return "\n\n".join("\n".join([species, *(f"- {move}" for move in moves), EVS])
                       for species, *moves in mons) + "\n"


def node_processes() -> dict[int, int]:
    """pid -> process-group id of every live `node` process (from /proc; zombies await reaping, not work)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended while we looked
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        if name == "node":
            state, _, group = text[text.rindex(")") + 2:].split()[:3]
            if state != "Z":
                found[int(stat.parent.name)] = int(group)
    return found


def restore_ctrl_c() -> None:
    """Popen preexec_fn: a shell that runs pytest in the background leaves SIGINT ignored, and a Python child
    started that way never raises KeyboardInterrupt; the tests that press Ctrl-C need the default."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def descendants(marker: bytes) -> list[int]:
    """Live processes under this one (any depth) whose command line contains `marker`, and whose parent's does not:
    a process that starts a program forks first, and until the child's exec (milliseconds, longer on a loaded
    machine) the child carries its parent's command line; it is not another such process."""
    parents, commands = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            commands[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        state, parent = text[text.rindex(")") + 2:].split()[:2]
        if state != "Z":
            parents[int(stat.parent.name)] = int(parent)
    found = []
    for pid in parents:
        ancestor = parents.get(pid)
        while ancestor is not None and ancestor != os.getpid():
            ancestor = parents.get(ancestor)
        if ancestor == os.getpid() and marker in commands.get(pid, b"") \
                and marker not in commands.get(parents[pid], b""):
            found.append(pid)
    return found


def processes_in_group(group: int) -> list[int]:
    return [pid for pid, pgid in node_processes().items() if pgid == group]


def processes_running_in(folder: Path) -> list[int]:
    """node processes whose working directory is `folder` (a server's private root, even once deleted)."""
    found = []
    for pid in node_processes():
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if cwd.removesuffix(" (deleted)") == str(folder):
            found.append(pid)
    return found


@pytest.fixture(scope="session")
def team_set() -> TeamSet:
    teams = tuple(Team(id=name, text=team_text(mons), packed=pack_team_text(team_text(mons)))
                  for name, mons in TEAM_TEXTS.items())
    return TeamSet(name="test", battle_format="gen1ou", teams=teams)


@pytest.fixture(scope="session")
def showdown_server(tmp_path_factory):
    """A real local server shared by the tests that do not kill or restart it."""
    log = tmp_path_factory.mktemp("showdown") / "server.log"
    with ShowdownServer(log) as server:
        yield server

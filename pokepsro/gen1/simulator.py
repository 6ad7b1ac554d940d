"""Where the Pokémon Showdown simulator (the rules' reference implementation) and Node are installed.

Teams are validated by it and battles are played on it, so both `gen1.teams` and `pokepsro.battles` find it here.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pokepsro.core.errors import SetupError
from pokepsro.core.files import REPO_ROOT

SHOWDOWN_DIR_ENV = "POKEPSRO_SHOWDOWN_DIR"
PINNED_SHOWDOWN_DIR = REPO_ROOT / "envs" / "showdown" / "node_modules" / "pokemon-showdown"


def showdown_root() -> Path:
    """The Showdown package folder: `$POKEPSRO_SHOWDOWN_DIR`, else the copy pinned by `make setup`."""
    override = os.environ.get(SHOWDOWN_DIR_ENV)
    return Path(override).expanduser().resolve() if override else PINNED_SHOWDOWN_DIR


def node_executable() -> str:
    """Path of `node`, or a SetupError saying how to get it."""
    node = shutil.which("node")
    if node is None:
        raise SetupError("Node.js (`node`) is not on PATH: install Node 20+ and run `make setup`")
    return node


def check_showdown_install(root: Path) -> None:
    """A missing or unbuilt package is a set-up problem, reported in one line."""
    if not (root / "pokemon-showdown").is_file() or not (root / "dist" / "server" / "index.js").is_file():
        raise SetupError(f"Pokémon Showdown is not installed at {root}: run `make setup`")

"""Team sets: folders of Showdown-export team files, packed for the simulator and checked by its validator.

A team set is a folder with one team per `*.txt` file (Showdown export text); the file stem is the team
id. Sets shipped with the project live in `config/teams/<format>/<set>/`; users may point at their own
folder instead. Legality is judged by the real Showdown `TeamValidator`, run in one Node process for a
whole set (`pokepsro/gen1/js/validate_teams.js`).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

from poke_env.teambuilder import Teambuilder

from pokepsro.core.errors import SetupError, UsageError
from pokepsro.core.files import REPO_ROOT
from pokepsro.gen1.simulator import check_showdown_install, node_executable, showdown_root

TEAMS_DIR_ENV = "POKEPSRO_TEAMS_DIR"
VALIDATOR_SCRIPT = Path(__file__).resolve().parent / "js" / "validate_teams.js"
VALIDATOR_TIMEOUT_S = 300
MAX_TEAM_SIZE = 6
MAX_MOVES = 4


@dataclass(frozen=True)
class Team:
    """One team: `text` as written by its author, `packed` as sent to Showdown."""

    id: str
    text: str
    packed: str


@dataclass(frozen=True)
class TeamSet:
    """Teams that battles draw from; `name` is a shipped set's name or the user's folder path."""

    name: str
    battle_format: str
    teams: tuple[Team, ...]

    def draw(self, rng: random.Random) -> Team:
        """A team drawn uniformly, reproducible from the caller's seeded rng."""
        return rng.choice(self.teams)

    def __len__(self) -> int:
        return len(self.teams)


def teams_root() -> Path:
    """`$POKEPSRO_TEAMS_DIR`, else the repo's config/teams (holds <format>/<set>/*.txt)."""
    override = os.environ.get(TEAMS_DIR_ENV)
    return Path(override).expanduser() if override else REPO_ROOT / "config" / "teams"


def team_set_names(battle_format: str = "gen1ou") -> list[str]:
    """Names of the team sets shipped for `battle_format` (sub-folders holding team files)."""
    format_dir = teams_root() / battle_format
    if not format_dir.is_dir():
        return []
    return sorted(p.name for p in format_dir.iterdir() if p.is_dir() and any(p.glob("*.txt")))


def pack_team_text(text: str) -> str:
    """Showdown export text -> packed format; ValueError says what is wrong with the text."""
    normalized = "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n"))
    try:
        mons = Teambuilder.parse_showdown_team(normalized)
    except (KeyError, ValueError, IndexError) as exc:
        raise ValueError(f"cannot parse Showdown export text ({type(exc).__name__}: {exc})") from None
    if not 1 <= len(mons) <= MAX_TEAM_SIZE:
        raise ValueError(f"a team needs 1 to {MAX_TEAM_SIZE} Pokémon separated by blank lines, found {len(mons)}")
    for position, mon in enumerate(mons, start=1):
        if not (mon.species or mon.nickname):
            raise ValueError(f"Pokémon #{position} has no species line")
        if not 1 <= len(mon.moves) <= MAX_MOVES:
            raise ValueError(f"Pokémon #{position} ({mon.species or mon.nickname}) needs 1 to {MAX_MOVES} "
                             f"'- Move' lines, found {len(mon.moves)}")
    return Teambuilder.join_team(mons)


def load_team_file(path: Path) -> Team:
    """One team file; an unreadable or unparsable file is a UsageError naming it."""
    try:
        text = path.read_text(encoding="utf-8")
        return Team(id=path.stem, text=text, packed=pack_team_text(text))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"team file {path}: {exc}") from None


def team_files(folder: Path) -> list[Path]:
    """The team files of a set's folder; none is a UsageError naming the folder."""
    files = sorted(folder.glob("*.txt"))
    if not files:
        raise UsageError(f"team folder {folder} has no *.txt team files (one Showdown-export team per file)")
    return files


def load_team_folder(folder: Path, name: str, battle_format: str) -> TeamSet:
    return TeamSet(name=name, battle_format=battle_format,
                   teams=tuple(load_team_file(f) for f in team_files(folder)))


def team_set_folder(name_or_path: str | os.PathLike, battle_format: str = "gen1ou") -> tuple[str, Path]:
    """(name, folder) of a shipped set (a shipped name wins over a same-named folder), else of a user's folder."""
    shipped = team_set_names(battle_format)
    if str(name_or_path) in shipped:
        return str(name_or_path), teams_root() / battle_format / str(name_or_path)
    folder = Path(name_or_path).expanduser()
    if folder.is_dir():
        return str(folder), folder
    raise UsageError(f"team set {str(name_or_path)!r} is neither a shipped {battle_format} set "
                     f"({', '.join(shipped) or 'none shipped'}) nor a folder of *.txt team files")


def load_team_set(name_or_path: str | os.PathLike, battle_format: str = "gen1ou") -> TeamSet:
    """A shipped set by name, else a user's folder (see `team_set_folder`), every team file parsed."""
    name, folder = team_set_folder(name_or_path, battle_format)
    return load_team_folder(folder, name, battle_format)


def check_team_set(name_or_path: str | os.PathLike, battle_format: str = "gen1ou") -> None:
    """Cheap check that a team set exists and holds at least one team file (nothing is parsed)."""
    team_files(team_set_folder(name_or_path, battle_format)[1])


def _run_validator(battle_format: str, teams: tuple[Team, ...]) -> list[dict]:
    """One Node process validates every team; returns its per-team results in order."""
    root = showdown_root()
    check_showdown_install(root)
    request = {"format": battle_format, "teams": [{"id": t.id, "packed": t.packed} for t in teams]}
    try:
        completed = subprocess.run([node_executable(), str(VALIDATOR_SCRIPT), str(root)],
                                   input=json.dumps(request), capture_output=True, text=True,
                                   timeout=VALIDATOR_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise SetupError(f"the Showdown team validator did not finish within {VALIDATOR_TIMEOUT_S} s") from None
    if completed.returncode == 2:
        raise UsageError(f"cannot validate teams: {completed.stderr.strip()}")
    if completed.returncode != 0:
        raise SetupError(f"the Showdown team validator failed (exit {completed.returncode}): "
                         f"{completed.stderr.strip()[-500:]}")
    return json.loads(completed.stdout)["results"]


def validate_team_set(team_set: TeamSet) -> list[tuple[str, str]]:
    """(team id, the validator's problems joined by '; ') for every team Showdown rejects."""
    results = _run_validator(team_set.battle_format, team_set.teams)
    return [(r["id"], "; ".join(r["problems"])) for r in results if not r["valid"]]


def ensure_valid(team_set: TeamSet) -> None:
    """Reject a set with an illegal team (e.g. a user's folder) before any battle is played."""
    failures = validate_team_set(team_set)
    if failures:
        team_id, message = failures[0]
        more = f" (and {len(failures) - 1} more failing team(s))" if len(failures) > 1 else ""
        raise UsageError(f"team file {Path(team_set.name) / team_id}.txt failed validation for "
                         f"{team_set.battle_format}: {message}{more}")

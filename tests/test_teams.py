"""Team sets: shipped teams are legal for the real Showdown validator, loading and drawing behave."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from pokepsro.core.errors import UsageError
from pokepsro.gen1.simulator import node_executable, showdown_root
from pokepsro.gen1.teamgen import GEN1_SPECIES
from pokepsro.gen1.teams import (
    TEAMS_DIR_ENV,
    Team,
    TeamSet,
    ensure_valid,
    load_team_set,
    pack_team_text,
    team_set_names,
    teams_root,
    validate_team_set,
)

EVS = "EVs: 252 HP / 252 Atk / 252 Def / 252 SpA / 252 SpD / 252 Spe"
TAUROS = f"Tauros\n{EVS}\n- Body Slam\n- Hyper Beam\n- Blizzard\n- Earthquake\n"
NICKNAMED_CHANSEY = f"Blissful (Chansey)\n{EVS}\n- Softboiled\n- Thunder Wave\n- Ice Beam\n- Thunderbolt\n"
MEWTWO = f"Mewtwo\n{EVS}\n- Psychic\n- Recover\n- Amnesia\n- Thunderbolt\n"


def species_of(team: Team) -> list[str]:
    """Species in a packed team (nickname field when the species field is empty)."""
    return [(fields[1] or fields[0]).lower() for fields in (mon.split("|") for mon in team.packed.split("]"))]


def write_folder(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def shipped() -> dict[str, TeamSet]:
    return {name: load_team_set(name) for name in team_set_names("gen1ou")}


def test_shipped_sets_are_listed(shipped):
    assert {"competitive", "heldout", "variety"} <= set(shipped)


def test_every_shipped_team_passes_the_real_validator(shipped):
    every_team = tuple(Team(f"{name}/{team.id}", team.text, team.packed)
                       for name, team_set in shipped.items() for team in team_set.teams)
    assert validate_team_set(TeamSet("all-shipped", "gen1ou", every_team)) == []


def test_shipped_sets_are_large_distinct_six_species_teams(shipped):
    assert len(shipped["competitive"]) >= 20
    assert len(shipped["variety"]) >= 200
    assert len(shipped["heldout"]) >= 10
    for team_set in shipped.values():
        assert len({team.packed for team in team_set.teams}) == len(team_set)
        for team in team_set.teams:
            assert len(set(species_of(team))) == 6, team.id
    for name in ("competitive", "heldout"):
        tauros_share = sum("tauros" in species_of(t) for t in shipped[name].teams) / len(shipped[name])
        assert tauros_share > 0.7, f"the {name} set should look like the classic Tauros-centred meta"


def sets_of(team: Team) -> frozenset[str]:
    """A team's six packed sets, order ignored: two teams that differ only in order are the same team."""
    return frozenset(team.packed.split("]"))


def test_no_held_out_team_is_a_training_team(shipped):
    """Held-out evaluation means teams no policy trained on, whichever shipped set it trained on."""
    held_out = shipped["heldout"]
    for name, team_set in shipped.items():
        if name != "heldout":
            assert {sets_of(t) for t in held_out.teams}.isdisjoint(sets_of(t) for t in team_set.teams), name
    competitive_line_ups = {frozenset(species_of(t)) for t in shipped["competitive"].teams}
    assert [t.id for t in held_out.teams if frozenset(species_of(t)) in competitive_line_ups] == []


def test_teamgen_table_is_broad():
    assert len(GEN1_SPECIES) >= 40
    assert sum(len(entry.sets) for entry in GEN1_SPECIES) >= 40
    assert len({entry.species for entry in GEN1_SPECIES}) == len(GEN1_SPECIES)
    assert {"mew", "mewtwo"}.isdisjoint(entry.species.lower() for entry in GEN1_SPECIES)


def test_teamgen_reproduces_the_shipped_variety_set_byte_for_byte(tmp_path):
    out = tmp_path / "variety"
    subprocess.run([sys.executable, "-m", "pokepsro.gen1.teamgen", "--out", str(out)], check=True,
                   capture_output=True, text=True, timeout=60)
    shipped_dir = teams_root() / "gen1ou" / "variety"
    generated = {p.name: p.read_bytes() for p in out.glob("*.txt")}
    assert generated == {p.name: p.read_bytes() for p in shipped_dir.glob("*.txt")}


def test_draw_is_reproducible_uniform_and_covers_the_set(shipped):
    team_set = shipped["variety"]
    draws = [team_set.draw(random.Random(7)).id for _ in range(3)]
    assert len(set(draws)) == 1
    rng_a, rng_b = random.Random(11), random.Random(11)
    sequence = [team_set.draw(rng_a).id for _ in range(2000)]
    assert sequence == [team_set.draw(rng_b).id for _ in range(2000)]
    assert len(set(sequence)) > 0.95 * len(team_set)
    other_seed = random.Random(12)
    assert sequence != [team_set.draw(other_seed).id for _ in range(2000)]


def test_user_folder_loads_with_file_stems_as_ids(tmp_path):
    folder = write_folder(tmp_path / "my teams", {
        "bull.txt": TAUROS,
        "mixed.txt": (TAUROS + "\n" + NICKNAMED_CHANSEY).replace("\n", "\r\n"),
        "notes.md": "not a team",
    })
    team_set = load_team_set(str(folder))
    assert [t.id for t in team_set.teams] == ["bull", "mixed"]
    assert team_set.name == str(folder) and team_set.battle_format == "gen1ou"
    assert team_set.teams[0].packed.startswith("Tauros||||bodyslam,hyperbeam,blizzard,earthquake||252,252,252,252,252,252")
    assert team_set.teams[1].packed.split("]")[1].startswith("Blissful|chansey|")
    ensure_valid(team_set)


def test_bad_team_in_user_folder_is_reported_with_its_file_name(tmp_path):
    folder = write_folder(tmp_path / "mine", {"a_good.txt": TAUROS, "b_uber.txt": TAUROS + "\n" + MEWTWO})
    team_set = load_team_set(folder)
    failures = validate_team_set(team_set)
    assert [team_id for team_id, _ in failures] == ["b_uber"]
    with pytest.raises(UsageError, match=r"team file .*mine/b_uber\.txt failed validation for gen1ou: .*Mewtwo.*Uber"):
        ensure_valid(team_set)


@pytest.mark.parametrize("text, problem", [
    ("Tauros\nEVs: 252 Foo\n- Body Slam\n", "cannot parse"),
    ("Tauros\nEVs: 252 HP\n", "needs 1 to 4 '- Move' lines"),
    ("\n\n", "needs 1 to 6 Pokémon"),
    ("\n\n".join([TAUROS] * 7), "found 7"),
])
def test_unparsable_user_file_is_named(tmp_path, text, problem):
    folder = write_folder(tmp_path / "broken", {"ok.txt": TAUROS, "bad_one.txt": text})
    with pytest.raises(UsageError, match=rf"team file .*bad_one\.txt: .*{problem}"):
        load_team_set(folder)


def test_empty_folder_and_unknown_name_are_usage_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match=r"has no \*\.txt team files"):
        load_team_set(tmp_path / "empty")
    with pytest.raises(UsageError, match=r"'no_such_set' is neither .*competitive, heldout, variety"):
        load_team_set("no_such_set")


def test_teams_dir_can_be_overridden(tmp_path, monkeypatch):
    write_folder(tmp_path / "gen1ou" / "house", {"t1.txt": TAUROS})
    monkeypatch.setenv(TEAMS_DIR_ENV, str(tmp_path))
    assert team_set_names("gen1ou") == ["house"]
    assert [t.id for t in load_team_set("house").teams] == ["t1"]
    assert team_set_names("gen9ou") == []


def test_unknown_battle_format_is_a_usage_error():
    team_set = TeamSet("x", "gen1nonsense", (Team("t", TAUROS, pack_team_text(TAUROS)),))
    with pytest.raises(UsageError, match="unknown battle format 'gen1nonsense'"):
        validate_team_set(team_set)


def cli_validate(packed: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """`pokemon-showdown validate-team gen1ou` exactly as shipped."""
    return subprocess.run([node_executable(), "pokemon-showdown", "validate-team", "gen1ou"], cwd=showdown_root(),
                          input=packed + "\n", capture_output=True, text=True, timeout=60)


def test_batch_validator_agrees_with_the_showdown_cli(tmp_path):
    """Both validators get the same packed team, i.e. exactly what a battle would receive."""
    cases = {
        "good": pack_team_text(TAUROS + "\n" + NICKNAMED_CHANSEY),
        "uber": pack_team_text(TAUROS + "\n" + MEWTWO),
        "zero_evs": "Tauros||||bodyslam,hyperbeam,blizzard,earthquake||0,0,0,0,0,0|||||",
    }
    team_set = TeamSet("cases", "gen1ou", tuple(Team(k, "", packed) for k, packed in cases.items()))
    batch = dict(validate_team_set(team_set))
    assert set(batch) == {"uber", "zero_evs"}
    assert "Uber" in batch["uber"] and "0 EVs" in batch["zero_evs"]
    for team_id, packed in cases.items():
        cli = cli_validate(packed, tmp_path)
        assert cli.returncode == (1 if team_id in batch else 0), (team_id, cli.stderr)
        assert batch.get(team_id, "") == "; ".join(cli.stderr.strip().splitlines())

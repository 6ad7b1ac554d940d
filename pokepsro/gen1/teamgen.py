"""Generate the shipped `variety` and `standard` team sets deterministically from a table of common Gen 1 OU sets.

`python -m pokepsro.gen1.teamgen` rewrites config/teams/gen1ou/variety/ and standard/ byte for byte, so the
shipped sets are reproducible: the same seed, table and count always give the same files. No `standard` team
has the line-up (the six species) of a `heldout` team, so held-out evaluation stays on unseen teams.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from collections.abc import Iterable, Sequence, Set
from typing import NamedTuple

from poke_env.data.normalize import to_id_str

from pokepsro.core.files import atomic_output_dir
from pokepsro.gen1.teams import load_team_set, teams_root

TEAM_SIZE = 6
DEFAULT_SEED = 1996  # Pokémon Red/Green's release year; any fixed value works.
DEFAULT_COUNT = 200
# Gen 1 has no natures or items; stat experience must be non-zero or the validator rejects the set.
# SpD mirrors SpA (Gen 1's single Special stat) so the packed set is right even where no validator runs.
GEN1_EVS_LINE = "EVs: 252 HP / 252 Atk / 252 Def / 252 SpA / 252 SpD / 252 Spe"

Moves = tuple[str, str, str, str]


class SetSpec(NamedTuple):
    """One moveset of one species."""

    species: str
    moves: Moves


class SpeciesEntry(NamedTuple):
    """A species, how often teams pick it relative to others, and its common movesets (picked uniformly)."""

    species: str
    weight: int
    movesets: tuple[Moves, ...]

    @property
    def sets(self) -> tuple[SetSpec, ...]:
        return tuple(SetSpec(self.species, moves) for moves in self.movesets)


def _entry(weight: int, species: str, *movesets: Moves) -> SpeciesEntry:
    return SpeciesEntry(species, weight, movesets)


# Weights: the near-universal core (Tauros, Chansey, Snorlax), the other OU pillars, OU regulars, UU picks.
CORE, PILLAR, OU, UU = 40, 12, 4, 1

GEN1_SPECIES: tuple[SpeciesEntry, ...] = (
    _entry(CORE, "Tauros",
           ("Body Slam", "Hyper Beam", "Blizzard", "Earthquake"),
           ("Body Slam", "Hyper Beam", "Blizzard", "Thunderbolt")),
    _entry(CORE, "Chansey",
           ("Softboiled", "Thunder Wave", "Ice Beam", "Thunderbolt"),
           ("Softboiled", "Thunder Wave", "Seismic Toss", "Ice Beam"),
           ("Softboiled", "Thunder Wave", "Reflect", "Seismic Toss")),
    _entry(CORE, "Snorlax",
           ("Body Slam", "Hyper Beam", "Earthquake", "Self-Destruct"),
           ("Amnesia", "Blizzard", "Body Slam", "Rest"),
           ("Body Slam", "Reflect", "Rest", "Earthquake")),
    _entry(PILLAR, "Alakazam",
           ("Psychic", "Recover", "Thunder Wave", "Seismic Toss"),
           ("Psychic", "Recover", "Thunder Wave", "Reflect")),
    _entry(PILLAR, "Starmie",
           ("Psychic", "Blizzard", "Thunder Wave", "Recover"),
           ("Surf", "Thunderbolt", "Thunder Wave", "Recover")),
    _entry(PILLAR, "Exeggutor",
           ("Sleep Powder", "Psychic", "Explosion", "Stun Spore"),
           ("Sleep Powder", "Psychic", "Explosion", "Double-Edge")),
    _entry(OU, "Zapdos",
           ("Thunderbolt", "Drill Peck", "Thunder Wave", "Agility"),
           ("Thunderbolt", "Drill Peck", "Thunder Wave", "Light Screen")),
    _entry(OU, "Rhydon", ("Earthquake", "Rock Slide", "Body Slam", "Substitute")),
    _entry(OU, "Lapras",
           ("Blizzard", "Thunderbolt", "Body Slam", "Confuse Ray"),
           ("Blizzard", "Thunderbolt", "Sing", "Rest")),
    _entry(OU, "Jynx",
           ("Lovely Kiss", "Blizzard", "Psychic", "Rest"),
           ("Lovely Kiss", "Blizzard", "Psychic", "Counter")),
    _entry(OU, "Slowbro", ("Amnesia", "Surf", "Thunder Wave", "Rest")),
    _entry(OU, "Gengar",
           ("Hypnosis", "Thunderbolt", "Night Shade", "Explosion"),
           ("Hypnosis", "Thunderbolt", "Mega Drain", "Explosion")),
    _entry(OU, "Cloyster", ("Blizzard", "Clamp", "Explosion", "Hyper Beam")),
    _entry(OU, "Jolteon", ("Thunderbolt", "Thunder Wave", "Double Kick", "Pin Missile")),
    _entry(OU, "Golem", ("Earthquake", "Rock Slide", "Body Slam", "Explosion")),
    _entry(OU, "Persian", ("Slash", "Bubble Beam", "Thunderbolt", "Hyper Beam")),
    _entry(OU, "Articuno", ("Blizzard", "Agility", "Hyper Beam", "Reflect")),
    _entry(OU, "Victreebel",
           ("Razor Leaf", "Sleep Powder", "Wrap", "Hyper Beam"),
           ("Razor Leaf", "Sleep Powder", "Stun Spore", "Swords Dance")),
    _entry(OU, "Dragonite", ("Wrap", "Blizzard", "Thunderbolt", "Hyper Beam")),
    _entry(UU, "Kangaskhan", ("Body Slam", "Hyper Beam", "Earthquake", "Counter")),
    _entry(UU, "Hypno", ("Psychic", "Hypnosis", "Thunder Wave", "Rest")),
    _entry(UU, "Dodrio", ("Drill Peck", "Body Slam", "Hyper Beam", "Agility")),
    _entry(UU, "Electrode", ("Thunderbolt", "Thunder Wave", "Explosion", "Screech")),
    _entry(UU, "Raichu", ("Thunderbolt", "Thunder Wave", "Body Slam", "Seismic Toss")),
    _entry(UU, "Venusaur", ("Razor Leaf", "Sleep Powder", "Swords Dance", "Body Slam")),
    _entry(UU, "Charizard", ("Fire Blast", "Earthquake", "Swords Dance", "Body Slam")),
    _entry(UU, "Blastoise", ("Surf", "Blizzard", "Earthquake", "Rest")),
    _entry(UU, "Nidoking", ("Earthquake", "Blizzard", "Thunderbolt", "Rock Slide")),
    _entry(UU, "Nidoqueen", ("Earthquake", "Blizzard", "Thunderbolt", "Body Slam")),
    _entry(UU, "Clefable", ("Blizzard", "Thunderbolt", "Body Slam", "Sing")),
    _entry(UU, "Wigglytuff", ("Body Slam", "Hyper Beam", "Blizzard", "Thunder Wave")),
    _entry(UU, "Kingler", ("Crabhammer", "Swords Dance", "Body Slam", "Hyper Beam")),
    _entry(UU, "Tentacruel", ("Surf", "Blizzard", "Wrap", "Swords Dance")),
    _entry(UU, "Moltres", ("Fire Blast", "Agility", "Hyper Beam", "Reflect")),
    _entry(UU, "Golduck", ("Amnesia", "Surf", "Blizzard", "Rest")),
    _entry(UU, "Vaporeon", ("Surf", "Blizzard", "Body Slam", "Rest")),
    _entry(UU, "Flareon", ("Fire Blast", "Body Slam", "Hyper Beam", "Quick Attack")),
    _entry(UU, "Aerodactyl", ("Double-Edge", "Hyper Beam", "Fire Blast", "Sky Attack")),
    _entry(UU, "Omastar", ("Surf", "Blizzard", "Body Slam", "Rest")),
    _entry(UU, "Kabutops", ("Swords Dance", "Slash", "Surf", "Hyper Beam")),
    _entry(UU, "Gyarados", ("Hyper Beam", "Blizzard", "Thunderbolt", "Body Slam")),
    _entry(UU, "Machamp", ("Submission", "Earthquake", "Rock Slide", "Body Slam")),
    _entry(UU, "Marowak", ("Earthquake", "Blizzard", "Body Slam", "Substitute")),
    _entry(UU, "Dugtrio", ("Earthquake", "Slash", "Rock Slide", "Substitute")),
    _entry(UU, "Sandslash", ("Earthquake", "Rock Slide", "Swords Dance", "Body Slam")),
    _entry(UU, "Mr. Mime", ("Psychic", "Thunderbolt", "Thunder Wave", "Seismic Toss")),
    _entry(UU, "Electabuzz", ("Thunderbolt", "Psychic", "Thunder Wave", "Seismic Toss")),
    _entry(UU, "Dewgong", ("Blizzard", "Body Slam", "Surf", "Rest")),
    _entry(UU, "Porygon", ("Tri Attack", "Recover", "Blizzard", "Thunder Wave")),
    _entry(UU, "Scyther", ("Swords Dance", "Slash", "Hyper Beam", "Agility")),
    _entry(UU, "Pinsir", ("Swords Dance", "Hyper Beam", "Body Slam", "Slash")),
    _entry(UU, "Lickitung", ("Swords Dance", "Body Slam", "Hyper Beam", "Earthquake")),
    _entry(UU, "Arcanine", ("Fire Blast", "Body Slam", "Hyper Beam", "Reflect")),
    _entry(UU, "Poliwrath", ("Surf", "Hypnosis", "Body Slam", "Earthquake")),
    _entry(UU, "Butterfree", ("Sleep Powder", "Psychic", "Stun Spore", "Mega Drain")),
)

# `standard`: the OU regulars only, weighted like the hand-made `competitive` teams (Tauros, Chansey and Snorlax in
# nearly every team, Exeggutor in most, Alakazam or Starmie in about half, two of the others): the same meta as
# `competitive`, in hundreds of line-ups instead of 25.
STANDARD_WEIGHTS = {"Tauros": 200, "Chansey": 200, "Snorlax": 200, "Exeggutor": 60, "Alakazam": 16, "Starmie": 16}
STANDARD_SPECIES: tuple[SpeciesEntry, ...] = tuple(
    entry._replace(weight=STANDARD_WEIGHTS.get(entry.species, OU)) for entry in GEN1_SPECIES if entry.weight >= OU)


class GeneratedSet(NamedTuple):
    """A shipped team set drawn from a species table: file names `<prefix>_001.txt`..."""

    table: tuple[SpeciesEntry, ...]
    prefix: str
    count: int
    avoids_held_out_line_ups: bool


GENERATED_SETS = {
    # `variety` predates the line-up rule and stays as shipped, byte for byte: one of its teams (var_021) has the
    # line-up of a held-out team, with other movesets, so no held-out team is a `variety` team.
    "variety": GeneratedSet(GEN1_SPECIES, "var", DEFAULT_COUNT, avoids_held_out_line_ups=False),
    "standard": GeneratedSet(STANDARD_SPECIES, "std", 400, avoids_held_out_line_ups=True),
}
HELD_OUT_SET = "heldout"


def format_pokemon(spec: SetSpec) -> str:
    """One Pokémon in Showdown export text."""
    return "\n".join([spec.species, GEN1_EVS_LINE, *(f"- {move}" for move in spec.moves)]) + "\n"


def _weighted_pick(rng: random.Random, candidates: Sequence[SpeciesEntry]) -> SpeciesEntry:
    """Pick by weight using only rng.random(), whose stream is stable across Python versions."""
    point = rng.random() * sum(entry.weight for entry in candidates)
    for entry in candidates:
        point -= entry.weight
        if point < 0:
            return entry
    return candidates[-1]


def draw_team(rng: random.Random, table: Sequence[SpeciesEntry] = GEN1_SPECIES) -> tuple[SetSpec, ...]:
    """Six different species (Species Clause) by weight, each with one of its movesets."""
    remaining = list(table)
    team: list[SetSpec] = []
    for _ in range(TEAM_SIZE):
        entry = _weighted_pick(rng, remaining)
        remaining.remove(entry)
        team.append(entry.sets[int(rng.random() * len(entry.movesets))])
    return tuple(team)


def line_up(species: Iterable[str]) -> frozenset[str]:
    """A team's six species as ids, order ignored."""
    return frozenset(to_id_str(name) for name in species)


def held_out_line_ups(battle_format: str = "gen1ou") -> set[frozenset[str]]:
    """The line-ups of the shipped held-out teams, which no generated team may repeat."""
    teams = load_team_set(HELD_OUT_SET, battle_format).teams
    return {line_up(mon.split("|")[1] or mon.split("|")[0] for mon in team.packed.split("]")) for team in teams}


def generate_teams(count: int, seed: int = DEFAULT_SEED, table: Sequence[SpeciesEntry] = GEN1_SPECIES,
                   excluded_line_ups: Set[frozenset[str]] = frozenset()) -> list[tuple[SetSpec, ...]]:
    """`count` teams, no two with the same six sets (order within a team ignored), none with an excluded line-up."""
    rng = random.Random(seed)
    seen: set[frozenset[SetSpec]] = set()
    teams: list[tuple[SetSpec, ...]] = []
    while len(teams) < count:
        team = draw_team(rng, table)
        if frozenset(team) not in seen and line_up(spec.species for spec in team) not in excluded_line_ups:
            seen.add(frozenset(team))
            teams.append(team)
    return teams


def team_text(team: Sequence[SetSpec]) -> str:
    return "\n".join(format_pokemon(spec) for spec in team)


def write_team_set(name: str, out_dir: Path, count: int | None = None, seed: int = DEFAULT_SEED) -> list[Path]:
    """Replace `out_dir` with the generated set's team files; the folder appears only when complete."""
    spec = GENERATED_SETS[name]
    count = spec.count if count is None else count
    width = max(3, len(str(count)))
    excluded = held_out_line_ups() if spec.avoids_held_out_line_ups else frozenset()
    teams = generate_teams(count, seed, spec.table, excluded)
    with atomic_output_dir(out_dir) as tmp:
        for number, team in enumerate(teams, start=1):
            (tmp / f"{spec.prefix}_{number:0{width}d}.txt").write_text(team_text(team), encoding="utf-8")
    return sorted(out_dir.glob("*.txt"))


def shipped_dir(name: str) -> Path:
    return teams_root() / "gen1ou" / name


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pokepsro.gen1.teamgen", description=__doc__)
    parser.add_argument("sets", nargs="*", metavar="SET",
                        help=f"which generated sets to write ({', '.join(sorted(GENERATED_SETS))}; default: all)")
    parser.add_argument("--out", type=Path, default=None, help="output folder for one SET (default: the shipped one)")
    parser.add_argument("--count", type=int, default=None, help="number of teams (default: the shipped count)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    args = parser.parse_args(argv)
    names = args.sets or sorted(GENERATED_SETS)
    unknown = [name for name in names if name not in GENERATED_SETS]
    if unknown:
        parser.error(f"no generated set {unknown[0]!r}; choose from {', '.join(sorted(GENERATED_SETS))}")
    if args.count is not None and args.count < 1:
        parser.error(f"--count must be at least 1, got {args.count}")
    if args.out is not None and len(names) != 1:
        parser.error("--out needs exactly one SET, e.g. `python -m pokepsro.gen1.teamgen standard --out my_teams`")
    for name in names:
        paths = write_team_set(name, args.out or shipped_dir(name), args.count, args.seed)
        print(f"wrote {len(paths)} {name} teams to {paths[0].parent}")


if __name__ == "__main__":
    main()

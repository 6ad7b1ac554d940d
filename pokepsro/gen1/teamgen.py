"""Generate the shipped `variety` team set deterministically from a table of common Gen 1 OU sets.

`python -m pokepsro.gen1.teamgen` rewrites config/teams/gen1ou/variety/ byte for byte, so the shipped set
is reproducible: the same seed, table and count always give the same files.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import NamedTuple, Sequence

from pokepsro.core.files import atomic_output_dir
from pokepsro.gen1.teams import teams_root

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


def generate_teams(count: int, seed: int = DEFAULT_SEED) -> list[tuple[SetSpec, ...]]:
    """`count` teams, no two with the same six sets (order within a team ignored)."""
    rng = random.Random(seed)
    seen: set[frozenset[SetSpec]] = set()
    teams: list[tuple[SetSpec, ...]] = []
    while len(teams) < count:
        team = draw_team(rng)
        if frozenset(team) not in seen:
            seen.add(frozenset(team))
            teams.append(team)
    return teams


def team_text(team: Sequence[SetSpec]) -> str:
    return "\n".join(format_pokemon(spec) for spec in team)


def write_variety_set(out_dir: Path, count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED) -> list[Path]:
    """Replace `out_dir` with `count` team files var_001.txt...; the folder appears only when complete."""
    width = max(3, len(str(count)))
    with atomic_output_dir(out_dir) as tmp:
        for number, team in enumerate(generate_teams(count, seed), start=1):
            (tmp / f"var_{number:0{width}d}.txt").write_text(team_text(team), encoding="utf-8")
    return sorted(out_dir.glob("*.txt"))


def default_out_dir() -> Path:
    return teams_root() / "gen1ou" / "variety"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pokepsro.gen1.teamgen", description=__doc__)
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: the shipped variety set)")
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="number of teams")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error(f"--count must be at least 1, got {args.count}")
    paths = write_variety_set(args.out or default_out_dir(), args.count, args.seed)
    print(f"wrote {len(paths)} teams to {paths[0].parent}")


if __name__ == "__main__":
    main()

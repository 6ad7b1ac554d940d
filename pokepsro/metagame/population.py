"""The population: an ordered list of policies, and the registry that turns each into poke-env Players.

Every policy is a poke-env `Player` (as in poke-env), so a user can drop any Player class into a population.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pokepsro.battles.backend import PlayerFactory
from pokepsro.core.errors import UsageError
from pokepsro.core.files import atomic_write_json, read_json
from pokepsro.gen1.baselines import BASELINES, baseline_class

KINDS = ("heuristic", "checkpoint", "player", "mixture")
ACTING_KEYS = ("greedy", "temperature")  # the NeuralPlayer options that say how a checkpoint acts
DEFAULT_ACTING: Mapping[str, Any] = MappingProxyType({"greedy": True})
"""How checkpoints act unless told otherwise, in the workflow (config `acting`) and on the command line alike:
every result is measured greedily, so a checkpoint played by hand plays the same game."""


@dataclass(frozen=True)
class PolicyEntry:
    """One member of the population; `spec` depends on `kind` (see `KINDS`)."""

    name: str
    kind: str
    spec: Any
    description: str = ""
    options: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        data = asdict(self)
        if not data["options"]:
            del data["options"]
        return data


@dataclass(frozen=True)
class Population:
    entries: tuple[PolicyEntry, ...]

    @property
    def names(self) -> list[str]:
        return [entry.name for entry in self.entries]

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, name: str) -> PolicyEntry:
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise KeyError(name)

    def extended(self, *entries: PolicyEntry) -> "Population":
        """A new population with `entries` appended (PSRO grows the population at the end)."""
        return validate_population(Population(self.entries + tuple(entries)), source="extended population")

    def save(self, path: str | Path) -> None:
        atomic_write_json(path, {"policies": [entry.to_json() for entry in self.entries]})

    @staticmethod
    def load(path: str | Path) -> "Population":
        document = read_json(path, "policies")
        try:
            entries = tuple(PolicyEntry(**item) for item in document["policies"])
        except TypeError as exc:
            raise UsageError(f"population file {path} is malformed ({exc}); expected "
                             '{"policies": [{"name", "kind", "spec", "description"}, ...]}') from None
        return validate_population(Population(entries), source=str(path))


def validate_population(population: Population, *, source: str) -> Population:
    """Reject what would make the meta-game ambiguous: no policies, duplicate names, unknown kinds."""
    if not population.entries:
        raise UsageError(f"{source}: the population is empty; add at least two policies")
    seen: set[str] = set()
    for entry in population.entries:
        if entry.name in seen:
            raise UsageError(f"{source}: duplicate policy name {entry.name!r}; names must be unique")
        seen.add(entry.name)
        if entry.kind not in KINDS:
            raise UsageError(f"{source}: policy {entry.name!r} has unknown kind {entry.kind!r}; "
                             f"valid kinds: {', '.join(KINDS)}")
    return population


def heuristic_entry(baseline: str) -> PolicyEntry:
    baseline_class(baseline)  # an unknown name fails here, naming the valid ones
    return PolicyEntry(name=baseline, kind="heuristic", spec=baseline,
                       description=f"heuristic baseline {baseline}")


def with_acting(entry: PolicyEntry, acting: Mapping[str, Any]) -> PolicyEntry:
    """`entry`, a checkpoint that names no acting options of its own made to act by `acting`.

    Options a population file names are kept: they record how its members played in the matrix σ was solved from.
    """
    if entry.kind != "checkpoint" or any(key in entry.options for key in ACTING_KEYS):
        return entry
    return dataclasses.replace(entry, options={**entry.options, **acting})


def describe_acting(options: Mapping[str, Any]) -> str:
    """How a checkpoint with these options acts, in the words of its options (`greedy`, or `temperature=T`)."""
    return "greedy" if options.get("greedy") else ", ".join(f"{key}={options[key]}" for key in ACTING_KEYS
                                                            if key in options)


def entry_from_argument(text: str) -> PolicyEntry:
    """A CLI policy argument: a baseline, `module.path:ClassName`, a checkpoint `.pt`, or `mixture:POP:STRATEGY`."""
    if text in BASELINES:
        return heuristic_entry(text)
    if text.startswith("mixture:"):
        parts = text.split(":")
        if len(parts) != 3:
            raise UsageError(f"mixture policy {text!r} must look like mixture:POPULATION.json:META_STRATEGY.json")
        return PolicyEntry(name="nash_mixture", kind="mixture",
                           spec={"population": parts[1], "meta_strategy": parts[2]},
                           description=f"Nash mixture of {parts[1]}")
    if text.endswith(".pt"):
        return PolicyEntry(name=Path(text).stem, kind="checkpoint", spec=text,
                           description=f"checkpoint {text}")
    if ":" in text:
        return PolicyEntry(name=text.rsplit(":", 1)[1], kind="player", spec=text,
                           description=f"user Player {text}")
    raise UsageError(f"unknown policy {text!r}; use a baseline ({', '.join(BASELINES)}), "
                     "a checkpoint file ending in .pt, or module.path:ClassName of a poke-env Player")


def import_player_class(spec: str) -> type:
    """Resolve `module.path:ClassName` to a poke-env Player subclass."""
    from poke_env.player import Player

    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise UsageError(f"player spec {spec!r} must look like module.path:ClassName")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"cannot import player {spec!r}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Player)):
        raise UsageError(f"{spec!r} is not a poke-env Player subclass")
    return cls


def player_class(entry: PolicyEntry) -> type:
    """The poke-env Player class that plays this policy (its options are passed as keyword arguments)."""
    if entry.kind == "heuristic":
        try:
            return baseline_class(entry.spec)
        except UsageError as error:
            raise UsageError(f"policy {entry.name!r}: {error}") from None
    if entry.kind == "player":
        return import_player_class(entry.spec)
    if entry.kind == "checkpoint":
        if not Path(entry.spec).is_file():
            raise UsageError(f"policy {entry.name!r}: checkpoint not found: {entry.spec}")
        from pokepsro.learning.neural import NeuralPlayer

        return NeuralPlayer
    raise UsageError(f"policy {entry.name!r} of kind {entry.kind!r} is played through its members, "
                     "not as one Player")


@dataclass(frozen=True)
class PolicyPlayerFactory:
    """Makes a fresh Player for one policy (the battle runner makes one per lane or per side).

    A plain picklable object rather than a closure, so battle worker processes can receive it.
    With `record`, the Player also records its decisions as trajectories (see pokepsro.learning.recording).
    """

    entry: PolicyEntry
    record: bool = False

    def __post_init__(self) -> None:
        player_class(self.entry)  # bad entries fail here, in the caller, not later in a worker

    def __call__(self, **kwargs: Any) -> Any:
        cls = player_class(self.entry)
        if self.record:
            from pokepsro.learning.recording import make_recording

            cls = make_recording(cls)
        options = dict(self.entry.options)
        if self.entry.kind == "checkpoint":
            options["checkpoint"] = Path(self.entry.spec)
        return cls(**options, **kwargs)


def player_factory(entry: PolicyEntry, *, record: bool = False) -> PlayerFactory:
    """A callable making a fresh Player for this policy; see `PolicyPlayerFactory`."""
    return PolicyPlayerFactory(entry, record)


def player_factories(population: Population, *, record: bool = False) -> dict[str, PlayerFactory]:
    """Factories for every directly playable member (mixtures are expanded per battle instead)."""
    return {entry.name: player_factory(entry, record=record)
            for entry in population.entries if entry.kind != "mixture"}

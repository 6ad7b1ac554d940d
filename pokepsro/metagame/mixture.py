"""Nash-mixture agents: a `mixture` policy plays a member sampled per battle from σ."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pokepsro.core.errors import UsageError
from pokepsro.metagame.population import PolicyEntry, Population
from pokepsro.metagame.solver import load_meta_strategy


def mixture_entry(name: str, population_path: str | Path, meta_strategy_path: str | Path,
                  description: str = "") -> PolicyEntry:
    return PolicyEntry(name=name, kind="mixture",
                       spec={"population": str(population_path), "meta_strategy": str(meta_strategy_path)},
                       description=description or f"Nash mixture of {population_path}")


def load_mixture(entry: PolicyEntry) -> tuple[Population, np.ndarray]:
    """The member population and σ of a mixture entry, checked against each other."""
    try:
        population_path = Path(entry.spec["population"])
        strategy_path = Path(entry.spec["meta_strategy"])
    except (TypeError, KeyError):
        raise UsageError(f"mixture {entry.name!r} needs spec {{population: PATH, meta_strategy: PATH}}") from None
    population = Population.load(population_path)
    sigma = load_meta_strategy(strategy_path, expected_names=population.names).sigma
    if any(member.kind == "mixture" for member in population.entries):
        raise UsageError(f"mixture {entry.name!r}: nested mixtures are not supported ({population_path})")
    return population, np.asarray(sigma, dtype=float)

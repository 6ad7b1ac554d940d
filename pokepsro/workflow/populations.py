"""The population file of each stage: the baselines, phase 0 (plus the bootstrap), each iteration (plus its BR)."""

from __future__ import annotations

from pathlib import Path

from pokepsro.metagame.population import PolicyEntry, Population, heuristic_entry
from pokepsro.workflow.layout import BOOTSTRAP_NAME, br_name


def write_baseline_population(out: Path, baselines: list[str], extra_policies: list[dict]) -> Population:
    entries = [heuristic_entry(name) for name in baselines]
    entries += [PolicyEntry(name=p["name"], kind=p["kind"], spec=p["spec"], description=p.get("description", ""))
                for p in extra_policies]
    population = Population(tuple(entries)).extended()
    population.save(out)
    return population


def write_phase0_population(baselines: Path, checkpoint: Path, out: Path, acting: dict) -> Population:
    """The baselines plus the bootstrap, which plays with the workflow's `acting` options (greedy or a temperature)."""
    bootstrap = PolicyEntry(name=BOOTSTRAP_NAME, kind="checkpoint", spec=str(checkpoint),
                            description="neural policy: imitation of the strongest baselines, refined by PPO",
                            options=dict(acting))
    population = Population.load(baselines).extended(bootstrap)
    population.save(out)
    return population


def grow_population(previous: Path, checkpoint: Path, iteration: int, out: Path, acting: dict) -> Population:
    entry = PolicyEntry(name=br_name(iteration), kind="checkpoint", spec=str(checkpoint),
                        description=f"best response of PSRO iteration {iteration}", options=dict(acting))
    population = Population.load(previous).extended(entry)
    population.save(out)
    return population

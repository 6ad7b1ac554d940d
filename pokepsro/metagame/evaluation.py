"""One policy against opponents sampled per battle from a mixture: PSRO collection and evaluation battles."""

from __future__ import annotations

import dataclasses
from collections import Counter

from pokepsro.battles.arena import run_battles, schedule_matchup
from pokepsro.metagame.population import PolicyEntry, Population, player_factory
from pokepsro.core.errors import UsageError
from pokepsro.metagame.mixture import load_mixture, sample_members
from pokepsro.core.seeding import derive_seed
from pokepsro.battles.records import summarize
from pokepsro.gen1.teams import TeamSet

LEARNER_SUFFIX = "@learner"


def learner_key(entry: PolicyEntry) -> str:
    """A name for side A that cannot collide with an opponent (the learner may also be a σ member)."""
    return entry.name + LEARNER_SUFFIX


def play_against_mixture(learner: PolicyEntry, opponents: Population, sigma, n: int, *, team_set: TeamSet,
                         seed: int, record: bool = False, **run_options) -> list[dict]:
    """`n` battles of `learner` (side A) against a member of `opponents` drawn per battle from `sigma`.

    The sampled member is the record's `policy_b`, so opponent counts can be checked against σ. With
    `record`, the learner records its decisions as trajectories (only its own: a best response learns from
    what it did, not by imitating σ).
    `run_options` go to `run_battles` (record_path, backend, concurrency, limits, callbacks...).
    """
    key = learner_key(learner)
    specs = schedule_against_mixture(key, opponents.names, sigma, n, team_set,
                                     opponents_seed=derive_seed(seed, "opponents", learner.name),
                                     teams_seed=derive_seed(seed, "teams", learner.name))
    factories = {name: player_factory(opponents[name]) for name in {spec.policy_b for spec in specs}}
    factories[key] = player_factory(learner, record=record)
    return run_battles(specs, factories, **run_options)


def schedule_against_mixture(learner: str, names: list[str], sigma, n: int, team_set: TeamSet, *,
                             opponents_seed: int, teams_seed: int, start_index: int = 0) -> list:
    """`n` battles of `learner` (side A) against members drawn per battle from σ (the record's `policy_b`):
    teams drawn per battle, seats alternating, indices from `start_index`."""
    members = sample_members(names, sigma, n, opponents_seed)
    template = schedule_matchup(learner, "opponent", n, team_set, teams_seed, start_index=start_index)
    return [dataclasses.replace(spec, policy_b=member) for spec, member in zip(template, members)]


def play_match(policy_a: PolicyEntry, policy_b: PolicyEntry, n: int, *, team_set: TeamSet, seed: int,
               **run_options) -> dict:
    """`n` battles between two policies, seats alternating; the summary is from `policy_a`'s side."""
    name_a = policy_a.name
    name_b = policy_b.name if policy_b.name != name_a else f"{policy_b.name}_2"
    specs = schedule_matchup(name_a, name_b, n, team_set, derive_seed(seed, "match", name_a, name_b))
    factories = {name_a: player_factory(policy_a), name_b: player_factory(policy_b)}
    records = run_battles(specs, factories, **run_options)
    return {"policy_a": name_a, "policy_b": name_b, **_summary(records)}


def evaluate_policy(policy: PolicyEntry, opponent: PolicyEntry, n: int, **kwargs) -> dict:
    """`policy` against `opponent`, either of which may be a Nash mixture (member drawn per battle from σ)."""
    if policy.kind == "mixture" and opponent.kind == "mixture":
        raise UsageError("evaluate one mixture at a time: make the policy or the opponent a single policy")
    if opponent.kind == "mixture":
        members, sigma = load_mixture(opponent)
        records = play_against_mixture(policy, members, sigma, n, **kwargs)
        return summarize_against_mixture(records, dict(zip(members.names, map(float, sigma))))
    if policy.kind == "mixture":
        members, sigma = load_mixture(policy)
        records = play_against_mixture(opponent, members, sigma, n, **kwargs)
        return mixture_side(summarize_against_mixture(records, dict(zip(members.names, map(float, sigma)))))
    return play_match(policy, opponent, n, **kwargs)


def mixture_side(summary: dict) -> dict:
    """Flip a summary written from the opponent's side (side A) to the mixture's side."""
    flipped = summarize(summary["losses"], summary["wins"], summary["ties"])
    flipped["by_member"] = {name: {"sigma": s["sigma"], **summarize(s["losses"], s["wins"], s["ties"])}
                            for name, s in summary["by_member"].items()}
    return flipped


def summarize_against_mixture(records: list[dict], sigma_by_name: dict[str, float]) -> dict:
    """Overall win rate (with interval) against the mixture, plus per-member counts and win rates."""
    overall = _summary(records)
    by_member = {}
    for name in sorted({r["policy_b"] for r in records}):
        member_records = [r for r in records if r["policy_b"] == name]
        by_member[name] = {"sigma": sigma_by_name.get(name, 0.0), **_summary(member_records)}
    return {**overall, "by_member": by_member}


def _summary(records: list[dict]) -> dict:
    results = Counter(r["result_a"] for r in records)
    ends = Counter(r["end"] for r in records)
    return {**summarize(results["win"], results["loss"], results["tie"]), "ends": dict(ends)}

"""One policy against another, or against opponents drawn per battle from a mixture σ: the battles that collect a
best response's data and that measure every policy.

Summaries are from side A's point of view; `mixture_side` turns one to the mixture's side.
"""

from __future__ import annotations

from pokepsro.battles.api import run_battles
from pokepsro.battles.records import summarize, summarize_outcomes
from pokepsro.battles.spec import learner_key, schedule_against_mixture, schedule_matchup
from pokepsro.core.errors import UsageError
from pokepsro.core.seeding import derive_seed
from pokepsro.gen1.teams import TeamSet
from pokepsro.metagame.matrix import InteractionMatrix
from pokepsro.metagame.mixture import load_mixture
from pokepsro.metagame.population import PolicyEntry, Population, player_factory


def play_against_mixture(learner: PolicyEntry, opponents: Population, sigma, n: int, *, team_set: TeamSet,
                         seed: int, record: bool = False, **run_options) -> list[dict]:
    """`n` battles of `learner` (side A) against a member of `opponents` drawn per battle from `sigma`.

    The sampled member is the record's `policy_b`, so opponent counts can be checked against σ. With
    `record`, the learner records its decisions as trajectories (only its own: a best response learns from
    what it did, not by imitating σ).
    `run_options` go to `run_battles` (record_path, backend, concurrency, limits, callbacks...).
    """
    key = learner_key(learner.name)
    specs = schedule_against_mixture(key, opponents.names, sigma, n, team_set,
                                     opponents_seed=derive_seed(seed, "opponents", learner.name),
                                     teams_seed=derive_seed(seed, "teams", learner.name))
    factories = {name: player_factory(opponents[name]) for name in {spec.policy_b for spec in specs}}
    factories[key] = player_factory(learner, record=record)
    return run_battles(specs, factories, **run_options)


def evaluate_against_mixture(policy: PolicyEntry, members: Population, sigma, n: int, **kwargs) -> dict:
    """`policy` (side A) against members drawn per battle from σ: the summary, with its battle `records`."""
    records = play_against_mixture(policy, members, sigma, n, **kwargs)
    summary = summarize_against_mixture(records, dict(zip(members.names, map(float, sigma))))
    summary["records"] = sorted(records, key=lambda r: r["index"])
    return summary


def evaluate_against_nash(policy: PolicyEntry, members: Population, sigma, n: int, *,
                          matrix: InteractionMatrix | None = None, **kwargs) -> dict:
    """`policy` against σ (member drawn per battle), the measure of σ's exploitability a best response gives.

    Returns its summary against σ (`vs_nash`), its row against each member (from `matrix` when it was played
    into it, else from these battles), and the battle `records`. The battles depend on `policy.name` and the
    seed only, so another checkpoint under the same name plays the very same ones.
    """
    vs_nash = evaluate_against_mixture(policy, members, sigma, n, **kwargs)
    records = vs_nash.pop("records")
    if matrix is not None:
        vs_members = {other: matrix.counts(policy.name, other).summary() for other in members.names}
    else:
        vs_members = {other: {key: value for key, value in stats.items() if key != "sigma"}
                      for other, stats in vs_nash["by_member"].items()}
    return {"vs_nash": vs_nash, "vs_members": vs_members, "records": records}


def play_match(policy_a: PolicyEntry, policy_b: PolicyEntry, n: int, *, team_set: TeamSet, seed: int,
               **run_options) -> dict:
    """`n` battles between two policies, seats alternating; the summary is from `policy_a`'s side."""
    name_a = policy_a.name
    name_b = policy_b.name if policy_b.name != name_a else f"{policy_b.name}_2"
    specs = schedule_matchup(name_a, name_b, n, team_set, derive_seed(seed, "match", name_a, name_b))
    factories = {name_a: player_factory(policy_a), name_b: player_factory(policy_b)}
    records = run_battles(specs, factories, **run_options)
    return {"policy_a": name_a, "policy_b": name_b, **summarize_outcomes(records)}


def evaluate_policy(policy: PolicyEntry, opponent: PolicyEntry, n: int, **kwargs) -> dict:
    """`policy` against `opponent`, either of which may be a Nash mixture (member drawn per battle from σ)."""
    if policy.kind == "mixture" and opponent.kind == "mixture":
        raise UsageError("evaluate one mixture at a time: make the policy or the opponent a single policy")
    if opponent.kind == "mixture":
        summary = evaluate_against_mixture(policy, *load_mixture(opponent), n, **kwargs)
        del summary["records"]
        return summary
    if policy.kind == "mixture":
        return mixture_side(evaluate_against_mixture(opponent, *load_mixture(policy), n, **kwargs))
    return play_match(policy, opponent, n, **kwargs)


def mixture_side(summary: dict) -> dict:
    """Flip a summary written from the opponent's side (side A) to the mixture's side."""
    flipped = summarize(summary["losses"], summary["wins"], summary["ties"])
    flipped["by_member"] = {name: {"sigma": s["sigma"], **summarize(s["losses"], s["wins"], s["ties"])}
                            for name, s in summary["by_member"].items()}
    return flipped


def summarize_against_mixture(records: list[dict], sigma_by_name: dict[str, float]) -> dict:
    """Overall win rate (with interval) against the mixture, plus per-member counts and win rates."""
    overall = summarize_outcomes(records)
    by_member = {}
    for name in sorted({r["policy_b"] for r in records}):
        member_records = [r for r in records if r["policy_b"] == name]
        by_member[name] = {"sigma": sigma_by_name.get(name, 0.0), **summarize_outcomes(member_records)}
    return {**overall, "by_member": by_member}

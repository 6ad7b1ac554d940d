"""The jobs behind the Snakemake rules; each reads its inputs, computes, and writes its outputs atomically.

The `scripts/` wrappers only translate Snakemake's inputs/outputs/params into these calls.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from .atomic import atomic_write_json, write_jsonl
from .errors import UsageError
from .evaluation import mixture_side, play_against_mixture, summarize_against_mixture
from .matrix import InteractionMatrix
from .metagame import load_meta_strategy, solve_matrix_file
from .mixture import load_mixture, mixture_entry
from .population import Population, PolicyEntry, heuristic_entry
from .seeding import derive_seed
from .stats import summarize
from .teams import load_team_set
from .tournament import run_tournament

BOOTSTRAP_NAME = "bootstrap"


def br_name(i: int) -> str:
    return f"PSRO_BR{i}"


# ----------------------------------------------------------------------------- populations

def write_baseline_population(out: Path, baselines: list[str], extra_policies: list[dict]) -> Population:
    entries = [heuristic_entry(name) for name in baselines]
    entries += [PolicyEntry(name=p["name"], kind=p["kind"], spec=p["spec"], description=p.get("description", ""))
                for p in extra_policies]
    population = Population(tuple(entries)).extended()
    population.save(out)
    return population


def write_phase0_population(baselines: Path, checkpoint: Path, out: Path) -> Population:
    bootstrap = PolicyEntry(name=BOOTSTRAP_NAME, kind="checkpoint", spec=str(checkpoint),
                            description="neural policy trained offline on the phase-0 baseline battles")
    population = Population.load(baselines).extended(bootstrap)
    population.save(out)
    return population


def grow_population(previous: Path, checkpoint: Path, iteration: int, out: Path) -> Population:
    entry = PolicyEntry(name=br_name(iteration), kind="checkpoint", spec=str(checkpoint),
                        description=f"best response of PSRO iteration {iteration}")
    population = Population.load(previous).extended(entry)
    population.save(out)
    return population


# ----------------------------------------------------------------------------- battles

def _battle_kwargs(battle: dict, runtime: dict) -> dict:
    return {"battle_format": battle["battle_format"], "max_turns": battle["max_turns"],
            "battle_timeout_s": battle["battle_timeout_s"], "concurrency": runtime["concurrency"],
            "backend": runtime["backend"], "workers": runtime["workers"]}


def _trajectory_writer(out_dir: Path, sides: str, battle_format: str):
    from .recording import TrajectoryWriter

    return TrajectoryWriter(out_dir, sides=sides, format=battle_format)


def _resumable_dir(final: Path) -> Path:
    """A stable work folder next to `final`, so a killed job's shards are reused on rerun.

    Shards are named by battle index and written before the battle's record, so a battle without a record
    is replayed and overwrites its own shard: the folder never holds a battle twice. A shard that a killed
    job was writing is left as a temp file; it is removed here, as its battle has no record and is replayed.
    """
    work = final.with_name(f".{final.name}.partial")
    work.mkdir(parents=True, exist_ok=True)
    for half_written in work.glob(".*.tmp"):
        half_written.unlink()
    return work


def _publish_dir(work: Path, final: Path) -> None:
    if final.exists():
        shutil.rmtree(final)
    work.rename(final)


def tournament_stage(*, population: Path, previous: Path | None, matrix_out: Path, battles_out: Path,
                     trajectories_out: Path, battles_per_matchup: int, team_set: str, seed: int, battle: dict,
                     runtime: dict, server_log: Path, stage: str) -> InteractionMatrix:
    """Play the stage's missing pairs, recording both seats of every battle as trajectories."""
    members = Population.load(population)
    teams = load_team_set(team_set, battle["battle_format"])
    previous_matrix = InteractionMatrix.load(previous) if previous else None
    work = _resumable_dir(trajectories_out)
    writer = _trajectory_writer(work, "both", battle["battle_format"])
    matrix = run_tournament(members, battles_per_matchup=battles_per_matchup, team_set=teams,
                            seed=derive_seed(seed, "tournament", stage), records_path=battles_out,
                            previous=previous_matrix, parallel_matchups=runtime["parallel_matchups"],
                            server_log=server_log, record=True, on_battle_end=writer.on_battle_end,
                            **_battle_kwargs(battle, runtime))
    matrix.metadata.update({"stage": stage, "battles_per_matchup": battles_per_matchup, "team_set": team_set,
                            "seed": seed, **battle})
    _publish_dir(work, trajectories_out)
    matrix.save(matrix_out)
    return matrix


def collect_stage(*, learner_checkpoint: Path, learner_name: str, population: Path, strategy: Path, out: Path,
                  battles: int, team_set: str, seed: int, battle: dict, runtime: dict, server_log: Path) -> dict:
    """The learner against opponents drawn per battle from σ; both seats' decisions become trajectories."""
    opponents = Population.load(population)
    sigma = load_meta_strategy(strategy, expected_names=opponents.names).sigma
    learner = PolicyEntry(name=learner_name, kind="checkpoint", spec=str(learner_checkpoint))
    if not learner_checkpoint.is_file():
        raise UsageError(f"checkpoint not found: {learner_checkpoint}")
    records_path = out.with_name(f".{out.name}.records.partial")
    work = _resumable_dir(out)
    writer = _trajectory_writer(work, "both", battle["battle_format"])
    records = play_against_mixture(learner, opponents, sigma, battles,
                                   team_set=load_team_set(team_set, battle["battle_format"]),
                                   seed=derive_seed(seed, "collect", learner_name), record_path=records_path,
                                   server_log=server_log, record=True, on_battle_end=writer.on_battle_end,
                                   **_battle_kwargs(battle, runtime))
    summary = summarize_against_mixture(records, dict(zip(opponents.names, map(float, sigma))))
    summary.update({"learner": learner_name, "learner_checkpoint": str(learner_checkpoint), "seed": seed})
    write_jsonl(work / "records.jsonl", sorted(records, key=lambda r: r["index"]))
    atomic_write_json(work / "summary.json", summary)
    _publish_dir(work, out)
    records_path.unlink(missing_ok=True)
    return summary


def _evaluate_vs_mixture(policy: PolicyEntry, population: Population, sigma, *, battles: int, team_set: str,
                         seed: int, battle: dict, runtime: dict, server_log: Path, work_name: Path) -> dict:
    records_path = work_name.with_name(f".{work_name.name}.records.partial")
    records = play_against_mixture(policy, population, sigma, battles,
                                   team_set=load_team_set(team_set, battle["battle_format"]), seed=seed,
                                   record_path=records_path, server_log=server_log,
                                   **_battle_kwargs(battle, runtime))
    summary = summarize_against_mixture(records, dict(zip(population.names, map(float, sigma))))
    write_jsonl(work_name.with_suffix(".battles.jsonl"), sorted(records, key=lambda r: r["index"]))
    records_path.unlink(missing_ok=True)
    return summary


def evaluate_best_response_stage(*, checkpoint: Path, iteration: int, population: Path, strategy: Path,
                                 matrix: Path, out: Path, battles: int, team_set: str, seed: int, battle: dict,
                                 runtime: dict, server_log: Path) -> dict:
    """BR_i vs σ_{i-1} by direct battles, and vs each member as measured in the new matrix row."""
    previous = Population.load(population)
    sigma = load_meta_strategy(strategy, expected_names=previous.names).sigma
    name = br_name(iteration)
    policy = PolicyEntry(name=name, kind="checkpoint", spec=str(checkpoint))
    vs_nash = _evaluate_vs_mixture(policy, previous, sigma, battles=battles, team_set=team_set,
                                   seed=derive_seed(seed, "br_eval", iteration), battle=battle, runtime=runtime,
                                   server_log=server_log, work_name=out)
    grown = InteractionMatrix.load(matrix)
    vs_members = {other: _pair_summary(grown.counts(name, other)) for other in previous.names}
    result = {"policy": name, "checkpoint": str(checkpoint), "vs_previous_nash": vs_nash,
              "gain_vs_previous_nash": vs_nash["win_rate"] - 0.5,
              "gain_ci95": [vs_nash["ci95"][0] - 0.5, vs_nash["ci95"][1] - 0.5],
              "vs_members": vs_members, "team_set": team_set, "seed": seed}
    atomic_write_json(out, result)
    return result


def _pair_summary(counts) -> dict:
    return summarize(counts.wins, counts.losses, counts.ties)


def bootstrap_eval_stage(*, checkpoint: Path, opponents: list[str], out: Path, battles: int, team_set: str,
                         seed: int, battle: dict, runtime: dict, server_log: Path) -> dict:
    policy = PolicyEntry(name=BOOTSTRAP_NAME, kind="checkpoint", spec=str(checkpoint))
    result = {"policy": BOOTSTRAP_NAME, "checkpoint": str(checkpoint), "team_set": team_set, "seed": seed,
              "opponents": {}}
    for opponent in opponents:
        single = Population((heuristic_entry(opponent),))
        result["opponents"][opponent] = _evaluate_vs_mixture(
            policy, single, np.ones(1), battles=battles, team_set=team_set,
            seed=derive_seed(seed, "bootstrap_eval", opponent), battle=battle, runtime=runtime,
            server_log=server_log, work_name=out.with_name(f"{out.stem}_{opponent}"))
    atomic_write_json(out, result)
    return result


def mixture_vs_baselines_stage(*, population: Path, strategy: Path, baselines: list[str], out: Path, battles: int,
                               team_set: str, seed: int, battle: dict, runtime: dict, server_log: Path) -> dict:
    """The final Nash mixture, a member drawn per battle from σ, against every heuristic baseline."""
    mixture = mixture_entry("nash_mixture", population, strategy)
    members, sigma = load_mixture(mixture)
    result = {"mixture": mixture.spec, "team_set": team_set, "seed": seed, "opponents": {}}
    for baseline in baselines:
        # Side A is the baseline, the mixture member is side B; report from the mixture's side.
        summary = _evaluate_vs_mixture(heuristic_entry(baseline), members, sigma, battles=battles,
                                       team_set=team_set, seed=derive_seed(seed, "mixture_eval", baseline),
                                       battle=battle, runtime=runtime, server_log=server_log,
                                       work_name=out.with_name(f"{out.stem}_{baseline}"))
        result["opponents"][baseline] = mixture_side(summary)
    atomic_write_json(out, result)
    return result


# ----------------------------------------------------------------------------- meta-game

def solve_stage(*, matrix: Path, population: Path, strategy_out: Path, analysis_out: Path, solver: str,
                previous_strategy: Path | None = None, br_eval: Path | None = None) -> None:
    """σ of this stage; for an iteration also the previous σ's exploitability and BR_i's direct gain."""
    members = Population.load(population)
    names = InteractionMatrix.load(matrix).policy_names
    if names != members.names:
        raise UsageError(f"{matrix} has policies {names}, population {population} has {members.names}; "
                         "rebuild the matrix")
    extra = {}
    if br_eval is not None:
        evaluation = json.loads(Path(br_eval).read_text())
        extra = {"br_gain_vs_previous_nash": evaluation["gain_vs_previous_nash"],
                 "br_gain_ci95": evaluation["gain_ci95"],
                 "br_winrate_vs_previous_nash": evaluation["vs_previous_nash"]["win_rate"]}
    strategy, analysis = solve_matrix_file(matrix, strategy_out.parent, solver=solver,
                                           previous_strategy_path=previous_strategy, extra_analysis=extra)
    if (strategy, analysis) != (strategy_out, analysis_out):
        raise RuntimeError(f"solver wrote {strategy} and {analysis}, expected {strategy_out} and {analysis_out}")


def stage_figures(*, matrix: Path, strategy: Path, matrix_png: Path, strategy_png: Path, stage: str) -> None:
    from .plots import plot_interaction_matrix, plot_meta_strategy

    interaction = InteractionMatrix.load(matrix)
    data = json.loads(Path(strategy).read_text())
    plot_interaction_matrix(interaction, matrix_png)
    plot_meta_strategy(data["policy_names"], data["meta_strategy"], strategy_png, title=f"Nash mixture, {stage}")


# ----------------------------------------------------------------------------- training

def train_stage(*, out_checkpoint: Path, collected: list[Path], replay: list[Path], init: Path | None,
                model_config: str, train_config: str, epochs: int, batch_size: int, replay_weight: float,
                seed: int) -> Path:
    """Train a policy; `out_checkpoint` is ckpts/epoch_{epochs}.pt inside the training folder."""
    from .model import load_model_config
    from .trainer import load_train_config, train

    if init is not None and not Path(init).is_file():
        raise UsageError(f"checkpoint not found: {init}")
    config = load_train_config(train_config)
    config.update({"epochs": epochs, "batch_size": batch_size, "seed": seed})
    out_dir = out_checkpoint.parent.parent
    last = train(out_dir=out_dir, collected_dirs=collected, replay_dirs=replay, replay_weight=replay_weight,
                 model_config=load_model_config(model_config), train_config=config, init_from_checkpoint=init)
    if Path(last) != out_checkpoint:
        raise RuntimeError(f"trainer wrote {last}, the workflow expects {out_checkpoint}")
    return last


# ----------------------------------------------------------------------------- analysis

SUCCESS_EXPLOITABILITY = 0.15
SUCCESS_SUPPORT = 3
SUCCESS_BR_WINRATE = 0.60


def _read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def analysis_stage(*, stages: list[str], analyses: list[Path], strategies: list[Path], br_evals: list[Path],
                   matrix: Path, population: Path, initial_population: Path, out: dict[str, Path]) -> dict:
    """Progress curves and the guide's four success criteria, each with its measured value."""
    from .plots import plot_br_winrate, plot_exploitability, plot_interaction_matrix, plot_nash_mixture_history

    stage_analyses = [_read_json(path) for path in analyses]
    stage_strategies = [_read_json(path) for path in strategies]
    evaluations = [_read_json(path) for path in br_evals]
    labels = [Path(stage).name for stage in stages]
    # Iteration i's analysis holds the exploitability of the previous stage's σ, measured when BR_i joined.
    measured = [{"sigma_of": labels[i], "measured_with": evaluations[i]["policy"],
                 "exploitability": stage_analyses[i + 1]["exploitability"],
                 "best_responder": stage_analyses[i + 1].get("exploitability_attained_by"),
                 "br_gain": evaluations[i]["gain_vs_previous_nash"], "br_gain_ci95": evaluations[i]["gain_ci95"],
                 "br_winrate": evaluations[i]["vs_previous_nash"]["win_rate"],
                 "br_winrate_ci95": evaluations[i]["vs_previous_nash"]["ci95"]}
                for i in range(len(evaluations))]
    plot_exploitability([m["sigma_of"] for m in measured], [m["exploitability"] for m in measured],
                        [m["br_gain"] for m in measured], [m["br_gain_ci95"] for m in measured],
                        out["exploitability"])
    plot_nash_mixture_history([(label, s["policy_names"], s["meta_strategy"])
                               for label, s in zip(labels, stage_strategies)], out["nash_mixture"])
    plot_interaction_matrix(InteractionMatrix.load(matrix), out["matrix"])
    plot_br_winrate([m["measured_with"] for m in measured], [m["br_winrate"] for m in measured],
                    [m["br_winrate_ci95"] for m in measured], out["br_winrate"])
    final = stage_analyses[-1]
    initial_size = len(Population.load(initial_population))
    final_size = len(Population.load(population))
    summary = {
        "stages": [{"stage": label, "population_size": len(s["policy_names"]),
                    "support_size": a["support_size"], "entropy": a["entropy"],
                    "exploitability_within_population": a["exploitability_within_population"],
                    "dominant_policies": a["dominant_policies"]}
                   for label, s, a in zip(labels, stage_strategies, stage_analyses)],
        "exploitability_progress": measured,
        "final_stage": labels[-1],
        "note": ("exploitability of a stage's σ is measured when the next best response joins; the last "
                 "stage's σ needs one more iteration (or an exploiter run) to be measured."),
    }
    last_exploitability = measured[-1]["exploitability"] if measured else None
    criteria = {
        "exploitability_below_0.15": {
            "value": last_exploitability, "threshold": SUCCESS_EXPLOITABILITY,
            "measured_on": measured[-1]["sigma_of"] if measured else None,
            "note": ("measured against the grown population: a lower bound on the true exploitability, as "
                     "tight as the best responses are strong (see each_br_beats_previous_nash_60pct)"),
            "pass": last_exploitability is not None and last_exploitability < SUCCESS_EXPLOITABILITY},
        "nash_support_at_least_3": {"value": final["support_size"], "threshold": SUCCESS_SUPPORT,
                                    "pass": final["support_size"] >= SUCCESS_SUPPORT},
        "each_br_beats_previous_nash_60pct": {
            "value": {m["measured_with"]: m["br_winrate"] for m in measured}, "threshold": SUCCESS_BR_WINRATE,
            "pass": bool(measured) and all(m["br_winrate"] >= SUCCESS_BR_WINRATE for m in measured)},
        "population_equals_initial_plus_iterations": {
            "value": final_size, "expected": initial_size + len(evaluations),
            "pass": final_size == initial_size + len(evaluations)},
    }
    success = {"criteria": criteria, "all_pass": all(c["pass"] for c in criteria.values())}
    atomic_write_json(out["summary"], summary)
    atomic_write_json(out["success"], success)
    return success

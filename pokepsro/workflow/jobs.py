"""The jobs behind the Snakemake rules; each reads its inputs, computes, and writes its outputs atomically.

The `scripts/` wrappers only translate Snakemake's inputs/outputs/params into these calls.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from pokepsro.core.files import atomic_write_bytes, atomic_write_json, write_jsonl
from pokepsro.core.errors import UsageError
from pokepsro.metagame.evaluation import mixture_side, play_against_mixture, summarize_against_mixture
from pokepsro.metagame.matrix import InteractionMatrix, read_json_object
from pokepsro.metagame.solver import exploitability_passes, load_meta_strategy, measured_exploitability, solve_matrix_file
from pokepsro.metagame.mixture import load_mixture, mixture_entry
from pokepsro.metagame.population import Population, PolicyEntry, heuristic_entry
from pokepsro.core.seeding import derive_seed
from pokepsro.battles.records import summarize
from pokepsro.gen1.teams import load_team_set
from pokepsro.metagame.tournament import run_tournament

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


# ----------------------------------------------------------------------------- battles

def _battle_kwargs(battle: dict, runtime: dict) -> dict:
    return {"battle_format": battle["battle_format"], "max_turns": battle["max_turns"],
            "battle_timeout_s": battle["battle_timeout_s"], "concurrency": runtime["concurrency"],
            "backend": runtime["backend"], "workers": runtime["workers"]}


def _trajectory_writer(out_dir: Path, sides: str, battle_format: str):
    from pokepsro.learning.recording import TrajectoryWriter

    return TrajectoryWriter(out_dir, sides=sides, format=battle_format)


def _resumable_dir(final: Path) -> Path:
    """A stable work folder next to `final`, so a killed job's shards are reused on rerun.

    Shards are named by battle index and written before the battle's record, so a battle without a record
    is replayed and overwrites its own shard: the folder never holds a battle twice. A shard that a killed
    job was writing is left as a temp file; it is removed here, as its battle has no record and is replayed.
    """
    work = _partial_dir(final)
    work.mkdir(parents=True, exist_ok=True)
    for half_written in work.glob(".*.tmp"):
        half_written.unlink()
    return work


def _partial_dir(final: Path) -> Path:
    return final.with_name(f".{final.name}.partial")


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
    """The learner against opponents drawn per battle from σ; the learner's decisions become trajectories."""
    opponents = Population.load(population)
    sigma = load_meta_strategy(strategy, expected_names=opponents.names).sigma
    learner = PolicyEntry(name=learner_name, kind="checkpoint", spec=str(learner_checkpoint))
    if not learner_checkpoint.is_file():
        raise UsageError(f"checkpoint not found: {learner_checkpoint}")
    records_path = out.with_name(f".{out.name}.records.partial")
    work = _resumable_dir(out)
    writer = _trajectory_writer(work, "a", battle["battle_format"])
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
    """`policy` against members drawn per battle from σ; the summary carries its battle records (`records`).

    The records live inside the job's one declared output, so reruns and `--delete-all-output` see them; a
    killed job's battles wait in a hidden `.partial` file beside `work_name` and are resumed.
    """
    records_path = work_name.with_name(f".{work_name.name}.records.partial")
    records = play_against_mixture(policy, population, sigma, battles,
                                   team_set=load_team_set(team_set, battle["battle_format"]), seed=seed,
                                   record_path=records_path, server_log=server_log,
                                   **_battle_kwargs(battle, runtime))
    summary = summarize_against_mixture(records, dict(zip(population.names, map(float, sigma))))
    summary["records"] = sorted(records, key=lambda r: r["index"])
    return summary


def _drop_partial_records(work_name: Path) -> None:
    """After the output is written: the resume file of `_evaluate_vs_mixture` is no longer needed."""
    work_name.with_name(f".{work_name.name}.records.partial").unlink(missing_ok=True)


def _matrix_team_set(matrix: InteractionMatrix, path: Path) -> str:
    """The team set of the game a matrix (and the σ solved from it) was played in."""
    team_set = matrix.metadata.get("team_set")
    if not isinstance(team_set, str) or not team_set:
        raise UsageError(f"{path}: the matrix metadata names no team_set; rebuild the matrix")
    return team_set


def _evaluate_vs_nash(*, name: str, checkpoint: Path, population: Path, strategy: Path, matrix: Path, out: Path,
                      battles: int, seed: int, eval_seed: int, battle: dict, runtime: dict, server_log: Path,
                      acting: dict, members_from_matrix: bool) -> dict:
    """A checkpoint against σ (opponent drawn per battle), on the team set σ's matrix was played on.

    One game per comparison: σ is a Nash of the game played on the matrix's team set by members acting with
    the workflow's `acting` options, so the checkpoint plays that same game (team set and acting options named
    in the artifact).
    """
    if not Path(checkpoint).is_file():
        raise UsageError(f"checkpoint not found: {checkpoint}")
    members = Population.load(population)
    sigma = load_meta_strategy(strategy, expected_names=members.names).sigma
    matrix_data = InteractionMatrix.load(matrix)
    team_set = _matrix_team_set(matrix_data, matrix)
    policy = PolicyEntry(name=name, kind="checkpoint", spec=str(checkpoint), options=dict(acting))
    vs_nash = _evaluate_vs_mixture(policy, members, sigma, battles=battles, team_set=team_set, seed=eval_seed,
                                   battle=battle, runtime=runtime, server_log=server_log, work_name=out)
    records = vs_nash.pop("records")
    if members_from_matrix:
        vs_members = {other: _pair_summary(matrix_data.counts(name, other)) for other in members.names}
    else:  # not in the matrix: its battles against each member drawn from σ
        vs_members = {other: {key: value for key, value in stats.items() if key != "sigma"}
                      for other, stats in vs_nash["by_member"].items()}
    measurement = measured_exploitability(vs_nash["win_rate"], vs_nash["ci95"])
    result = {"policy": name, "checkpoint": str(checkpoint), "against": str(strategy), "team_set": team_set,
              "acting": dict(acting), "seed": seed, "vs_previous_nash": vs_nash, "gain_vs_previous_nash": measurement["gain"],
              "gain_ci95": measurement["gain_ci95"], "exploitability": measurement, "vs_members": vs_members,
              "records": records}
    atomic_write_json(out, result)
    _drop_partial_records(out)
    return result


def evaluate_best_response_stage(*, checkpoint: Path, iteration: int, population: Path, strategy: Path,
                                 matrix: Path, out: Path, battles: int, seed: int, battle: dict, runtime: dict,
                                 server_log: Path, acting: dict) -> dict:
    """BR_i vs σ_{i-1} by direct battles, and vs each member as measured in the new matrix row.

    Both are played on the team set of the matrix and with the members' `acting` options (named in the
    output), so the two never mix games.
    """
    return _evaluate_vs_nash(name=br_name(iteration), checkpoint=checkpoint, population=population,
                             strategy=strategy, matrix=matrix, out=out, battles=battles, seed=seed,
                             eval_seed=derive_seed(seed, "br_eval", iteration), battle=battle, runtime=runtime,
                             server_log=server_log, acting=acting, members_from_matrix=True)


EXPLOITER_NAME = "exploiter"


def evaluate_exploiter_stage(*, checkpoint: Path, population: Path, strategy: Path, matrix: Path, out: Path,
                             battles: int, seed: int, battle: dict, runtime: dict, server_log: Path,
                             acting: dict) -> dict:
    """The exploiter (one more best response, trained against the final σ) against the final σ.

    Writes `exploiter_eval.json` with the schema of `br_eval.json` (policy "exploiter"); `vs_members` holds
    its battles against each member drawn from σ, as it is not in the matrix.
    """
    return _evaluate_vs_nash(name=EXPLOITER_NAME, checkpoint=checkpoint, population=population, strategy=strategy,
                             matrix=matrix, out=out, battles=battles, seed=seed,
                             eval_seed=derive_seed(seed, "exploiter_eval"), battle=battle, runtime=runtime,
                             server_log=server_log, acting=acting, members_from_matrix=False)


def _pair_summary(counts) -> dict:
    return summarize(counts.wins, counts.losses, counts.ties)


def bootstrap_eval_stage(*, checkpoint: Path, opponents: list[str], out: Path, battles: int, team_set: str,
                         seed: int, battle: dict, runtime: dict, server_log: Path, acting: dict) -> dict:
    """The bootstrap, acting as in the population, against each opponent, all on `team_set` (both named in the
    output), records included."""
    policy = PolicyEntry(name=BOOTSTRAP_NAME, kind="checkpoint", spec=str(checkpoint), options=dict(acting))
    result = {"policy": BOOTSTRAP_NAME, "checkpoint": str(checkpoint), "team_set": team_set, "acting": dict(acting),
              "seed": seed, "opponents": {}}
    work_names = {opponent: out.with_name(f"{out.stem}_{opponent}") for opponent in opponents}
    for opponent in opponents:
        single = Population((heuristic_entry(opponent),))
        result["opponents"][opponent] = _evaluate_vs_mixture(
            policy, single, np.ones(1), battles=battles, team_set=team_set,
            seed=derive_seed(seed, "bootstrap_eval", opponent), battle=battle, runtime=runtime,
            server_log=server_log, work_name=work_names[opponent])
    atomic_write_json(out, result)
    for work_name in work_names.values():
        _drop_partial_records(work_name)
    return result


def mixture_vs_baselines_stage(*, population: Path, strategy: Path, baselines: list[str], out: Path, battles: int,
                               team_set: str, seed: int, battle: dict, runtime: dict, server_log: Path) -> dict:
    """The final Nash mixture, a member drawn per battle from σ, against every heuristic baseline.

    Every battle is on `team_set` (named in the output); each baseline's battle records are included.
    """
    mixture = mixture_entry("nash_mixture", population, strategy)
    members, sigma = load_mixture(mixture)
    result = {"mixture": mixture.spec, "team_set": team_set, "seed": seed, "opponents": {}}
    work_names = {baseline: out.with_name(f"{out.stem}_{baseline}") for baseline in baselines}
    for baseline in baselines:
        # Side A is the baseline, the mixture member is side B; report from the mixture's side.
        summary = _evaluate_vs_mixture(heuristic_entry(baseline), members, sigma, battles=battles,
                                       team_set=team_set, seed=derive_seed(seed, "mixture_eval", baseline),
                                       battle=battle, runtime=runtime, server_log=server_log,
                                       work_name=work_names[baseline])
        result["opponents"][baseline] = {**mixture_side(summary), "records": summary["records"]}
    atomic_write_json(out, result)
    for work_name in work_names.values():
        _drop_partial_records(work_name)
    return result


# ----------------------------------------------------------------------------- meta-game

BR_EVAL_KEYS = ("policy", "team_set", "vs_previous_nash.win_rate", "vs_previous_nash.ci95",
                "vs_previous_nash.battles", "gain_vs_previous_nash", "gain_ci95")


def _read_json(path: Path, *required: str) -> dict:
    """A JSON object with the (dotted) keys `required`; a missing file, bad JSON or missing key is one UsageError."""
    document = read_json_object(path)
    for dotted in required:
        node = document
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                raise UsageError(f"{path}: missing key {dotted!r}; delete the file and rerun to rebuild it")
            node = node[part]
    return document


def _read_evaluation(path: Path) -> dict:
    """A `br_eval.json` / `exploiter_eval.json`, with the measurement of σ's exploitability it implies."""
    evaluation = _read_json(path, *BR_EVAL_KEYS)
    vs_nash = evaluation["vs_previous_nash"]
    try:
        evaluation["exploitability"] = measured_exploitability(vs_nash["win_rate"], vs_nash["ci95"])
    except (TypeError, ValueError):
        raise UsageError(f"{path}: vs_previous_nash needs a numeric win_rate and a [low, high] ci95") from None
    return evaluation


def solve_stage(*, matrix: Path, population: Path, strategy_out: Path, analysis_out: Path, solver: str,
                previous_strategy: Path | None = None, br_eval: Path | None = None) -> None:
    """σ of this stage; for an iteration also the previous σ's exploitability and BR_i's direct gain."""
    members = Population.load(population)
    matrix_data = InteractionMatrix.load(matrix)
    names = matrix_data.policy_names
    if names != members.names:
        raise UsageError(f"{matrix} has policies {names}, population {population} has {members.names}; "
                         "rebuild the matrix")
    team_set = _matrix_team_set(matrix_data, matrix)
    extra: dict = {"team_set": team_set}
    if br_eval is not None:
        evaluation = _read_evaluation(br_eval)
        if evaluation["team_set"] != team_set:
            raise UsageError(f"{br_eval} was played on team set {evaluation['team_set']!r} but {matrix} on "
                             f"{team_set!r}; one comparison needs one team set: rebuild {br_eval}")
        measurement = evaluation["exploitability"]
        extra.update({"br_gain_vs_previous_nash": measurement["gain"], "br_gain_ci95": measurement["gain_ci95"],
                      "br_winrate_vs_previous_nash": evaluation["vs_previous_nash"]["win_rate"],
                      "br_winrate_ci95": evaluation["vs_previous_nash"]["ci95"],
                      "exploitability_measured": {"measured_with": evaluation["policy"], **measurement}})
    strategy, analysis = solve_matrix_file(matrix, strategy_out.parent, solver=solver,
                                           previous_strategy_path=previous_strategy, extra_analysis=extra)
    if (strategy, analysis) != (strategy_out, analysis_out):
        raise RuntimeError(f"solver wrote {strategy} and {analysis}, expected {strategy_out} and {analysis_out}")


def stage_figures(*, matrix: Path, strategy: Path, matrix_png: Path, strategy_png: Path, stage: str) -> None:
    from pokepsro.workflow.plots import plot_interaction_matrix, plot_meta_strategy

    interaction = InteractionMatrix.load(matrix)
    data = load_meta_strategy(strategy)
    plot_interaction_matrix(interaction, matrix_png)
    plot_meta_strategy(data.policy_names, data.sigma, strategy_png, title=f"Nash mixture, {stage}")


# ----------------------------------------------------------------------------- training

def best_response_stage(*, oracle: str, learner_name: str, init: Path, population: Path, strategy: Path,
                        out_checkpoint: Path, training_out: Path, seed: int, team_set: str, battle: dict,
                        runtime: dict, options: dict) -> Path:
    """Train a best response to the σ of `population` with `oracle`; see `_run_oracle`."""
    opponents = Population.load(population)
    sigma = load_meta_strategy(strategy, expected_names=opponents.names).sigma
    return run_oracle(oracle, learner_name=learner_name, init=init, opponents=opponents, sigma=sigma,
                       out_checkpoint=out_checkpoint, training_out=training_out, seed=seed, team_set=team_set,
                       battle=battle, runtime=runtime, options=options)


def refine_bootstrap_stage(*, init: Path, opponents: list[str], out_checkpoint: Path, training_out: Path, seed: int,
                           team_set: str, battle: dict, runtime: dict, options: dict) -> Path:
    """The imitation bootstrap refined by the PPO oracle against a uniform mix of heuristic baselines."""
    population = Population(tuple(heuristic_entry(name) for name in opponents))
    return run_oracle("ppo", learner_name=BOOTSTRAP_NAME, init=init, opponents=population,
                       sigma=np.full(len(opponents), 1 / len(opponents)), out_checkpoint=out_checkpoint,
                       training_out=training_out, seed=seed, team_set=team_set, battle=battle, runtime=runtime,
                       options=options)


def run_oracle(oracle: str, *, learner_name: str, init: Path, opponents: Population, sigma, out_checkpoint: Path,
                training_out: Path, seed: int, team_set: str, battle: dict, runtime: dict, options: dict) -> Path:
    """The oracle works in a hidden `.<training_out>.partial` folder (a rerun after a kill resumes there), published
    when it is done; the policy itself is copied to `out_checkpoint`, whatever oracle made it."""
    from pokepsro.learning.oracle import BestResponseTask, check_oracle, train_best_response
    from pokepsro.workflow.plots import plot_learning_curve

    task = BestResponseTask(learner_name=learner_name, init_checkpoint=Path(init), opponents=opponents,
                            sigma=np.asarray(sigma, dtype=float), work_dir=_partial_dir(training_out),
                            seed=derive_seed(seed, "oracle", learner_name), team_set=team_set, battle=battle,
                            runtime=runtime, options=options)
    check_oracle(oracle, options)
    work = _resumable_dir(training_out)
    result = train_best_response(oracle, task)
    plot_learning_curve(result.metrics, work / "learning_curve.png", title=f"{learner_name} ({oracle} oracle)")
    atomic_write_bytes(out_checkpoint, Path(result.checkpoint).read_bytes())
    _publish_dir(work, training_out)
    return out_checkpoint


def train_stage(*, out_checkpoint: Path, collected: list[Path], replay: list[Path], init: Path | None,
                model_config: str, train_config: str, epochs: int, batch_size: int, replay_weight: float,
                seed: int, policies: list[str] | None = None) -> Path:
    """Train a policy (on the decisions of `policies` only, when given); `out_checkpoint` is
    ckpts/epoch_{epochs}.pt inside the training folder."""
    from pokepsro.learning.model import load_model_config
    from pokepsro.learning.trainer import load_train_config, train

    if init is not None and not Path(init).is_file():
        raise UsageError(f"checkpoint not found: {init}")
    config = load_train_config(train_config)
    config.update({"epochs": epochs, "batch_size": batch_size, "seed": seed})
    out_dir = out_checkpoint.parent.parent
    last = train(out_dir=out_dir, collected_dirs=collected, replay_dirs=replay, replay_weight=replay_weight,
                 model_config=load_model_config(model_config), train_config=config, init_from_checkpoint=init,
                 policies=policies)
    if Path(last) != out_checkpoint:
        raise RuntimeError(f"trainer wrote {last}, the workflow expects {out_checkpoint}")
    return last


# ----------------------------------------------------------------------------- analysis

SUCCESS_EXPLOITABILITY = 0.15
SUCCESS_SUPPORT = 3
SUCCESS_BR_WINRATE = 0.60
STAGE_ANALYSIS_KEYS = ("support_size", "entropy", "exploitability_within_population", "dominant_policies")
ITERATION_ANALYSIS_KEYS = ("exploitability", "exploitability_of_previous.best_response")


def _check_measured_against(evaluation: dict, path: Path, strategy: Path) -> None:
    """An evaluation that names the σ it played against must name this one."""
    against = evaluation.get("against")
    if against is not None and Path(against).resolve() != Path(strategy).resolve():
        raise UsageError(f"{path} measured σ of {against}, but the analysis expects {strategy}; rebuild {path}")


def _sigma_measurement(sigma_of: str, evaluation: dict, following: dict | None) -> dict:
    """One σ's exploitability as its best response measured it, beside the gain, its interval, and the matrix value."""
    vs_nash = evaluation["vs_previous_nash"]
    measurement = evaluation["exploitability"]
    return {"sigma_of": sigma_of, "measured_with": evaluation["policy"], **measurement,
            "pass": exploitability_passes(measurement, SUCCESS_EXPLOITABILITY),
            "br_winrate": vs_nash["win_rate"], "br_winrate_ci95": vs_nash["ci95"], "battles": vs_nash["battles"],
            "team_set": evaluation["team_set"],
            # max_j (M_{k+1} σ̃_k)_j − 0.5 in the grown matrix, and the policy attaining it (None for the final σ)
            "exploitability_in_matrix": following["exploitability"] if following else None,
            "best_responder": following["exploitability_of_previous"]["best_response"] if following else None}


def _one_team_set(evaluations: dict[Path, dict]) -> str:
    """Every σ is measured on the same team set; a mix would compare numbers from different games."""
    team_sets = {path: evaluation["team_set"] for path, evaluation in evaluations.items()}
    if len(set(team_sets.values())) > 1:
        listed = ", ".join(f"{path}: {team_set!r}" for path, team_set in team_sets.items())
        raise UsageError(f"the evaluations were played on different team sets ({listed}); rebuild them")
    return next(iter(team_sets.values()))


def _exploitability_criterion(progress: list[dict]) -> dict:
    final = progress[-1]
    return {"value": final["exploitability"], "threshold": SUCCESS_EXPLOITABILITY,
            "measured_on": final["sigma_of"], "measured_with": final["measured_with"],
            "gain": final["gain"], "gain_ci95": final["gain_ci95"], "informative": final["informative"],
            "reading": final["reading"],
            "per_iteration": [{key: m[key] for key in ("sigma_of", "measured_with", "exploitability", "gain",
                                                       "gain_ci95", "informative", "pass")} for m in progress],
            "note": ("judged on the final σ, measured by the exploiter trained against it; every σ is judged "
                     "alike in per_iteration. A best response's gain only bounds σ's exploitability from below: "
                     "a gain whose interval lies below 0 is not informative and never passes."),
            "pass": final["pass"]}


def _br_winrate_criterion(progress: list[dict]) -> dict:
    """The guide's 60 % on each BR's point estimate, with its interval and whether it surely beats σ."""
    per_br = {m["measured_with"]: {"win_rate": m["br_winrate"], "ci95": m["br_winrate_ci95"], "battles": m["battles"],
                                   "lower_end_above_0.5": m["br_winrate_ci95"][0] > 0.5,
                                   "pass": m["br_winrate"] >= SUCCESS_BR_WINRATE}
              for m in progress}
    return {"value": {name: br["win_rate"] for name, br in per_br.items()}, "threshold": SUCCESS_BR_WINRATE,
            "per_br": per_br, "note": "judged on each point estimate, as the guide does; lower_end_above_0.5 says "
                                      "whether the 95 % interval shows the BR really beats σ",
            "pass": bool(per_br) and all(br["pass"] for br in per_br.values())}


def analysis_stage(*, stages: list[str], analyses: list[Path], strategies: list[Path], br_evals: list[Path],
                   exploiter_eval: Path, matrix: Path, population: Path, initial_population: Path,
                   out: dict[str, Path]) -> dict:
    """Progress curves and the guide's four success criteria, each with its measured value.

    σ of stage k is measured by BR_{k+1} (its br_eval.json); the final σ by the exploiter (exploiter_eval.json,
    same schema). Each measurement is classified by `measured_exploitability`.
    """
    from pokepsro.workflow.plots import plot_br_winrate, plot_exploitability, plot_interaction_matrix, plot_nash_mixture_history

    if not (len(analyses) == len(strategies) == len(stages) == len(br_evals) + 1):
        raise UsageError(f"{len(stages)} stages need as many analyses and strategies ({len(analyses)}, "
                         f"{len(strategies)}) and one br_eval.json per iteration ({len(br_evals)})")
    stage_analyses = [_read_json(path, *STAGE_ANALYSIS_KEYS, *(ITERATION_ANALYSIS_KEYS if k else ()))
                      for k, path in enumerate(analyses)]
    stage_strategies = [load_meta_strategy(path) for path in strategies]
    evaluations = {Path(path): _read_evaluation(path) for path in [*br_evals, exploiter_eval]}
    for k, (path, evaluation) in enumerate(evaluations.items()):
        _check_measured_against(evaluation, path, strategies[k])
    team_set = _one_team_set(evaluations)
    labels = [Path(stage).name for stage in stages]
    progress = [_sigma_measurement(labels[k], evaluation, stage_analyses[k + 1] if k + 1 < len(labels) else None)
                for k, evaluation in enumerate(evaluations.values())]
    iterations = progress[:-1]
    plot_exploitability([m["sigma_of"] for m in progress], [m["exploitability_in_matrix"] for m in progress],
                        [m["gain"] for m in progress], [m["gain_ci95"] for m in progress],
                        [m["informative"] for m in progress], out["exploitability"],
                        measured_with=[m["measured_with"] for m in progress])
    plot_nash_mixture_history([(label, s.policy_names, s.sigma) for label, s in zip(labels, stage_strategies)],
                              out["nash_mixture"])
    plot_interaction_matrix(InteractionMatrix.load(matrix), out["matrix"])
    plot_br_winrate([m["measured_with"] for m in iterations], [m["br_winrate"] for m in iterations],
                    [m["br_winrate_ci95"] for m in iterations], out["br_winrate"])
    final = stage_analyses[-1]
    initial_size = len(Population.load(initial_population))
    final_size = len(Population.load(population))
    summary = {
        "team_set": team_set,
        "stages": [{"stage": label, "population_size": len(s.policy_names),
                    "support_size": a["support_size"], "entropy": a["entropy"],
                    "exploitability_within_population": a["exploitability_within_population"],
                    "dominant_policies": a["dominant_policies"]}
                   for label, s, a in zip(labels, stage_strategies, stage_analyses)],
        "exploitability_progress": progress,
        "final_sigma": progress[-1],
        "final_stage": labels[-1],
        "note": ("σ of each stage is measured by the next best response, the final σ by the exploiter; "
                 "exploitability = max(0, gain), a lower bound, None when the gain's interval lies below 0 "
                 "(the best response lost: not informative). exploitability_in_matrix is the grown matrix's "
                 "max_j (M σ̃)_j − 0.5."),
    }
    criteria = {
        "exploitability_below_0.15": _exploitability_criterion(progress),
        "nash_support_at_least_3": {"value": final["support_size"], "threshold": SUCCESS_SUPPORT,
                                    "pass": final["support_size"] >= SUCCESS_SUPPORT},
        "each_br_beats_previous_nash_60pct": _br_winrate_criterion(iterations),
        "population_equals_initial_plus_iterations": {
            "value": final_size, "expected": initial_size + len(iterations),
            "pass": final_size == initial_size + len(iterations)},
    }
    success = {"criteria": criteria, "all_pass": all(c["pass"] for c in criteria.values())}
    atomic_write_json(out["summary"], summary)
    atomic_write_json(out["success"], success)
    return success

"""The analysis job: PSRO's progress over every stage, each σ's measured exploitability, and the guide's success
criteria (`workflow.criteria`), with their plots."""

from __future__ import annotations

from pathlib import Path

from pokepsro.core.errors import UsageError
from pokepsro.core.files import atomic_write_json, read_json
from pokepsro.core.run_logger import LoggerSettings, open_run_logger
from pokepsro.core.seeding import derive_seed
from pokepsro.metagame.matrix import InteractionMatrix
from pokepsro.metagame.population import PolicyEntry, Population
from pokepsro.metagame.ratings import RESAMPLES, BattleBlock, evaluation_block, fit_ratings, tournament_blocks
from pokepsro.metagame.solver import load_meta_strategy
from pokepsro.workflow.criteria import sigma_verdict, success_criteria
from pokepsro.workflow.evaluations import matrix_team_set, read_evaluation
from pokepsro.workflow.layout import stage_number
from pokepsro.workflow.plots import (
    plot_br_winrate,
    plot_exploitability,
    plot_interaction_matrix,
    plot_nash_mixture_history,
    plot_ratings,
)

STAGE_ANALYSIS_KEYS = ("support_size", "entropy", "exploitability_within_population", "dominant_policies")
ITERATION_ANALYSIS_KEYS = ("exploitability", "exploitability_of_previous.best_response")


def _check_measured_against(evaluation: dict, path: Path, strategy: Path) -> None:
    """An evaluation that names the σ it played against must name this one."""
    against = evaluation.get("against")
    if against is not None and Path(against).resolve() != Path(strategy).resolve():
        raise UsageError(f"{path} measured σ of {against}, but the analysis expects {strategy}; rebuild {path}")


def _sigma_measurement(sigma_of: str, evaluation: dict, following: dict | None) -> dict:
    """One σ's exploitability as its best response measured it, beside the gain, its interval, the best response's
    rise over its start, the verdict, and the matrix value; `held_out`: the best response's win rate against σ on
    the held-out team set, beside the in-distribution one."""
    vs_nash = evaluation["vs_previous_nash"]
    start = evaluation["start"]
    held_out = evaluation["held_out"]
    measurement = evaluation["exploitability"]
    verdict = sigma_verdict(measurement)
    return {"sigma_of": sigma_of, "measured_with": evaluation["policy"], "started_from": start["policy"],
            **measurement, "verdict": verdict, "pass": verdict == "pass",
            "br_winrate": vs_nash["win_rate"], "br_winrate_ci95": vs_nash["ci95"], "battles": vs_nash["battles"],
            "start_winrate": start["vs_previous_nash"]["win_rate"],
            "start_winrate_ci95": start["vs_previous_nash"]["ci95"],
            "team_set": evaluation["team_set"],
            "held_out": {"team_set": held_out["team_set"], "br_winrate": held_out["vs_previous_nash"]["win_rate"],
                         "br_winrate_ci95": held_out["vs_previous_nash"]["ci95"],
                         "battles": held_out["vs_previous_nash"]["battles"]},
            # max_j (M_{k+1} σ̃_k)_j − 0.5 in the grown matrix, and the policy attaining it (None for the final σ)
            "exploitability_in_matrix": following["exploitability"] if following else None,
            "best_responder": following["exploitability_of_previous"]["best_response"] if following else None}


def _one_team_set(team_sets: dict[Path, str]) -> str:
    """Every σ is measured on the same team set (in-distribution, and held out); a mix would compare numbers from
    different games."""
    if len(set(team_sets.values())) > 1:
        listed = ", ".join(f"{path}: {team_set!r}" for path, team_set in team_sets.items())
        raise UsageError(f"the evaluations were played on different team sets ({listed}); rebuild them")
    return next(iter(team_sets.values()))


def _member_battles(matrix_path: Path, population: Population, br_evals: list[Path], bootstrap_eval: Path,
                    mixture_vs_baselines: Path) -> tuple[list[BattleBlock], dict[str, int]]:
    """Every battle between two members on the matrix's team set, each once (`pokepsro.metagame.ratings` says which
    and why), as bootstrap blocks; and how many each file gave."""
    files = [Path(path).resolve() for path in (matrix_path, *br_evals, bootstrap_eval, mixture_vs_baselines)]
    if len(set(files)) != len(files):
        raise UsageError("a battle file is listed twice for the ratings; each battle must be counted exactly once")
    matrix = InteractionMatrix.load(matrix_path)
    team_set = matrix_team_set(matrix, matrix_path)
    by_file = {matrix_path: tournament_blocks(matrix, str(matrix_path))}
    sides: list[tuple[Path, str, PolicyEntry, list[dict]]] = []  # (file, block, side A's player, its records)
    for path in br_evals:
        evaluation = read_json(path, "policy", "checkpoint", "acting", "team_set", "records")
        sides.append((path, "", PolicyEntry(evaluation["policy"], "checkpoint", evaluation["checkpoint"],
                                            options=evaluation["acting"]), evaluation["records"]))
        _check_team_set(evaluation, path, team_set, matrix_path)
    bootstrap = read_json(bootstrap_eval, "policy", "checkpoint", "acting", "team_set", "opponents")
    _check_team_set(bootstrap, bootstrap_eval, team_set, matrix_path)
    player = PolicyEntry(bootstrap["policy"], "checkpoint", bootstrap["checkpoint"], options=bootstrap["acting"])
    sides += [(bootstrap_eval, opponent, player, _records_of(measured, bootstrap_eval, opponent))
              for opponent, measured in bootstrap["opponents"].items()]
    mixture = read_json(mixture_vs_baselines, "team_set", "opponents")
    _check_team_set(mixture, mixture_vs_baselines, team_set, matrix_path)
    # Side A: the baseline as `heuristic_entry` makes it (its spec is its name).
    sides += [(mixture_vs_baselines, baseline, PolicyEntry(baseline, "heuristic", baseline),
               _records_of(measured, mixture_vs_baselines, baseline))
              for baseline, measured in mixture["opponents"].items()]
    for path, label, player, records in sides:
        block = evaluation_block(records, player, population, f"{path}{f' ({label})' if label else ''}")
        by_file.setdefault(path, []).extend([block] if block else [])
    return ([block for blocks in by_file.values() for block in blocks],
            {str(path): sum(block.battles for block in blocks) for path, blocks in by_file.items()})


def _records_of(measured: dict, path: Path, opponent: str) -> list[dict]:
    if not isinstance(measured, dict) or not isinstance(measured.get("records"), list):
        raise UsageError(f"{path}: opponents.{opponent} has no list of battle records; delete the file and rerun")
    return measured["records"]


def _check_team_set(evaluation: dict, path: Path, team_set: str, matrix_path: Path) -> None:
    if evaluation["team_set"] != team_set:
        raise UsageError(f"{path} was played on team set {evaluation['team_set']!r} but {matrix_path} on "
                         f"{team_set!r}; rebuild {path}")


def population_ratings(*, matrix: Path, population: Path, br_evals: list[Path], bootstrap_eval: Path,
                       mixture_vs_baselines: Path, seed: int) -> dict:
    """The `ratings` block of summary.json: Bradley–Terry ratings (Elo scale) and GXE of every member, with 95 %
    bootstrap intervals seeded from the run's seed, over every battle between members."""
    members = Population.load(population)
    blocks, counted = _member_battles(matrix, members, br_evals, bootstrap_eval, mixture_vs_baselines)
    return {"members": fit_ratings(members.names, blocks, derive_seed(seed, "ratings")),
            "battles": sum(counted.values()), "battles_by_file": counted, "resamples": RESAMPLES,
            "note": ("Bradley–Terry over every battle between two members on team_set (tournament, each best "
                     "response against σ, bootstrap_eval, mixture_vs_baselines; held-out, start and exploiter "
                     "battles excluded), each once; ties ½. rating: Elo scale (400·log10 odds), the members' mean "
                     "is 1500; within this run only. gxe: expected win rate against another member drawn "
                     "uniformly. ci95: 2.5–97.5 percentiles over resamples of the battles. A member that won or "
                     "lost every battle has a rating set by a tiny prior: a bound.")}


def analysis_stage(*, stages: list[str], analyses: list[Path], strategies: list[Path], br_evals: list[Path],
                   exploiter_eval: Path, matrix: Path, population: Path, initial_population: Path,
                   bootstrap_eval: Path, mixture_vs_baselines: Path, seed: int,
                   out: dict[str, Path], logger: LoggerSettings | None = None) -> dict:
    """Progress curves, the population's ratings, and the guide's four success criteria, each with its measured
    value.

    σ of stage k is measured by BR_{k+1} (its br_eval.json); the final σ by the exploiter (exploiter_eval.json,
    same schema). Each measurement is classified by `measured_exploitability` and judged by `sigma_verdict`
    (pass / fail / not shown); with `logger` wandb, every σ's
    measured exploitability (the final σ's included) joins the run's group.
    """
    if not (len(analyses) == len(strategies) == len(stages) == len(br_evals) + 1):
        raise UsageError(f"{len(stages)} stages need as many analyses and strategies ({len(analyses)}, "
                         f"{len(strategies)}) and one br_eval.json per iteration ({len(br_evals)})")
    stage_analyses = [read_json(path, *STAGE_ANALYSIS_KEYS, *(ITERATION_ANALYSIS_KEYS if k else ()))
                      for k, path in enumerate(analyses)]
    stage_strategies = [load_meta_strategy(path) for path in strategies]
    evaluations = {Path(path): read_evaluation(path) for path in [*br_evals, exploiter_eval]}
    for k, (path, evaluation) in enumerate(evaluations.items()):
        _check_measured_against(evaluation, path, strategies[k])
    team_set = _one_team_set({path: evaluation["team_set"] for path, evaluation in evaluations.items()})
    eval_team_set = _one_team_set({path: evaluation["held_out"]["team_set"]
                                   for path, evaluation in evaluations.items()})
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
    ratings = population_ratings(matrix=matrix, population=population, br_evals=br_evals,
                                 bootstrap_eval=bootstrap_eval, mixture_vs_baselines=mixture_vs_baselines, seed=seed)
    plot_ratings(ratings["members"], out["ratings"])
    initial_size = len(Population.load(initial_population))
    final_size = len(Population.load(population))
    summary = {
        "team_set": team_set,
        "eval_team_set": eval_team_set,
        "stages": [{"stage": label, "population_size": len(s.policy_names),
                    "support_size": a["support_size"], "entropy": a["entropy"],
                    "exploitability_within_population": a["exploitability_within_population"],
                    "dominant_policies": a["dominant_policies"]}
                   for label, s, a in zip(labels, stage_strategies, stage_analyses)],
        "exploitability_progress": progress,
        "final_sigma": progress[-1],
        "final_stage": labels[-1],
        "ratings": ratings,
        "note": ("σ of each stage is measured by the next best response, the final σ by the exploiter; "
                 "exploitability = max(0, gain), a lower bound, None when the gain's interval lies below 0 "
                 "(the best response lost: not informative). rise is the best response's paired gain over its "
                 "start on the same battles; verdict reads both (see success.json). exploitability_in_matrix is "
                 "the grown matrix's max_j (M σ̃)_j − 0.5. held_out: the same best response against σ on "
                 "eval_team_set, teams no policy trained on (a win rate, not an exploitability: σ is a Nash of "
                 "team_set's game)."),
    }
    success = success_criteria(progress, stage_analyses[-1], initial_size, final_size)
    atomic_write_json(out["summary"], summary)
    atomic_write_json(out["success"], success)
    _log_measured_exploitability(logger, progress, success["all_pass"])
    return success


def _log_measured_exploitability(logger: LoggerSettings | None, progress: list[dict], all_pass: bool) -> None:
    """Each σ's exploitability as its best response measured it, one point per stage: the final σ's (measured by
    the exploiter) is the one number no stage's solve can log (wandb only)."""
    with open_run_logger(logger, job="analysis", job_type="analysis",
                         config={"final_sigma_of": progress[-1]["sigma_of"], "all_criteria_pass": all_pass}) as run_logger:
        for measurement in progress:
            low, high = measurement["gain_ci95"]
            run_logger.log("measured", {"exploitability": measurement["exploitability"], "gain": measurement["gain"],
                                        "gain_ci_low": low, "gain_ci_high": high, "rise": measurement["rise"],
                                        "br_winrate": measurement["br_winrate"]},
                           stage_number(measurement["sigma_of"]), step_name="stage")

"""Evaluation jobs: the bootstrap against baselines, each best response (and the exploiter) against the σ it
answers, the final Nash mixture against baselines; and reading their artifacts back.

Each artifact measures on the training team set (`team_set`, the matrix's for a best response: in-distribution)
and, in its `held_out` block with the same keys, on `eval_team_set` (teams the policies never trained on).
Battle records live inside each job's one declared output, so reruns and `--delete-all-output` see them; a
killed job's battles wait in hidden `.records.partial` files beside the output (one per opponent and team set)
and are resumed. A job plays one run of battles per opponent and team set, all on the same battle workers
(`kept_workers`): they start once per job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from pokepsro.battles.api import kept_workers
from pokepsro.battles.records import paired_score_difference
from pokepsro.core.errors import UsageError
from pokepsro.core.files import atomic_write_json, partial_records, read_json
from pokepsro.core.seeding import derive_seed
from pokepsro.gen1.teams import load_team_set
from pokepsro.metagame.evaluation import evaluate_against_mixture, evaluate_against_nash, mixture_side
from pokepsro.metagame.matrix import InteractionMatrix
from pokepsro.metagame.mixture import load_mixture, mixture_entry
from pokepsro.metagame.population import PolicyEntry, Population, heuristic_entry
from pokepsro.metagame.solver import load_meta_strategy, measured_exploitability
from pokepsro.workflow.layout import BOOTSTRAP_NAME, EXPLOITER_NAME, br_name
from pokepsro.workflow.snakemake_job import run_options

BR_EVAL_KEYS = ("policy", "team_set", "vs_previous_nash.win_rate", "vs_previous_nash.ci95",
                "vs_previous_nash.battles", "gain_vs_previous_nash", "gain_ci95", "start.policy",
                "start.vs_previous_nash.win_rate", "start.vs_previous_nash.ci95", "rise_over_start.mean",
                "rise_over_start.ci95", "held_out.team_set", "held_out.vs_previous_nash.win_rate",
                "held_out.vs_previous_nash.ci95", "held_out.vs_previous_nash.battles")
HELD_OUT = "held_out"  # an artifact's block played on eval_team_set, beside its in-distribution numbers


def _resumable(*, team_set: str, seed: int, battle: dict, runtime: dict, server_log: Path, work_name: Path) -> dict:
    """Run options of evaluation battles on `team_set`, resumable from a hidden records file beside `work_name`."""
    return dict(team_set=load_team_set(team_set, battle["battle_format"]), seed=seed,
                record_path=partial_records(work_name), server_log=server_log, **run_options(battle, runtime))


def _work_name(out: Path, *parts: str) -> Path:
    """The name one measurement's partial records hang off: one per opponent and team set, so a killed job
    resumes each and no battle is counted in two measurements."""
    return out.with_name("_".join([out.stem, *parts]))


def _held_out_vs_nash(policy: PolicyEntry, members: Population, sigma, battles: int, *, team_set: str, seed: int,
                      out: Path, **options) -> dict:
    """The policy against σ on the held-out `team_set`: how it plays teams it never trained on.

    Not an exploitability: σ is a Nash of the matrix's game, not of this one. Its own seed and records file.
    """
    measured = evaluate_against_mixture(policy, members, sigma, battles,
                                        **_resumable(team_set=team_set, seed=derive_seed(seed, HELD_OUT),
                                                     work_name=_work_name(out, HELD_OUT), **options))
    records = measured.pop("records")
    return {"team_set": team_set, "vs_previous_nash": measured, "records": records}


def _write_versus_opponents(out: Path, header: dict, measure: Callable[[str, dict], dict], opponents: list[str], *,
                            team_set: str, eval_team_set: str, label: str, seed: int, runtime: dict,
                            **options) -> dict:
    """`header` plus `measure(opponent, run_options)` for every opponent on `team_set` (`opponents`) and on
    `eval_team_set` (the `held_out` block), each pass with its own seeds and records files, all on the same battle
    workers; written atomically.
    """
    splits = {(): team_set, (HELD_OUT,): eval_team_set}
    with kept_workers(runtime["backend"], runtime["workers"]) as workers:
        measured = {split: {opponent: measure(opponent, _resumable(
                                team_set=split_set, seed=derive_seed(seed, label, opponent, *split),
                                work_name=_work_name(out, opponent, *split), runtime={**runtime, "workers": workers},
                                **options))
                            for opponent in opponents}
                    for split, split_set in splits.items()}
    result = {**header, "team_set": team_set, "opponents": measured[()],
              HELD_OUT: {"team_set": eval_team_set, "opponents": measured[(HELD_OUT,)]}}
    atomic_write_json(out, result)
    for split in splits:
        for opponent in opponents:
            partial_records(_work_name(out, opponent, *split)).unlink(missing_ok=True)
    return result


def matrix_team_set(matrix: InteractionMatrix, path: Path) -> str:
    """The team set of the game a matrix (and the σ solved from it) was played in."""
    team_set = matrix.metadata.get("team_set")
    if not isinstance(team_set, str) or not team_set:
        raise UsageError(f"{path}: the matrix metadata names no team_set; rebuild the matrix")
    return team_set


def _evaluate_vs_nash(*, name: str, checkpoint: Path, start_name: str, start: Path, population: Path,
                      strategy: Path, matrix: Path, out: Path, battles: int, seed: int, eval_seed: int, battle: dict,
                      runtime: dict, server_log: Path, acting: dict, members_from_matrix: bool,
                      eval_team_set: str) -> dict:
    """A checkpoint against σ (opponent drawn per battle), on the team set σ's matrix was played on; and the
    checkpoint its training started from (`start`, policy `start_name`) on the very same battles.

    One game per comparison: σ is a Nash of the game played on the matrix's team set by members acting with
    the workflow's `acting` options, so the checkpoint plays that same game (team set and acting options named
    in the artifact). The start's result makes the best response's own gain measurable (`rise_over_start`):
    a best response that did not learn certifies nothing about σ. The same battles on `eval_team_set` make its
    `held_out` block.
    """
    for path in (checkpoint, start):
        if not Path(path).is_file():
            raise UsageError(f"checkpoint not found: {path}")
    members = Population.load(population)
    sigma = load_meta_strategy(strategy, expected_names=members.names).sigma
    matrix_data = InteractionMatrix.load(matrix)
    team_set = matrix_team_set(matrix_data, matrix)
    policy = PolicyEntry(name=name, kind="checkpoint", spec=str(checkpoint), options=dict(acting))
    start_work = _work_name(out, "start")
    with kept_workers(runtime["backend"], runtime["workers"]) as workers:
        options = {"seed": eval_seed, "battle": battle, "runtime": {**runtime, "workers": workers},
                   "server_log": server_log}
        measured = evaluate_against_nash(policy, members, sigma, battles,
                                         matrix=matrix_data if members_from_matrix else None,
                                         **_resumable(team_set=team_set, **options, work_name=out))
        # Under the policy's name: the schedule (opponents drawn, teams, seats, battle seeds) derives from the name
        # and the seed, so the start plays the very battles the policy played.
        started = evaluate_against_mixture(replace(policy, spec=str(start)), members, sigma, battles,
                                           **_resumable(team_set=team_set, **options, work_name=start_work))
        held_out = _held_out_vs_nash(policy, members, sigma, battles, team_set=eval_team_set, out=out, **options)
    start_records = started.pop("records")
    result = {"policy": name, "checkpoint": str(checkpoint), "against": str(strategy), "team_set": team_set,
              "acting": dict(acting), "seed": seed, "workers": runtime["workers"], "vs_previous_nash": measured["vs_nash"],
              "start": {"policy": start_name, "checkpoint": str(start), "vs_previous_nash": started,
                        "records": start_records},
              "rise_over_start": paired_score_difference(measured["records"], start_records)}
    measurement = _measurement(result)
    result.update({"gain_vs_previous_nash": measurement["gain"], "gain_ci95": measurement["gain_ci95"],
                   "exploitability": measurement, "vs_members": measured["vs_members"],
                   "records": measured["records"], HELD_OUT: held_out})
    atomic_write_json(out, result)
    for work_name in (out, start_work, _work_name(out, HELD_OUT)):
        partial_records(work_name).unlink(missing_ok=True)
    return result


def _measurement(evaluation: dict) -> dict:
    """σ's exploitability as an evaluation's best response measured it: its win rate against σ and its rise over
    its start on the same battles."""
    vs_nash, rise = evaluation["vs_previous_nash"], evaluation["rise_over_start"]
    return measured_exploitability(vs_nash["win_rate"], vs_nash["ci95"], rise["mean"], rise["ci95"])


def evaluate_best_response_stage(*, checkpoint: Path, start_name: str, start: Path, iteration: int, population: Path,
                                 strategy: Path, matrix: Path, out: Path, battles: int, seed: int, battle: dict,
                                 runtime: dict, server_log: Path, acting: dict, eval_team_set: str) -> dict:
    """BR_i vs σ_{i-1} by direct battles, and vs each member as measured in the new matrix row; and BR_i's start
    (BR_{i-1} or the bootstrap) on the same battles against σ_{i-1}.

    Both are played on the team set of the matrix and with the members' `acting` options (named in the
    output), so the two never mix games; the `held_out` block plays σ_{i-1} again on `eval_team_set`.
    """
    return _evaluate_vs_nash(name=br_name(iteration), checkpoint=checkpoint, start_name=start_name, start=start,
                             population=population,
                             strategy=strategy, matrix=matrix, out=out, battles=battles, seed=seed,
                             eval_seed=derive_seed(seed, "br_eval", iteration), battle=battle, runtime=runtime,
                             server_log=server_log, acting=acting, members_from_matrix=True,
                             eval_team_set=eval_team_set)


def evaluate_exploiter_stage(*, checkpoint: Path, start_name: str, start: Path, population: Path, strategy: Path,
                             matrix: Path, out: Path, battles: int, seed: int, battle: dict, runtime: dict,
                             server_log: Path, acting: dict, eval_team_set: str) -> dict:
    """The exploiter (one more best response, trained against the final σ from the bootstrap) against the final
    σ, and the bootstrap on the same battles.

    Writes `exploiter_eval.json` with the schema of `br_eval.json` (policy "exploiter"); `vs_members` holds
    its battles against each member drawn from σ, as it is not in the matrix.
    """
    return _evaluate_vs_nash(name=EXPLOITER_NAME, checkpoint=checkpoint, start_name=start_name, start=start,
                             population=population, strategy=strategy,
                             matrix=matrix, out=out, battles=battles, seed=seed,
                             eval_seed=derive_seed(seed, "exploiter_eval"), battle=battle, runtime=runtime,
                             server_log=server_log, acting=acting, members_from_matrix=False,
                             eval_team_set=eval_team_set)


def bootstrap_eval_stage(*, checkpoint: Path, opponents: list[str], out: Path, battles: int, team_set: str,
                         eval_team_set: str, seed: int, battle: dict, runtime: dict, server_log: Path,
                         acting: dict) -> dict:
    """The bootstrap, acting as in the population, against each opponent on the training `team_set` and on the
    held-out `eval_team_set` (both named in the output), records included."""
    policy = PolicyEntry(name=BOOTSTRAP_NAME, kind="checkpoint", spec=str(checkpoint), options=dict(acting))

    def measure(opponent: str, run_options: dict) -> dict:
        return evaluate_against_mixture(policy, Population((heuristic_entry(opponent),)), np.ones(1), battles,
                                        **run_options)

    header = {"policy": BOOTSTRAP_NAME, "checkpoint": str(checkpoint), "acting": dict(acting), "seed": seed,
              "workers": runtime["workers"]}
    return _write_versus_opponents(out, header, measure, opponents, team_set=team_set, eval_team_set=eval_team_set,
                                   label="bootstrap_eval", seed=seed, battle=battle, runtime=runtime,
                                   server_log=server_log)


def mixture_vs_baselines_stage(*, population: Path, strategy: Path, baselines: list[str], out: Path, battles: int,
                               team_set: str, eval_team_set: str, seed: int, battle: dict, runtime: dict,
                               server_log: Path) -> dict:
    """The final Nash mixture, a member drawn per battle from σ, against every heuristic baseline.

    Played on the training `team_set` and on the held-out `eval_team_set` (both named in the output); each
    baseline's battle records are included.
    """
    mixture = mixture_entry("nash_mixture", population, strategy)
    members, sigma = load_mixture(mixture)

    def measure(baseline: str, run_options: dict) -> dict:
        # Side A is the baseline, the mixture member is side B; report from the mixture's side.
        summary = evaluate_against_mixture(heuristic_entry(baseline), members, sigma, battles, **run_options)
        return {**mixture_side(summary), "records": summary["records"]}

    header = {"mixture": mixture.spec, "seed": seed, "workers": runtime["workers"]}
    return _write_versus_opponents(out, header, measure, baselines, team_set=team_set, eval_team_set=eval_team_set,
                                   label="mixture_eval", seed=seed, battle=battle, runtime=runtime,
                                   server_log=server_log)


def read_evaluation(path: Path) -> dict:
    """A `br_eval.json` / `exploiter_eval.json`, with the measurement of σ's exploitability it implies."""
    evaluation = read_json(path, *BR_EVAL_KEYS)
    try:
        evaluation["exploitability"] = _measurement(evaluation)
    except (TypeError, ValueError):
        raise UsageError(f"{path}: vs_previous_nash and rise_over_start need a numeric win_rate / mean and a "
                         "[low, high] ci95; delete the file and rerun to rebuild it") from None
    return evaluation

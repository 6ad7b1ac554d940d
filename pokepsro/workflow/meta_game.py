"""Meta-game jobs of every stage: play the stage's new pairs into its matrix, solve it for σ, draw both."""

from __future__ import annotations

from pathlib import Path

from pokepsro.core.errors import UsageError
from pokepsro.core.files import publish_dir, read_json, resumable_dir
from pokepsro.core.run_logger import LoggerSettings, open_run_logger
from pokepsro.core.seeding import derive_seed
from pokepsro.gen1.teams import load_team_set
from pokepsro.learning.recording import TrajectoryWriter
from pokepsro.metagame.matrix import InteractionMatrix
from pokepsro.metagame.population import Population
from pokepsro.metagame.solver import load_meta_strategy, solve_matrix_file
from pokepsro.metagame.tournament import run_tournament
from pokepsro.workflow.evaluations import matrix_team_set, read_evaluation
from pokepsro.workflow.layout import stage_number
from pokepsro.workflow.plots import plot_interaction_matrix, plot_meta_strategy
from pokepsro.workflow.snakemake_job import run_options


def tournament_stage(*, population: Path, previous: Path | None, matrix_out: Path, battles_out: Path,
                     trajectories_out: Path, battles_per_matchup: int, team_set: str, seed: int, battle: dict,
                     runtime: dict, server_log: Path, stage: str) -> InteractionMatrix:
    """Play the stage's missing pairs, recording both seats of every battle as trajectories."""
    members = Population.load(population)
    teams = load_team_set(team_set, battle["battle_format"])
    previous_matrix = InteractionMatrix.load(previous) if previous else None
    work = resumable_dir(trajectories_out)
    writer = TrajectoryWriter(work, sides="both", format=battle["battle_format"])
    matrix = run_tournament(members, battles_per_matchup=battles_per_matchup, team_set=teams,
                            seed=derive_seed(seed, "tournament", stage), records_path=battles_out,
                            previous=previous_matrix, parallel_matchups=runtime["parallel_matchups"],
                            server_log=server_log, record=True, on_battle_end=writer.on_battle_end,
                            **run_options(battle, runtime))
    matrix.metadata.update({"stage": stage, "battles_per_matchup": battles_per_matchup, "team_set": team_set,
                            "seed": seed, "workers": runtime["workers"], **battle})
    publish_dir(work, trajectories_out)
    matrix.save(matrix_out)
    return matrix


def solve_stage(*, matrix: Path, population: Path, strategy_out: Path, analysis_out: Path, solver: str,
                support_threshold: float, previous_strategy: Path | None = None, br_eval: Path | None = None,
                logger: LoggerSettings | None = None) -> None:
    """σ of this stage (its support: members of weight ≥ `support_threshold`); for an iteration also the previous
    σ's exploitability and BR_i's direct gain (both sent to the run's wandb group when `logger` is wandb)."""
    members = Population.load(population)
    matrix_data = InteractionMatrix.load(matrix)
    names = matrix_data.policy_names
    if names != members.names:
        raise UsageError(f"{matrix} has policies {names}, population {population} has {members.names}; "
                         "rebuild the matrix")
    team_set = matrix_team_set(matrix_data, matrix)
    extra: dict = {"team_set": team_set}
    if br_eval is not None:
        evaluation = read_evaluation(br_eval)
        if evaluation["team_set"] != team_set:
            raise UsageError(f"{br_eval} was played on team set {evaluation['team_set']!r} but {matrix} on "
                             f"{team_set!r}; one comparison needs one team set: rebuild {br_eval}")
        measurement = evaluation["exploitability"]
        extra.update({"br_gain_vs_previous_nash": measurement["gain"], "br_gain_ci95": measurement["gain_ci95"],
                      "br_winrate_vs_previous_nash": evaluation["vs_previous_nash"]["win_rate"],
                      "br_winrate_ci95": evaluation["vs_previous_nash"]["ci95"],
                      "exploitability_measured": {"measured_with": evaluation["policy"], **measurement}})
    strategy, analysis = solve_matrix_file(matrix, strategy_out.parent, solver=solver,
                                           previous_strategy_path=previous_strategy, extra_analysis=extra,
                                           support_threshold=support_threshold)
    if (strategy, analysis) != (strategy_out, analysis_out):
        raise RuntimeError(f"solver wrote {strategy} and {analysis}, expected {strategy_out} and {analysis_out}")
    _log_meta_game(logger, strategy_out.parent.name, strategy_out, analysis_out)


META_GAME_NUMBERS = ("exploitability", "br_gain_vs_previous_nash", "br_winrate_vs_previous_nash",
                     "exploitability_within_population", "nash_conv", "support_size", "entropy")


def _log_meta_game(logger: LoggerSettings | None, stage: str, strategy: Path, analysis: Path) -> None:
    """σ per member, the previous σ's exploitability and BR_i's gain, one point per stage (wandb only: TensorBoard
    logs the training jobs)."""
    data = load_meta_strategy(strategy)
    numbers = read_json(analysis)
    values = {**{f"sigma/{name}": float(p) for name, p in zip(data.policy_names, data.sigma)},
              **{key: numbers.get(key) for key in META_GAME_NUMBERS}}
    with open_run_logger(logger, job=f"meta_game {stage}", job_type="meta_game",
                         config={"stage": stage, "solver": numbers.get("solver")}) as run_logger:
        run_logger.log("meta", values, stage_number(stage), step_name="stage")


def stage_figures(*, matrix: Path, strategy: Path, matrix_png: Path, strategy_png: Path, stage: str) -> None:
    interaction = InteractionMatrix.load(matrix)
    data = load_meta_strategy(strategy)
    plot_interaction_matrix(interaction, matrix_png)
    plot_meta_strategy(data.policy_names, data.sigma, strategy_png, title=f"Nash mixture, {stage}")

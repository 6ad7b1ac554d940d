"""Training jobs: the bootstrap's imitation and refinement, each best response (by the configured oracle), the
mixture it trains against, and the battles the offline oracle collects first.

Each works in a hidden `.partial` folder beside its output (a rerun after a kill resumes there) and publishes it
when done.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pokepsro.core.errors import UsageError
from pokepsro.core.files import (
    atomic_write_bytes,
    atomic_write_json,
    partial_dir,
    partial_records,
    publish_dir,
    resumable_dir,
    write_jsonl,
)
from pokepsro.core.run_logger import LoggerSettings
from pokepsro.core.seeding import derive_seed
from pokepsro.gen1.teams import load_team_set
from pokepsro.learning.model import load_model_config, training_dir_of
from pokepsro.learning.oracle import BestResponseTask, oracle_module
from pokepsro.learning.recording import TrajectoryWriter
from pokepsro.learning.trainer import load_train_config, train
from pokepsro.metagame.evaluation import evaluate_against_mixture
from pokepsro.metagame.matrix import InteractionMatrix
from pokepsro.metagame.population import PolicyEntry, Population, heuristic_entry, player_factories
from pokepsro.metagame.selection import OPPONENT_SELECTIONS, pfsp_weights, training_mixture
from pokepsro.metagame.solver import load_meta_strategy, write_meta_strategy
from pokepsro.workflow.config import REFINING_ORACLE
from pokepsro.workflow.layout import BOOTSTRAP_NAME
from pokepsro.workflow.plots import plot_learning_curve
from pokepsro.workflow.snakemake_job import run_options


def train_stage(*, out_checkpoint: Path, collected: list[Path], replay: list[Path], init: Path | None,
                model_config: str, train_config: str, epochs: int, batch_size: int, replay_weight: float,
                seed: int, policies: list[str] | None = None, logger: LoggerSettings | None = None) -> Path:
    """Train a policy (on the decisions of `policies` only, when given); `out_checkpoint` is the last epoch's
    checkpoint inside the training folder."""
    if init is not None and not Path(init).is_file():
        raise UsageError(f"checkpoint not found: {init}")
    config = load_train_config(train_config)
    config.update({"epochs": epochs, "batch_size": batch_size, "seed": seed})
    out_dir = training_dir_of(out_checkpoint)
    last = train(out_dir=out_dir, collected_dirs=collected, replay_dirs=replay,
                 replay_weight=replay_weight, model_config=load_model_config(model_config), train_config=config,
                 init_from_checkpoint=init, policies=policies, logger=logger, job=f"{out_dir.name} training")
    if Path(last) != out_checkpoint:
        raise RuntimeError(f"trainer wrote {last}, the workflow expects {out_checkpoint}")
    return last


def training_mixture_stage(*, population: Path, strategy: Path, matrix: Path, start_name: str, selection: dict,
                           out: Path) -> Path:
    """The mixture a best response trains against over the members of `population`: σ (`selection` {"kind":
    "sigma"}), or σ mixed with PFSP weights from its start policy's matrix row ({"kind": "pfsp", "mix", "power"}).
    Written in meta_strategy.json's format, the mixture under `meta_strategy` and σ, the start's win rates and the
    PFSP weights under `metadata`, so a user sees what the BR was trained against; evaluations stay against σ."""
    if selection["kind"] not in OPPONENT_SELECTIONS:
        raise UsageError(f"opponent_selection {selection['kind']!r}: choose one of {', '.join(OPPONENT_SELECTIONS)}")
    opponents = Population.load(population)
    sigma = load_meta_strategy(strategy, expected_names=opponents.names).sigma
    interaction = InteractionMatrix.load(matrix)
    if interaction.policy_names != opponents.names:
        raise UsageError(f"{matrix}: its policies {interaction.policy_names} are not those of {population} "
                         f"{opponents.names}; rebuild the stage's matrix")
    if start_name not in opponents.names:  # the workflow's starts (bootstrap, BR_{i-1}) are always members
        raise UsageError(f"{matrix}: the start policy {start_name!r} has no row, so its win rates against the "
                         f"members, which PFSP weighs by, are unknown; start from a member of {population}")
    win_rates = interaction.M[opponents.names.index(start_name)]
    metadata = {"opponent_selection": selection["kind"], "start": start_name,
                "start_win_rates": dict(zip(opponents.names, win_rates.tolist())), "sigma": sigma.tolist(),
                "strategy_file": str(strategy), "matrix_file": str(matrix)}
    mixture = sigma
    if selection["kind"] == "pfsp":
        mixture = training_mixture(sigma, win_rates, selection["mix"], selection["power"])
        metadata.update(pfsp_mix=selection["mix"], pfsp_power=selection["power"],
                        pfsp_weights=pfsp_weights(win_rates, selection["power"]).tolist())
    return write_meta_strategy(out, opponents.names, mixture, metadata)


def best_response_stage(*, oracle: str, learner_name: str, init: Path, population: Path, mixture: Path,
                        out_checkpoint: Path, training_out: Path, seed: int, team_set: str, battle: dict,
                        runtime: dict, options: dict, inputs: Mapping[str, Any],
                        logger: LoggerSettings | None = None) -> Path:
    """Train a best response to the training mixture `mixture` (σ unless PFSP; training_mixture_stage) over the
    members of `population` with `oracle`, whose checked `options` come as plain values (a rule param) and whose
    datasets (its module's INPUTS) are among the rule's `inputs`, each a list of paths; see `run_oracle`."""
    opponents = Population.load(population)
    weights = load_meta_strategy(mixture, expected_names=opponents.names).sigma
    module = oracle_module(oracle)
    return run_oracle(oracle, learner_name=learner_name, init=init, opponents=opponents, sigma=weights,
                      out_checkpoint=out_checkpoint, training_out=training_out, seed=seed, team_set=team_set,
                      battle=battle, runtime=runtime, options=module.Options(**options),
                      inputs={name: [Path(path) for path in inputs[name]] for name in module.INPUTS}, logger=logger)


def refine_bootstrap_stage(*, init: Path, opponents: list[str], out_checkpoint: Path, training_out: Path, seed: int,
                           team_set: str, battle: dict, runtime: dict, options: dict,
                           logger: LoggerSettings | None = None) -> Path:
    """The imitation bootstrap refined by the PPO oracle (its checked `options` as plain values, a rule param)
    against a uniform mix of heuristic baselines."""
    population = Population(tuple(heuristic_entry(name) for name in opponents))
    return run_oracle(REFINING_ORACLE, learner_name=BOOTSTRAP_NAME, init=init, opponents=population,
                      sigma=np.full(len(opponents), 1 / len(opponents)), out_checkpoint=out_checkpoint,
                      training_out=training_out, seed=seed, team_set=team_set, battle=battle, runtime=runtime,
                      options=oracle_module(REFINING_ORACLE).Options(**options), logger=logger)


def run_oracle(oracle: str, *, learner_name: str, init: Path, opponents: Population, sigma, out_checkpoint: Path,
               training_out: Path, seed: int, team_set: str, battle: dict, runtime: dict, options: Any,
               inputs: Mapping[str, list[Path]] | None = None, logger: LoggerSettings | None = None) -> Path:
    """The oracle (its module's `options`, and its `inputs`) works in a hidden `.<training_out>.partial` folder (a
    rerun after a kill resumes there), published when it is done; the policy itself is copied to `out_checkpoint`,
    whatever oracle made it."""
    module = oracle_module(oracle)  # an unknown oracle is refused before anything is written
    task = BestResponseTask(learner_name=learner_name, init_checkpoint=Path(init),
                            opponents=player_factories(opponents), sigma=np.asarray(sigma, dtype=float),
                            work_dir=partial_dir(training_out), seed=derive_seed(seed, "oracle", learner_name),
                            team_set=team_set, battle=battle, runtime=runtime, options=options, inputs=inputs or {},
                            logger=logger or LoggerSettings())
    work = resumable_dir(training_out)
    result = module.train(task)
    plot_learning_curve(result.metrics, work / "learning_curve.png", title=f"{learner_name} ({oracle} oracle)",
                        greedy_rows=result.greedy_eval)
    atomic_write_bytes(out_checkpoint, Path(result.checkpoint).read_bytes())
    publish_dir(work, training_out)
    return out_checkpoint


def collect_stage(*, learner_checkpoint: Path, learner_name: str, population: Path, mixture: Path, out: Path,
                  battles: int, team_set: str, seed: int, battle: dict, runtime: dict, server_log: Path) -> dict:
    """The learner against opponents drawn per battle from the training mixture (σ unless PFSP); the learner's
    decisions become trajectories."""
    opponents = Population.load(population)
    weights = load_meta_strategy(mixture, expected_names=opponents.names).sigma
    learner = PolicyEntry(name=learner_name, kind="checkpoint", spec=str(learner_checkpoint))
    if not learner_checkpoint.is_file():
        raise UsageError(f"checkpoint not found: {learner_checkpoint}")
    work = resumable_dir(out)
    writer = TrajectoryWriter(work, sides="a", format=battle["battle_format"])
    summary = evaluate_against_mixture(learner, opponents, weights, battles,
                                       team_set=load_team_set(team_set, battle["battle_format"]),
                                       seed=derive_seed(seed, "collect", learner_name),
                                       record_path=partial_records(out), server_log=server_log, record=True,
                                       on_battle_end=writer.on_battle_end, **run_options(battle, runtime))
    records = summary.pop("records")
    summary.update({"learner": learner_name, "learner_checkpoint": str(learner_checkpoint), "seed": seed,
                    "workers": runtime["workers"]})
    write_jsonl(work / "records.jsonl", records)
    atomic_write_json(work / "summary.json", summary)
    publish_dir(work, out)
    partial_records(out).unlink(missing_ok=True)
    return summary

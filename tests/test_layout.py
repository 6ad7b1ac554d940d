"""Where each best response starts (config br_init), in the layout and in the DAG Snakemake builds from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pokepsro.core.errors import UsageError
from pokepsro.core.files import REPO_ROOT, read_yaml
from pokepsro.metagame.selection import OPPONENT_SELECTIONS
from pokepsro.workflow.layout import BR_INITS, EXPLOITER, best_response_job, br_checkpoint

BOOTSTRAP = "results/phase0/bootstrap/refined.pt"
TINY = REPO_ROOT / "tests" / "data" / "tiny.yaml"


def test_start_begins_every_best_response_at_the_bootstrap_and_previous_at_the_last_one():
    for i in (0, 1, 2):
        job = best_response_job(f"iteration_{i}", 3, BOOTSTRAP, "start")
        assert (job.name, job.learner_name, job.learner_checkpoint) == (f"PSRO_BR{i}", "bootstrap", BOOTSTRAP)
    assert best_response_job("iteration_0", 3, BOOTSTRAP, "previous").learner_checkpoint == BOOTSTRAP
    job = best_response_job("iteration_2", 3, BOOTSTRAP, "previous")
    assert (job.learner_name, job.learner_checkpoint) == ("PSRO_BR1", br_checkpoint(1))


@pytest.mark.parametrize("br_init", BR_INITS)
def test_the_exploiter_starts_from_the_bootstrap_and_every_job_answers_the_stage_before(br_init):
    exploiter = best_response_job(EXPLOITER, 3, BOOTSTRAP, br_init)
    assert (exploiter.learner_name, exploiter.learner_checkpoint, exploiter.opponents_stage) == (
        "bootstrap", BOOTSTRAP, "results/iteration_2")
    assert best_response_job("iteration_2", 3, BOOTSTRAP, br_init).opponents_stage == "results/iteration_1"


def test_an_unknown_br_init_is_refused():
    with pytest.raises(UsageError, match="br_init 'begin': choose one of start, previous"):
        best_response_job("iteration_1", 3, BOOTSTRAP, "begin")


def test_the_schema_offers_the_choices_the_code_knows():
    properties = read_yaml(REPO_ROOT / "config/schema.yaml")["properties"]
    assert tuple(properties["br_init"]["enum"]) == BR_INITS
    assert tuple(properties["opponent_selection"]["enum"]) == OPPONENT_SELECTIONS


def dry_run_inputs(workdir: Path, *config: str) -> dict[tuple[str, str], list[str]]:
    """(rule, its wildcards) -> input files of every job a dry run of the tiny config schedules in `workdir`."""
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    result = subprocess.run([snakemake, "--snakefile", str(REPO_ROOT / "Snakefile"), "--directory", str(workdir),
                             "--configfile", str(TINY), "-n", "--config", *config],
                            capture_output=True, text=True, timeout=300, cwd=REPO_ROOT, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs, rule, inputs = {}, None, []
    for line in result.stdout.splitlines():
        if line.startswith("rule "):
            rule, inputs = line.removeprefix("rule ").rstrip(":"), []
        elif line.strip().startswith("input: "):
            inputs = line.strip().removeprefix("input: ").split(", ")
        elif line.strip().startswith("wildcards: ") and rule:
            jobs[(rule, line.strip().removeprefix("wildcards: "))] = inputs
    return jobs


@pytest.mark.parametrize("br_init, br1_start", [("start", BOOTSTRAP), ("previous", br_checkpoint(0))])
def test_the_dag_trains_br1_from_the_checkpoint_br_init_names(tmp_path, br_init, br1_start):
    jobs = dry_run_inputs(tmp_path, f"br_init={br_init}")
    br1 = jobs[("best_response", "brdir=iteration_1")]
    assert br1 == [br1_start, "results/iteration_0/population.json", "results/iteration_1/training_mixture.json"]
    assert jobs[("training_mixture", "brdir=iteration_1")] == [
        "results/iteration_0/population.json", "results/iteration_0/meta_strategy.json",
        "results/iteration_0/interaction_matrix.json"]  # σ_0 and the matrix whose row PFSP reads
    assert jobs[("best_response", "brdir=analysis/exploiter")][0] == BOOTSTRAP
    evaluation = jobs[("evaluate_best_response", "i=1")]
    assert evaluation[1] == br1_start and "results/iteration_0/meta_strategy.json" in evaluation  # against σ itself


def test_the_offline_oracle_collects_against_the_training_mixture_from_the_same_start(tmp_path):
    jobs = dry_run_inputs(tmp_path, "oracle={kind: offline}", "br_init=start")
    assert jobs[("collect", "brdir=iteration_1")] == [BOOTSTRAP, "results/iteration_0/population.json",
                                                      "results/iteration_1/training_mixture.json"]
    assert jobs[("best_response", "brdir=iteration_1")][3:] == [  # the datasets of the offline oracle's INPUTS
        "results/iteration_1/br_trajectories", "results/phase0/baselines/trajectories", "results/phase0/trajectories"]

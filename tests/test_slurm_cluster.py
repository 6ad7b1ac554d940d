"""The SLURM profile on a real single-node SLURM 22.05 cluster (tests/cluster/slurm_up.sh, one fake GPU).

Phase 0 and one PSRO iteration of the tiny config run through `snakemake --workflow-profile profiles/slurm-local`.
The first run has its `collect` job cancelled with `scancel` in the middle of its battles: the workflow must report
it, and the rerun must submit only what is missing. The checks: every job ran as a SLURM job, the GPU rules were
submitted with `--gpus=1` and saw CUDA_VISIBLE_DEVICES, and the results pass the local run's checks. The cluster
is torn down whatever happens, and no slurm or munge process may remain.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from test_workflow import scheduled_jobs

from pokepsro.core.files import read_jsonl
from pokepsro.metagame.solver import exploitability

REPO = Path(__file__).resolve().parent.parent
CLUSTER_SCRIPTS = REPO / "tests" / "cluster"
TINY = REPO / "tests" / "data" / "tiny.yaml"
PROFILE = REPO / "profiles" / "slurm-local"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
RUN_LIMIT_S = 1200      # one snakemake run; `timeout -k 30` turns a hang into a failure
CANCEL_DEADLINE_S = 900  # the collect job must be mid-battles by then
GPU_RULES = {"bootstrap_train", "bootstrap_refine", "best_response", "collect"}
CPU_RULES = {"baseline_population", "phase0_population", "grow_population", "solve_meta_game", "stage_figures",
             "analysis"}
CLUSTER_PROCESS_NAMES = ("slurm", "munge")  # daemons, slurmstepd, slurmscriptd, a job's slurm_script

pytestmark = [
    pytest.mark.slow,
    # "signal" (not "thread") so that a timeout raises in the test and the cluster fixture still tears down.
    pytest.mark.timeout(3 * RUN_LIMIT_S, method="signal"),
    pytest.mark.skipif(os.geteuid() != 0, reason="starting SLURM and munge daemons needs root"),
]


def cluster_processes() -> list[str]:
    """'pid name' of every live slurm or munge process on the machine (zombies await reaping, not work)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        state = text[text.rindex(")") + 2:].split()[0]
        if name.startswith(CLUSTER_PROCESS_NAMES) and state != "Z":
            found.append(f"{stat.parent.name} {name}")
    return found


def tear_down(state_dir: Path) -> None:
    down = subprocess.run([str(CLUSTER_SCRIPTS / "slurm_down.sh"), str(state_dir)], capture_output=True,
                          text=True, timeout=120, check=False)
    shutil.rmtree(state_dir, ignore_errors=True)
    assert down.returncode == 0, down.stderr
    assert not cluster_processes(), f"left running after slurm_down.sh: {cluster_processes()}"


@pytest.fixture(scope="module")
def cluster(request) -> Path:
    """A running cluster; its finalizer is registered first, so a failed start is torn down too."""
    state_dir = Path(tempfile.mkdtemp(prefix="pokepsro-slurm-"))
    state_dir.chmod(0o755)  # munged runs as user munge and must reach its socket inside
    request.addfinalizer(lambda: tear_down(state_dir))
    started = time.perf_counter()
    up = subprocess.run([str(CLUSTER_SCRIPTS / "slurm_up.sh"), str(state_dir)], capture_output=True, text=True,
                        timeout=600, check=False)
    assert up.returncode == 0, up.stderr[-3000:]
    assert "node" in up.stderr and "idle" in up.stderr
    again = subprocess.run([str(CLUSTER_SCRIPTS / "slurm_up.sh"), str(state_dir)], capture_output=True,
                           text=True, timeout=60, check=False)
    assert again.returncode == 0 and "already up" in again.stderr, again.stderr  # idempotent
    print(f"cluster up in {time.perf_counter() - started:.1f} s")
    return state_dir


def snakemake_command(workdir: Path, *args: str) -> list[str]:
    """One worker per battle job: SLURM is asked for 2 CPUs per worker, and the test node may have only 2.
    The offline oracle, so that the cluster also runs its collect-then-train path (the local tests run PPO)."""
    return ["timeout", "-k", "30", str(RUN_LIMIT_S), SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"),
            "--directory", str(workdir), "--configfile", str(TINY), "--workflow-profile", str(PROFILE),
            "--config", "num_iterations=1", "workers=1", "oracle={kind: offline}", *args]


def job_environment() -> dict[str, str]:
    """Our environment (sbatch --export=ALL) minus CUDA_VISIBLE_DEVICES: inside a job only SLURM may set it."""
    return {key: value for key, value in os.environ.items() if key != "CUDA_VISIBLE_DEVICES"}


def dry_run(workdir: Path) -> Counter:
    result = subprocess.run(snakemake_command(workdir, "-n"), capture_output=True, text=True, cwd=REPO,
                            env=job_environment(), check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return scheduled_jobs(result.stdout)


def squeue(*args: str) -> list[str]:
    result = subprocess.run(["squeue", "-h", *args], capture_output=True, text=True, timeout=10, check=True)
    return result.stdout.split()


def submitted_job_ids(output: str) -> list[str]:
    return re.findall(r"has been submitted with SLURM jobid (\d+)", output)


def sbatch_calls(output: str) -> dict[str, list[str]]:
    """rule -> the sbatch command lines that submitted its jobs (printed with --verbose)."""
    calls: dict[str, list[str]] = {}
    for line in output.splitlines():
        match = re.search(r"sbatch call: (sbatch .* --comment '?rule_([^' ]+).*)", line)
        if match:
            rule = match.group(2).partition("_wildcards_")[0]
            calls.setdefault(rule, []).append(match.group(1))
    return calls


@dataclass
class ClusterRuns:
    workdir: Path
    planned: Counter                     # jobs of a fresh dry run
    cancelled_job: str                   # SLURM id of the collect job we scancel'ed
    recorded_before_rerun: list[dict]    # collect battles the cancelled job had recorded
    first: subprocess.CompletedProcess
    published_after_cancel: bool         # whether the cancelled job's output folder existed after the failed run
    replanned: Counter                   # jobs a dry run schedules after the failed run
    kept: dict[str, int]                 # output -> mtime_ns of what the failed run finished
    second: subprocess.CompletedProcess


def finished_outputs(results: Path) -> dict[str, int]:
    """Every file a finished job wrote (work folders of unfinished jobs start with a dot)."""
    return {str(path.relative_to(results)): path.stat().st_mtime_ns for path in results.rglob("*")
            if path.is_file() and not any(part.startswith(".") for part in path.relative_to(results).parts)}


COLLECT_RECORDS = "results/iteration_0/.br_trajectories.records.partial"  # appended battle by battle


def cancel_collect_mid_battles(workdir: Path, process: subprocess.Popen, log: Path) -> str:
    """Wait until the collect job runs and has recorded a battle, then scancel it; its SLURM job id."""
    records = workdir / COLLECT_RECORDS
    deadline = time.monotonic() + CANCEL_DEADLINE_S
    while time.monotonic() < deadline and process.poll() is None:
        running = [line.split("|") for line in squeue("-t", "R", "-o", "%i|%k")]
        collect = [job_id for job_id, comment in running if comment.startswith("rule_collect")]
        if collect and records.exists() and read_jsonl(records):
            subprocess.run(["scancel", collect[0]], check=True, timeout=10)
            return collect[0]
        time.sleep(0.5)
    raise AssertionError(f"the collect job never got going (snakemake exit code {process.poll()}):\n"
                         + log.read_text()[-5000:])


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory) -> ClusterRuns:
    workdir = tmp_path_factory.mktemp("slurm_workflow")
    log_first = workdir.parent / "first_run.log"
    planned = dry_run(workdir)

    started = time.perf_counter()
    with open(log_first, "w") as log:
        process = subprocess.Popen(snakemake_command(workdir, "--verbose"), stdout=log, stderr=subprocess.STDOUT,
                                   cwd=REPO, env=job_environment(), text=True)
        try:
            cancelled_job = cancel_collect_mid_battles(workdir, process, log_first)
            process.wait(timeout=RUN_LIMIT_S + 60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    first = subprocess.CompletedProcess(process.args, process.returncode, log_first.read_text(), "")
    first_wall = time.perf_counter() - started
    assert not squeue(), "the failed run left jobs in the queue"

    recorded_before_rerun = read_jsonl(workdir / COLLECT_RECORDS)
    published_after_cancel = (workdir / "results/iteration_0/br_trajectories").exists()
    replanned = dry_run(workdir)
    kept = finished_outputs(workdir / "results")
    started = time.perf_counter()
    second = subprocess.run(snakemake_command(workdir, "--verbose"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=REPO, env=job_environment(), check=False)  # snakemake logs to stderr
    second_wall = time.perf_counter() - started
    # A report, not a check (each run is bounded by `timeout RUN_LIMIT_S`): shown with `pytest -s`.
    print(f"SLURM cluster run wall time: first run (cancelled) {first_wall:.0f} s, rerun {second_wall:.0f} s")
    assert second.returncode == 0, second.stdout[-8000:]
    return ClusterRuns(workdir, planned, cancelled_job, recorded_before_rerun, first, published_after_cancel,
                       replanned, kept, second)


def job_start_lines(workdir: Path) -> dict[str, dict[str, str]]:
    """rule log -> the SLURM_JOB_ID / CUDA_VISIBLE_DEVICES that run_job printed at job start."""
    found = {}
    for log in (workdir / "logs").rglob("*.log"):
        first_line = log.read_text().partition("\n")[0]
        if first_line.startswith("job start:"):
            found[str(log.relative_to(workdir))] = dict(item.split("=", 1) for item in first_line.split()[2:])
    return found


def test_cancelled_job_is_reported_and_the_rerun_does_only_what_is_missing(runs):
    output = runs.first.stdout
    assert runs.first.returncode != 0
    assert f"SLURM-job '{runs.cancelled_job}' failed, SLURM status is: 'CANCELLED'" in output
    assert not runs.published_after_cancel  # nothing that looks complete
    assert 0 < len(runs.recorded_before_rerun) < 40

    # Phase 0 finished before the collect job started: nothing of it is planned again.
    assert runs.replanned["collect"] == 2  # iteration_0's, and the exploiter's of the final σ
    for rule in ("baseline_population", "bootstrap_train", "bootstrap_refine", "phase0_population"):
        assert rule not in runs.replanned
    assert runs.replanned["tournament"] == 1  # iteration_0's only
    assert sum(runs.replanned.values()) < sum(runs.planned.values())
    assert len(submitted_job_ids(runs.second.stdout)) == sum(runs.replanned.values()) - 1  # `all` runs locally
    # ... and every file the failed run finished is untouched by the rerun.
    after = finished_outputs(runs.workdir / "results")
    assert {path: after.get(path) for path in runs.kept} == runs.kept

    # The collect job resumed: the battles recorded before the cancel were kept, not replayed, and each
    # battle is counted once.
    records = read_jsonl(runs.workdir / "results/iteration_0/br_trajectories/records.jsonl")
    assert len(records) == 40 and len({r["index"] for r in records}) == 40
    by_index = {r["index"]: r for r in records}
    assert all(by_index[r["index"]] == r for r in runs.recorded_before_rerun)


def test_every_job_ran_as_a_slurm_job(runs):
    submitted = set(submitted_job_ids(runs.first.stdout)) | set(submitted_job_ids(runs.second.stdout))
    started = job_start_lines(runs.workdir)
    assert len(started) == sum(runs.planned.values()) - 1  # one rule log per job; `all` has none
    slurm_logs = runs.workdir / ".snakemake/slurm_logs"
    for log, seen in started.items():
        assert seen["SLURM_JOB_ID"] in submitted, (log, seen)
        assert list(slurm_logs.rglob(f"{seen['SLURM_JOB_ID']}.log")), log  # SLURM's own log of that job
    assert runs.cancelled_job not in {seen["SLURM_JOB_ID"] for seen in started.values()}  # resubmitted
    rules_run = {path.relative_to(slurm_logs).parts[0].removeprefix("rule_") for path in slurm_logs.rglob("*.log")}
    assert rules_run == set(runs.planned) - {"all"}


def test_gpu_rules_are_submitted_with_a_gpu_and_see_it(runs):
    calls = sbatch_calls(runs.first.stdout + runs.second.stdout)
    for rule in GPU_RULES:
        assert calls.get(rule) and all("--gpus=1" in call for call in calls[rule]), (rule, calls.get(rule))
    for rule in CPU_RULES:
        assert calls.get(rule) and not any("--gpus" in call for call in calls[rule]), (rule, calls.get(rule))
    started = job_start_lines(runs.workdir)
    assert started["logs/iteration_0/best_response.log"]["CUDA_VISIBLE_DEVICES"] == "0"
    assert started["logs/phase0/bootstrap_train.log"]["CUDA_VISIBLE_DEVICES"] == "0"
    assert started["logs/phase0/solve.log"]["CUDA_VISIBLE_DEVICES"] == "unset"


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_results_pass_the_local_checks(runs):
    results = runs.workdir / "results"
    previous_size = 0
    for stage, size in [("phase0/baselines", 3), ("phase0", 4), ("iteration_0", 5)]:
        matrix = load(results / stage / "interaction_matrix.json")
        assert len(matrix["policy_names"]) == size
        assert len(matrix["pairs"]) == size * (size - 1) // 2 and all(p["battles"] == 8 for p in matrix["pairs"])
        M = np.array(matrix["matrix"])
        assert np.allclose(M + M.T, 1.0)
        battles = read_jsonl(results / stage / "battles.jsonl")
        assert len(battles) == 8 * (size * (size - 1) // 2 - previous_size * (previous_size - 1) // 2)
        assert len({b["battle_id"] for b in battles}) == len({b["index"] for b in battles}) == len(battles)
        previous_size = size
        if stage != "phase0/baselines":
            sigma = np.array(load(results / stage / "meta_strategy.json")["meta_strategy"])
            assert exploitability(M, sigma) <= 1e-9  # a verified Nash equilibrium of the stage's matrix
            assert load(results / stage / "meta_game_analysis.json")["exploitability_within_population"] <= 1e-9
    for name in ["exploitability.png", "nash_mixture.png", "summary.json", "success.json",
                 "mixture_vs_baselines.json"]:
        assert (results / "analysis" / name).is_file(), name
    assert not list(results.rglob("*.tmp"))

"""End-to-end: the real Snakemake workflow (real server, battles, training) on a tiny config.

The tests share one workflow directory and run in file order: build, check the numbers, then staleness,
growth, and a SIGKILL in the middle of an iteration.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from pokepsro.core.files import read_jsonl
from pokepsro.gen1.teams import load_team_set
from pokepsro.metagame.solver import exploitability
from pokepsro.workflow.rerun_diff import differing_files

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "tests" / "data" / "tiny.yaml"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))

pytestmark = pytest.mark.slow


TINY_PPO = REPO / "tests" / "data" / "tiny_ppo.yaml"  # two PPO rounds per best response
TINY_PPO_CONFIG = f"oracle={{ppo: {{hyper: {TINY_PPO}}}}}"  # --config merges it into tiny.yaml's oracle block


def snakemake(workdir: Path, *args: str, config: tuple[str, ...] = (), timeout: float = 1200,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--configfile", str(TINY), "--cores", "2", *args, "--config", TINY_PPO_CONFIG, *config]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          env={**os.environ, **(env or {})})


def scheduled_jobs(dry_run_output: str) -> Counter:
    """Job counts per rule from the 'Job stats' table of a dry run."""
    counts: Counter = Counter()
    lines = dry_run_output.splitlines()
    start = next((k for k, line in enumerate(lines) if line.startswith("Job stats")), None)
    if start is None:
        return counts
    for line in lines[start + 3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        if parts[0] != "total":
            counts[parts[0]] = int(parts[1])
    return counts


def load(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def workflow(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("workflow")
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def stages(workdir: Path, iterations: int = 2) -> list[Path]:
    return [workdir / "results/phase0"] + [workdir / f"results/iteration_{i}" for i in range(iterations)]


def test_every_artifact_is_built(workflow):
    results = workflow / "results"
    for stage in stages(workflow):
        for name in ["population.json", "interaction_matrix.json", "battles.jsonl", "meta_strategy.json",
                     "meta_game_analysis.json", "interaction_matrix.png", "meta_strategy.png"]:
            assert (stage / name).is_file(), stage / name
    for brdir in ["iteration_0", "iteration_1", "analysis/exploiter"]:
        assert (results / brdir / "best_response.pt").is_file()
        training = results / brdir / "br_training"
        assert {"ckpts", "metrics.csv", "battles.jsonl", "learning_curve.png", "state.pt"} <= {
            path.name for path in training.iterdir()}
        assert len((training / "metrics.csv").read_text().splitlines()) == 1 + 2  # two rounds of 12 battles
        assert not (results / brdir / "br_trajectories").exists()  # the PPO oracle collects in its own job
    for i in range(2):
        assert (results / f"iteration_{i}/br_eval.json").is_file()
    assert (results / "analysis/exploiter_eval.json").is_file()
    for name in ["exploitability.png", "nash_mixture.png", "interaction_matrix.png", "br_winrate.png", "ratings.png",
                 "summary.json", "success.json", "mixture_vs_baselines.json"]:
        assert (results / "analysis" / name).is_file(), name
    assert (results / "phase0/bootstrap/ckpts/epoch_2.pt").is_file()  # imitation, then PPO refinement:
    assert (results / "phase0/bootstrap/refined.pt").is_file()
    bootstrap = load(results / "phase0/population.json")["policies"][-1]
    assert bootstrap["spec"].endswith("phase0/bootstrap/refined.pt") and bootstrap["options"] == {"greedy": True}
    assert (workflow / "logs/phase0/tournament.log").is_file()
    assert not list(results.rglob("*.tmp")) and not list(results.rglob("*.partial"))


def test_a_rerun_on_one_worker_and_another_cpu_path_reproduces_every_number_and_weight(workflow, tmp_path):
    """Same seed, fresh folder, half the battle workers, and the code path of another CPU forced (torch's kernels
    without SIMD, MKL held to AVX2, one OpenMP thread): every record, matrix, σ, shard and checkpoint is the same
    (one pinned code path, batch-invariant acting passes, each battle's draws its own)."""
    other_cpu = {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "OMP_NUM_THREADS": "1"}
    result = snakemake(tmp_path, config=("workers=1",), env=other_cpu)
    assert result.returncode == 0, result.stderr[-4000:]
    compared, differing = differing_files(tmp_path, workflow)
    assert len([path for path in compared if path.suffix == ".pt"]) > 10
    assert differing == []


def test_every_pair_played_and_each_battle_counted_once(workflow):
    previous_names: list[str] = []
    for stage in [workflow / "results/phase0/baselines"] + stages(workflow):
        matrix = load(stage / "interaction_matrix.json")
        names = matrix["policy_names"]
        n = len(names)
        assert len(matrix["pairs"]) == n * (n - 1) // 2
        assert all(pair["battles"] == 8 for pair in matrix["pairs"])
        M = np.array(matrix["matrix"])
        assert np.allclose(M + M.T, 1.0)
        records = read_jsonl(stage / "battles.jsonl")
        new_pairs = n * (n - 1) // 2 - len(previous_names) * (len(previous_names) - 1) // 2
        assert len(records) == 8 * new_pairs  # incremental: only the new policy's row is played
        assert len({r["battle_id"] for r in records}) == len(records)
        assert len({r["index"] for r in records}) == len(records)
        previous_names = names


def test_nash_is_verified_and_progress_is_the_real_exploitability(workflow):
    previous_sigma = None
    for stage in stages(workflow):
        M = np.array(load(stage / "interaction_matrix.json")["matrix"])
        sigma = np.array(load(stage / "meta_strategy.json")["meta_strategy"])
        analysis = load(stage / "meta_game_analysis.json")
        assert exploitability(M, sigma) <= 1e-9
        assert analysis["exploitability_within_population"] <= 1e-9
        if previous_sigma is not None:
            padded = np.zeros(len(M))
            padded[:len(previous_sigma)] = previous_sigma
            assert analysis["exploitability"] == pytest.approx(float(np.max(M @ padded) - 0.5), abs=1e-12)
            assert "br_gain_vs_previous_nash" in analysis
        previous_sigma = sigma


def test_population_grows_by_one_best_response_per_iteration(workflow):
    sizes = [len(load(stage / "population.json")["policies"]) for stage in stages(workflow)]
    assert sizes == [4, 5, 6]  # 3 baselines + bootstrap, then PSRO_BR0, PSRO_BR1
    names = [p["name"] for p in load(workflow / "results/iteration_1/population.json")["policies"]]
    assert names[-2:] == ["PSRO_BR0", "PSRO_BR1"]
    success = load(workflow / "results/analysis/success.json")
    assert success["criteria"]["population_equals_initial_plus_iterations"]["pass"] is True


def test_oracle_opponents_follow_the_previous_nash(workflow):
    for i, previous in enumerate(stages(workflow)[:2]):
        strategy = load(previous / "meta_strategy.json")
        sigma = dict(zip(strategy["policy_names"], strategy["meta_strategy"]))
        records = read_jsonl(workflow / f"results/iteration_{i}/br_training/battles.jsonl")
        assert sorted(r["index"] for r in records) == list(range(24))  # oracle.ppo.battles, each once
        assert {r["policy_a"] for r in records} == {f"PSRO_BR{i}@learner"}
        counts = Counter(r["policy_b"] for r in records)
        for name, p in sigma.items():
            expected, sd = 24 * p, (24 * p * (1 - p)) ** 0.5
            assert abs(counts.get(name, 0) - expected) <= 4 * sd + 1e-9, (name, counts, sigma)


def test_the_analysis_is_honest_and_evaluations_keep_their_battles_in_declared_outputs(workflow):
    results = workflow / "results"
    assert not list(results.rglob("*.battles.jsonl"))  # records live inside the declared JSON outputs
    tiny = {"eval_battles": 10}
    exploiter = load(results / "analysis/exploiter_eval.json")
    final_matrix = load(results / "iteration_1/interaction_matrix.json")
    assert exploiter["policy"] == "exploiter" and exploiter["team_set"] == final_matrix["metadata"]["team_set"]
    assert len(exploiter["records"]) == tiny["eval_battles"]
    # Each best response's start played the very same battles: the exploiter's is the bootstrap, outside σ.
    for path, start in [(results / "analysis/exploiter_eval.json", "bootstrap"),
                        (results / "iteration_0/br_eval.json", "bootstrap"),
                        (results / "iteration_1/br_eval.json", "PSRO_BR0")]:
        evaluation = load(path)
        assert evaluation["start"]["policy"] == start, path
        battle = lambda r: (r["index"], r["policy_b"], r["a_seat"], r["seed"])
        assert [battle(r) for r in evaluation["start"]["records"]] == [battle(r) for r in evaluation["records"]]
        assert evaluation["rise_over_start"]["battles"] == tiny["eval_battles"]
    assert load(results / "analysis/exploiter_eval.json")["start"]["checkpoint"].endswith("phase0/bootstrap/refined.pt")
    for i in range(2):
        br_eval = load(results / f"iteration_{i}/br_eval.json")
        assert br_eval["team_set"] == load(results / f"iteration_{i}/interaction_matrix.json")["metadata"]["team_set"]
        assert len(br_eval["records"]) == tiny["eval_battles"]
    summary = load(results / "analysis/summary.json")
    progress = summary["exploitability_progress"]
    assert [m["sigma_of"] for m in progress] == ["phase0", "iteration_0", "iteration_1"]
    for m in progress:
        assert {"exploitability", "gain", "gain_ci95", "informative"} <= m.keys()
        assert (m["exploitability"] is None) == (not m["informative"])
    assert all(m["best_responder"] for m in progress[:-1]) and progress[-1]["measured_with"] == "exploiter"
    criterion = load(results / "analysis/success.json")["criteria"]["exploitability_below_0.15"]
    assert criterion["measured_with"] == "exploiter" and criterion["gain_ci95"] == progress[-1]["gain_ci95"]
    assert criterion["started_from"] == "bootstrap"
    shown = criterion["rise_ci95"][0] > 0 and criterion["gain_ci95"][1] < 0.15
    assert criterion["pass"] == shown == (criterion["verdict"] == "pass")
    assert "nash_value" not in load(results / "iteration_1/meta_game_analysis.json")
    # Ratings over every battle between two final members on the training team set, each once.
    ratings = summary["ratings"]
    members = [policy["name"] for policy in load(results / "iteration_1/population.json")["policies"]]
    assert list(ratings["members"]) == members
    by_file = ratings["battles_by_file"]
    bootstrap_eval = load(results / "phase0/bootstrap_eval.json")["opponents"]
    mixture = load(results / "analysis/mixture_vs_baselines.json")["opponents"]  # side A: the baseline
    assert by_file == {
        "results/iteration_1/interaction_matrix.json": sum(pair["battles"] for pair in final_matrix["pairs"]),
        "results/iteration_0/br_eval.json": tiny["eval_battles"],
        "results/iteration_1/br_eval.json": tiny["eval_battles"],
        "results/phase0/bootstrap_eval.json": sum(between_members(o["records"], "bootstrap", members)
                                                  for o in bootstrap_eval.values()),
        "results/analysis/mixture_vs_baselines.json": sum(between_members(o["records"], baseline, members)
                                                          for baseline, o in mixture.items())}
    assert 0 < by_file["results/analysis/mixture_vs_baselines.json"] < sum(o["battles"] for o in mixture.values())
    assert sum(m["battles"] for m in ratings["members"].values()) == 2 * ratings["battles"] == 2 * sum(by_file.values())
    assert np.mean([m["rating"] for m in ratings["members"].values()]) == pytest.approx(1500)
    for m in ratings["members"].values():
        assert m["battles"] == m["wins"] + m["losses"] + m["ties"] > 0
        assert m["ci95"][0] < m["ci95"][1] and 0 <= m["gxe_ci95"][0] <= m["gxe"] <= m["gxe_ci95"][1] <= 1


def between_members(records: list[dict], side_a: str, members: list[str]) -> int:
    """How many of an evaluation's battles were between two different members (the ones the ratings count)."""
    return sum(side_a in members and r["policy_b"] in members and r["policy_b"] != side_a for r in records)


def played_only_on(records: list[dict], team_set: str) -> bool:
    """Some battles, every one of them between two teams of `team_set`."""
    ids = {team.id for team in load_team_set(team_set).teams}
    return bool(records) and {r["team_a"] for r in records} | {r["team_b"] for r in records} <= ids


def test_every_evaluation_reports_held_out_numbers_beside_in_distribution_ones(workflow):
    """tiny.yaml trains on competitive and holds out heldout: each number comes from battles on its own set."""
    results = workflow / "results"
    for name in ["phase0/bootstrap_eval.json", "analysis/mixture_vs_baselines.json"]:
        evaluation = load(results / name)
        assert evaluation["team_set"] == "competitive" and evaluation["held_out"]["team_set"] == "heldout"
        assert set(evaluation["held_out"]["opponents"]) == set(evaluation["opponents"])
        for opponent, summary in evaluation["opponents"].items():
            held_out = evaluation["held_out"]["opponents"][opponent]
            assert summary["battles"] == held_out["battles"] == len(held_out["records"]) and len(held_out["ci95"]) == 2
            assert played_only_on(summary["records"], "competitive") and played_only_on(held_out["records"], "heldout")
    for name in ["iteration_0/br_eval.json", "iteration_1/br_eval.json", "analysis/exploiter_eval.json"]:
        evaluation = load(results / name)
        held_out = evaluation["held_out"]
        assert held_out["team_set"] == "heldout" and held_out["vs_previous_nash"]["battles"] == len(held_out["records"])
        assert played_only_on(evaluation["records"], "competitive") and played_only_on(held_out["records"], "heldout")
    summary = load(results / "analysis/summary.json")
    assert summary["team_set"] == "competitive" and summary["eval_team_set"] == "heldout"
    assert all(m["held_out"]["team_set"] == "heldout" for m in summary["exploitability_progress"])


def file_stamps(workdir: Path) -> dict[str, int]:
    """Every file the workflow wrote (results and logs) with its mtime in ns."""
    return {str(path.relative_to(workdir)): path.stat().st_mtime_ns
            for folder in ("results", "logs") for path in (workdir / folder).rglob("*") if path.is_file()}


def test_second_run_has_nothing_to_do(workflow):
    dry = snakemake(workflow, "-n")
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "Nothing to be done" in dry.stdout + dry.stderr and scheduled_jobs(dry.stdout) == Counter()
    before = file_stamps(workflow)
    assert len(before) > 50  # the built workflow, not an empty folder
    result = snakemake(workflow)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Nothing to be done" in result.stdout + result.stderr
    assert file_stamps(workflow) == before, "a rerun rewrote or added files"


def test_noop_benchmark_times_the_built_workflow(workflow):
    """benchmarks/workflow_noop.py, where the no-op rerun's speed is measured, runs (once) on a built workflow."""
    result = subprocess.run([sys.executable, str(REPO / "benchmarks/workflow_noop.py"), "--directory", str(workflow),
                             "--configfile", str(TINY), "--repeats", "1", "--", "--config",
                             TINY_PPO_CONFIG], capture_output=True, text=True, timeout=300,
                            cwd=REPO, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"snakemake -n on {workflow}: median " in result.stdout
    assert result.stdout.rstrip().endswith("jobs planned: 0"), result.stdout


def test_report_renders_every_plot(workflow):
    result = snakemake(workflow, "--report", str(workflow / "results/report.html"))
    assert result.returncode == 0, result.stderr[-3000:]
    html = (workflow / "results/report.html").read_text(errors="replace")
    for name in ["exploitability.png", "nash_mixture.png", "br_winrate.png", "ratings.png", "success.json"]:
        assert name in html


def test_each_best_response_records_its_training_mixture_which_is_sigma_by_default(workflow):
    for brdir, stage, start in [("iteration_0", "phase0", "bootstrap"), ("iteration_1", "iteration_0", "PSRO_BR0"),
                                ("analysis/exploiter", "iteration_1", "bootstrap")]:  # br_init: previous
        mixture = load(workflow / f"results/{brdir}/training_mixture.json")
        assert mixture["meta_strategy"] == load(workflow / f"results/{stage}/meta_strategy.json")["meta_strategy"]
        assert (mixture["metadata"]["opponent_selection"], mixture["metadata"]["start"]) == ("sigma", start)


def test_changing_br_init_retrains_from_br1_on_and_keeps_br0(workflow):
    jobs = scheduled_jobs(snakemake(workflow, "-n", config=("br_init=start",)).stdout)
    assert jobs["training_mixture"] == 2 and jobs["best_response"] == 2  # BR_1, and the exploiter of the new σ
    assert jobs["tournament"] == 1 and "bootstrap_refine" not in jobs  # BR_0 and its row are kept


def test_pfsp_trains_against_sigma_mixed_with_the_starts_losses(workflow, tmp_path):
    jobs = scheduled_jobs(snakemake(workflow, "-n", config=("opponent_selection=pfsp",)).stdout)
    assert jobs["training_mixture"] == 3 and jobs["best_response"] == 3 and "bootstrap_refine" not in jobs

    copy = tmp_path / "workflow"  # the shared workflow stays built with σ
    shutil.copytree(workflow, copy, symlinks=True)
    result = snakemake(copy, "results/iteration_0/training_mixture.json",
                       config=("opponent_selection=pfsp", "pfsp_mix=0.5", "pfsp_power=2"))
    assert result.returncode == 0, result.stderr[-3000:]
    mixture = load(copy / "results/iteration_0/training_mixture.json")
    matrix = load(workflow / "results/phase0/interaction_matrix.json")
    sigma = np.array(load(workflow / "results/phase0/meta_strategy.json")["meta_strategy"])
    losses = 1 - np.array(matrix["matrix"][matrix["policy_names"].index("bootstrap")])
    assert mixture["metadata"]["start"] == "bootstrap"
    assert np.allclose(mixture["meta_strategy"], 0.5 * sigma + 0.5 * losses**2 / (losses**2).sum())
    assert (np.array(mixture["meta_strategy"])[losses > 0] > 0).all()  # σ's zeros included, unless beaten outright


def test_changing_battles_per_matchup_reruns_only_the_tournaments_and_what_follows(workflow):
    result = snakemake(workflow, "-n", config=("battles_per_matchup=10",))
    jobs = scheduled_jobs(result.stdout)
    assert jobs["tournament"] == 4
    assert "baseline_population" not in jobs and "bootstrap_train" in jobs  # trained on the tournament's battles


def test_workers_rerun_nothing_and_the_oracles_budget_or_hyper_parameters_retrain(workflow, tmp_path):
    """How fast (workers, concurrency, rollout workers) is read by the jobs, no param: a change reruns nothing. The
    PPO budget and hyper-parameter values are params: a change retrains what they train (the hyper-parameters
    also refine the bootstrap)."""
    faster = tmp_path / "faster.yaml"
    faster.write_text("workers: 1\nconcurrency: 4\noracle: {ppo: {workers: 2}}\n")
    dry = snakemake(workflow, "-n", "--configfile", str(TINY), str(faster))
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert scheduled_jobs(dry.stdout) == Counter()
    longer = tmp_path / "longer.yaml"
    longer.write_text("oracle: {ppo: {battles: 36}}\n")
    jobs = scheduled_jobs(snakemake(workflow, "-n", "--configfile", str(TINY), str(longer)).stdout)
    assert jobs["best_response"] == 3 and "bootstrap_refine" not in jobs  # BR_0, BR_1 and the exploiter
    jobs = scheduled_jobs(snakemake(workflow, "-n", config=("oracle={ppo: {hyper: ppo}}",)).stdout)
    assert jobs["bootstrap_refine"] == 1 and jobs["best_response"] == 3


def test_config_error_names_the_bad_key(workflow):
    result = snakemake(workflow, "-n", config=("num_iterations=0",))
    assert result.returncode != 0
    assert "num_iterations" in result.stderr


def test_slurm_profile_dry_runs(workflow):
    result = subprocess.run([SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workflow),
                             "--configfile", str(TINY), "--workflow-profile", str(REPO / "profiles/slurm"),
                             "-n", "--config", "num_iterations=3", TINY_PPO_CONFIG],
                            capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    assert scheduled_jobs(result.stdout)["best_response"] == 2  # BR_2, and the exploiter of the new final σ


def test_every_rule_a_profile_tunes_exists():
    """Snakemake ignores set-threads/set-resources for a rule name it does not know: a renamed rule would
    silently lose its cluster resources."""
    import re

    import yaml

    rules = {name for path in (REPO / "rules").glob("*.smk")
             for name in re.findall(r"^rule (\w+):", path.read_text(), flags=re.MULTILINE)}
    for profile in (REPO / "profiles").glob("*/config.yaml"):
        settings = yaml.safe_load(profile.read_text())
        for key in ("set-threads", "set-resources"):
            unknown = set(settings.get(key, {})) - rules
            assert not unknown, f"{profile} {key} names rules that do not exist: {sorted(unknown)}"


def test_raising_iterations_schedules_only_the_new_ones_and_a_killed_oracle_resumes(workflow):
    dry = snakemake(workflow, "-n", config=("num_iterations=3",))
    jobs = scheduled_jobs(dry.stdout)
    assert jobs["best_response"] == 2 and jobs["tournament"] == 1 and "collect" not in jobs  # BR_2 + exploiter
    assert "bootstrap_train" not in jobs and "baseline_population" not in jobs

    command = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workflow), "--configfile",
               str(TINY), "--cores", "2", "--config", "num_iterations=3", TINY_PPO_CONFIG]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    training = workflow / "results/iteration_2/br_training"
    state = workflow / "results/iteration_2/.br_training.partial/state.pt"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not state.exists() and process.poll() is None:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # after BR_2's first round was committed, before its second
    process.wait()
    assert state.exists(), "the oracle never finished a round"
    assert not training.exists() and not (workflow / "results/iteration_2/best_response.pt").exists()

    assert snakemake(workflow, "--unlock").returncode == 0  # a SIGKILLed snakemake leaves its lock behind
    result = snakemake(workflow, config=("num_iterations=3",))
    assert result.returncode == 0, result.stderr[-4000:]
    assert "resuming PPO after round 1" in (workflow / "logs/iteration_2/best_response.log").read_text()
    records = read_jsonl(training / "battles.jsonl")
    assert sorted(r["index"] for r in records) == list(range(24))
    assert (workflow / "results/iteration_2/meta_game_analysis.json").is_file()

"""The GPU machine's config and scripts, checked without a GPU: config/gpu.yaml (and its smoke overlay) validate
and build the workflow's DAG, the stage report reads benchmark files and an nvidia-smi trace, and the neural and
trainer benchmarks run their sweeps on the CPU."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from snakemake.utils import update_config

from pokepsro.core.files import REPO_ROOT, read_yaml
from pokepsro.workflow.config import validate_config

sys.path.insert(0, str(REPO_ROOT / "tools" / "device"))
import gpu_stage_report

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def merged(*paths: str) -> dict:
    """What Snakemake makes of the Snakefile's config.yaml plus --configfile PATHS (merged key by key)."""
    config = copy.deepcopy(read_yaml(REPO_ROOT / "config/config.yaml"))
    for path in paths:
        update_config(config, read_yaml(REPO_ROOT / path))
    return config


@pytest.mark.parametrize("paths", [("config/gpu.yaml",), ("config/gpu.yaml", "config/gpu_smoke.yaml")])
def test_gpu_configs_are_valid(paths):
    validate_config(read_yaml(REPO_ROOT / "config/gpu.yaml"))  # complete on its own
    validate_config(merged(*paths))


def test_gpu_config_keeps_sixteen_cores_busy_and_the_smoke_run_is_smaller():
    full, smoke = merged("config/gpu.yaml"), merged("config/gpu.yaml", "config/gpu_smoke.yaml")
    assert 2 * full["workers"] <= 16 and 2 * full["oracle"]["ppo"]["workers"] <= 16
    assert full["concurrency"] >= 8 * full["workers"]
    assert 1 <= smoke["num_iterations"] < full["num_iterations"]
    assert smoke["oracle"]["ppo"]["battles"] < full["oracle"]["ppo"]["battles"]
    assert smoke["oracle"]["ppo"]["hyper"] == full["oracle"]["ppo"]["hyper"]  # merged key by key
    assert smoke["workers"] == full["workers"] and smoke["oracle_model_config"] == full["oracle_model_config"]


@pytest.mark.parametrize("configfiles, iterations", [(["config/gpu.yaml"], 5),
                                                       (["config/gpu.yaml", "config/gpu_smoke.yaml"], 1)])
def test_gpu_config_builds_the_dag(tmp_path, configfiles, iterations):
    result = subprocess.run([SNAKEMAKE, "-n", "--cores", "16", "--snakefile", str(REPO_ROOT / "Snakefile"),
                             "--directory", str(tmp_path), "--configfile", *[str(REPO_ROOT / p) for p in configfiles]],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"results/iteration_{iterations - 1}/br_eval.json" in result.stdout
    assert f"results/iteration_{iterations}/" not in result.stdout
    assert "results/analysis/exploiter/best_response.pt" in result.stdout


def test_stage_report_joins_benchmarks_gpu_trace_and_results(tmp_path):
    logs = tmp_path / "logs" / "iteration_0"
    logs.mkdir(parents=True)
    bench = logs / "best_response.benchmark.tsv"
    bench.write_text("s\th:m:s\tmax_rss\tcpu_time\n10.0\t0:00:10\t512.5\t80.0\n")
    end = time.time() - 100
    os.utime(bench, (end, end))
    stamp = lambda t: time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(t)) + ".250"
    gpu = tmp_path / "gpu.csv"
    gpu.write_text("timestamp, utilization.gpu [%], memory.used [MiB]\n"
                   + "".join(f"{stamp(end - 8 + k)}, {20 * k} %, {1000 + k} MiB\n" for k in range(4))
                   + f"{stamp(end + 50)}, 99 %, 9999 MiB\n")
    apps = tmp_path / "gpu_apps.csv"
    apps.write_text(f"# {int(end - 5)}\n11, 500 MiB\n12, 600 MiB\n# {int(end + 30)}\n11, 500 MiB\n13, 5 MiB\n14, 5 MiB\n")
    results = tmp_path / "results"
    for stage, names, sigma in (("phase0", ["a", "b"], [1.0, 0.0]), ("iteration_0", ["a", "b", "BR0"], [0.25, 0, 0.75])):
        (results / stage).mkdir(parents=True)
        (results / stage / "meta_strategy.json").write_text(json.dumps(
            {"policy_names": names, "meta_strategy": sigma, "metadata": {}}))
    (results / "iteration_0" / "br_eval.json").write_text(json.dumps({
        "policy": "PSRO_BR0", "against": "results/phase0/meta_strategy.json",
        "vs_previous_nash": {"win_rate": 0.6, "ci95": [0.53, 0.67], "battles": 200},
        "exploitability": {"gain": 0.1, "gain_ci95": [0.03, 0.17], "informative": True}}))
    data = gpu_stage_report.report(tmp_path, gpu, apps)
    (job,) = data["jobs"]
    assert job["job"] == "iteration_0/best_response" and job["wall_s"] == 10.0 and job["cpu_s"] == 80.0
    assert job["gpu_samples"] == 4 and job["gpu_util_max"] == 60 and job["gpu_util_mean"] == 30
    assert job["gpu_memory_max_mib"] == 1003 and job["gpu_processes_max"] == 2
    assert data["sigma"] == {"phase0": {"a": 1.0}, "iteration_0": {"a": 0.25, "BR0": 0.75}}
    assert data["best_responses"]["iteration_0"]["win_rate"] == 0.6
    text = gpu_stage_report.markdown(data)
    assert "| iteration_0/best_response | 0 | 10.0 | 30 / 60 | 1003 | 2 |" in text
    assert "| iteration_0 | a 0.25, BR0 0.75 |" in text


def test_stage_report_of_an_empty_run(tmp_path):
    data = gpu_stage_report.report(tmp_path, None, None)
    assert data["jobs"] == [] and data["sigma"] == {} and data["best_responses"] == {}
    assert "benchmarked jobs: 0 s" in gpu_stage_report.markdown(data)


@pytest.mark.slow
def test_neural_battles_sweep_counts_decisions_per_forward_pass_over_workers(tmp_path):
    """The sweep's CPU path: 1 and 2 worker processes, each batching its own battles' decisions."""
    out = tmp_path / "neural.json"
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "neural_battles.py"), "--workers", "1", "2", "--devices", "cpu",
         "--battles", "4", "--battles-per-worker", "2", "--concurrency-per-worker", "2", "--json", str(out)],
        capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert [(row["workers"], row["device"], row["battles"]) for row in rows] == [(1, "cpu", 4), (2, "cpu", 4)]
    for row in rows:
        assert row["forward_passes"] > 0 and row["decisions"] >= row["forward_passes"]
        assert 1.0 <= row["mean_batch"] <= 2.0  # at most 2 battles in flight per process
        assert row["battles_per_s"] > 0 and row["cpu_cores_used"] > 0
    # a worker takes up to concurrency + 2 battles at a time, so one fast worker may play all 4
    assert rows[0]["processes_with_policy"] == 1 and 1 <= rows[1]["processes_with_policy"] <= 2


def test_trainer_throughput_runs_on_the_cpu(tmp_path):
    out = tmp_path / "trainer.json"
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "trainer_throughput.py"), "--model", "small", "--device", "cpu",
         "--batch-sizes", "8", "--warmup-steps", "1", "--steps", "2", "--json", str(out)],
        capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["device"] == "cpu" and result["results"][0]["samples_per_s"] > 0

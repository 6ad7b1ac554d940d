"""`workers: auto` and `oracle.ppo.workers: auto`, the defaults: half the CPU cores, at least 1 (2 for rollout
workers), printed and recorded."""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pokepsro.cli import main
from pokepsro.core.errors import UsageError
from pokepsro.core.files import read_yaml
from pokepsro.metagame.population import Population, heuristic_entry
from pokepsro.workflow.config import MIN_ROLLOUT_WORKERS, resolve_workers, validate_config

REPO = Path(__file__).resolve().parents[1]
HALF_OF_MINE = max(1, len(os.sched_getaffinity(0)) // 2)


@pytest.mark.parametrize("cores, workers", [(16, 8), (7, 3), (2, 1), (1, 1)])
def test_auto_is_half_the_cores_at_least_one_and_says_so(monkeypatch, capsys, cores, workers):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    assert resolve_workers("auto") == workers
    assert capsys.readouterr().out == f"workers: auto -> {workers} (half of {cores} CPU cores)\n"


@pytest.mark.parametrize("cores, workers", [(16, 8), (2, 2), (1, 2)])
def test_auto_rollout_workers_are_at_least_two(monkeypatch, capsys, cores, workers):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    assert resolve_workers("auto", key="oracle.ppo.workers", at_least=MIN_ROLLOUT_WORKERS) == workers
    floor = f", at least {MIN_ROLLOUT_WORKERS}"
    assert capsys.readouterr().out == f"oracle.ppo.workers: auto -> {workers} (half of {cores} CPU cores{floor})\n"


def test_auto_is_one_on_the_server_backend_and_a_number_stays_itself(capsys):
    assert resolve_workers("auto", "server") == 1
    assert "server backend" in capsys.readouterr().out
    assert resolve_workers(3) == 3
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("key", ["workers", "oracle.ppo.workers"])
def test_auto_is_the_default_and_other_words_are_refused(key):
    config = read_yaml(REPO / "config" / "config.yaml")
    *path, name = key.split(".")
    block = functools.reduce(dict.__getitem__, path, config)
    assert block[name] == "auto"
    validate_config(copy.deepcopy(config))
    for bad in ("many", 0, "2"):
        block[name] = bad
        with pytest.raises(UsageError, match=f"config key {re.escape(key)}"):
            validate_config(copy.deepcopy(config))


def test_cli_tournament_records_the_worker_count_auto_chose(tmp_path, capsys):
    Population((heuristic_entry("random"), heuristic_entry("max_base_power"))).save(tmp_path / "population.json")
    assert main(["tournament", "--population", str(tmp_path / "population.json"), "--battles-per-matchup", "2",
                 "--out", str(tmp_path / "out")]) == 0
    assert f"workers: auto -> {HALF_OF_MINE} " in capsys.readouterr().out
    metadata = json.loads((tmp_path / "out" / "interaction_matrix.json").read_text())["metadata"]
    assert metadata["workers"] == HALF_OF_MINE


def test_the_workflow_resolves_auto_once_and_battle_jobs_reserve_two_threads_per_worker(tmp_path):
    dry_run = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
                              "-n", "--cores", "64", "results/phase0/baselines/interaction_matrix.json"],
                             cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert dry_run.returncode == 0, dry_run.stderr[-3000:]
    output = dry_run.stdout + dry_run.stderr
    lines = dry_run.stderr.splitlines()  # stderr: --dag stays clean
    rollout = max(MIN_ROLLOUT_WORKERS, HALF_OF_MINE)
    for key, workers in (("workers", HALF_OF_MINE), ("oracle.ppo.workers", rollout)):  # both left to auto
        assert sum(line.startswith(f"{key}: auto -> {workers} (half of") for line in lines) == 1, key
    tournament = output[output.index("rule tournament:"):]
    assert re.search(r"threads: (\d+)", tournament).group(1) == str(2 * HALF_OF_MINE)

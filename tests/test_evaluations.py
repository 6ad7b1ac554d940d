"""The evaluation artifacts report in-distribution and held-out numbers side by side: each from battles on its own
team set only, each battle counted once, each resumed from its own partial records."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from conftest import descendants
from test_worker_pool import WORKER_MODULE, assert_no_processes_left

from pokepsro.core.files import partial_records, write_jsonl
from pokepsro.gen1.teams import load_team_set
from pokepsro.metagame.population import Population, heuristic_entry
from pokepsro.metagame.solver import write_meta_strategy
from pokepsro.workflow.evaluations import mixture_vs_baselines_stage
from pokepsro.workflow.rerun_diff import without_run_specifics

BATTLES = 4
BATTLE = {"battle_format": "gen1ou", "max_turns": 300, "battle_timeout_s": 300}
RUNTIME = {"concurrency": 4, "backend": "direct", "workers": 1}
RESUMED_TURNS = -7  # no battle lasts -7 turns: a record carrying it was resumed, not replayed


def team_ids(name: str) -> set[str]:
    return {team.id for team in load_team_set(name).teams}


def teams_played(records: list[dict]) -> set[str]:
    return {r["team_a"] for r in records} | {r["team_b"] for r in records}


def write_mixture(folder: Path) -> Path:
    """A final σ over two heuristics."""
    folder.mkdir(exist_ok=True)
    Population((heuristic_entry("max_base_power"), heuristic_entry("random"))).save(folder / "population.json")
    write_meta_strategy(folder / "meta_strategy.json", ["max_base_power", "random"], [0.5, 0.5])
    return folder


@pytest.fixture
def mixture(tmp_path: Path) -> Path:
    return write_mixture(tmp_path)


def evaluate(folder: Path, runtime: dict = RUNTIME) -> dict:
    return mixture_vs_baselines_stage(population=folder / "population.json", strategy=folder / "meta_strategy.json",
                                      baselines=["random"], out=folder / "mixture_vs_baselines.json",
                                      battles=BATTLES, team_set="competitive", eval_team_set="heldout", seed=3,
                                      battle=BATTLE, runtime=runtime, server_log=folder / "showdown.log")


def test_held_out_numbers_come_from_held_out_battles_only_and_resume_apart(mixture):
    first = evaluate(mixture)
    assert first == json.loads((mixture / "mixture_vs_baselines.json").read_text())
    assert first["team_set"] == "competitive" and first["held_out"]["team_set"] == "heldout"
    in_distribution, held_out = first["opponents"]["random"], first["held_out"]["opponents"]["random"]
    for summary, team_set in ((in_distribution, "competitive"), (held_out, "heldout")):
        assert summary["battles"] == BATTLES and len(summary["ci95"]) == 2
        assert sorted(r["index"] for r in summary["records"]) == list(range(BATTLES))
        assert teams_played(summary["records"]) <= team_ids(team_set)
    assert not list(mixture.glob(".*.partial"))

    # A killed rerun left the held-out battles in their own partial file: they are resumed, not replayed, and
    # never leak into the in-distribution numbers.
    partial = partial_records(mixture / "mixture_vs_baselines_random_held_out")
    write_jsonl(partial, [{**r, "turns": RESUMED_TURNS} for r in held_out["records"]])
    second = evaluate(mixture)
    assert {r["turns"] for r in second["held_out"]["opponents"]["random"]["records"]} == {RESUMED_TURNS}
    assert RESUMED_TURNS not in {r["turns"] for r in second["opponents"]["random"]["records"]}
    assert not partial.exists()


def test_two_workers_start_once_per_job_and_measure_what_one_worker_measures(tmp_path):
    """Both measurements of the job (in-distribution and held out) play on the same two worker processes."""
    in_process = evaluate(write_mixture(tmp_path / "one"))
    seen: set[int] = set()
    done = threading.Event()

    def watch() -> None:  # a worker lives seconds (Python, torch, a simulator): polling every 20 ms sees each
        while not done.is_set():
            seen.update(descendants(WORKER_MODULE))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        on_workers = evaluate(write_mixture(tmp_path / "two"), {**RUNTIME, "workers": 2})
    finally:
        done.set()
        watcher.join()
    assert len(seen) == 2, f"worker processes started: {sorted(seen)}"
    assert on_workers["workers"] == 2 and in_process["workers"] == 1
    assert on_workers.pop("mixture") != in_process.pop("mixture"), "each in its own folder"
    assert without_run_specifics(on_workers) == without_run_specifics(in_process)
    assert_no_processes_left()

"""Reruns reproduce: every random draw of a battle (team, seat, simulator, and the players' own) derives from the
battle's seed, so the same stage run twice gives the same battles, on one worker process or two.

The stage is a BR evaluation against a Nash mixture: a sampling neural policy (T = 1) against `random`,
`gym_leader` and `simple_heuristics`, whose draws (random orders, tie-breaks, poke-env's random fallback)
used to come from the OS.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_tiny_checkpoint

from pokepsro.gen1.teams import load_team_set
from pokepsro.metagame.matrix import InteractionMatrix, PairCounts
from pokepsro.metagame.population import Population, heuristic_entry
from pokepsro.metagame.solver import write_meta_strategy
from pokepsro.workflow.evaluations import evaluate_best_response_stage

pytestmark = pytest.mark.slow

MEMBERS = ["random", "gym_leader", "simple_heuristics"]
BATTLES = 12
TIMING = ("battle_id", "wall_s", "finished_at")  # the room tag carries a per-run token


@pytest.fixture(scope="module")
def stage(tmp_path_factory) -> Path:
    """σ_{-1} over three heuristics, and the grown matrix (with PSRO_BR0's row) played on `variety`."""
    folder = tmp_path_factory.mktemp("stage")
    write_tiny_checkpoint(folder / "br.pt")
    Population(tuple(heuristic_entry(name) for name in MEMBERS)).save(folder / "population.json")
    write_meta_strategy(folder / "meta_strategy.json", MEMBERS, [0.4, 0.3, 0.3])
    names = MEMBERS + ["PSRO_BR0"]
    counts = {(a, b): PairCounts(5, 5) for k, a in enumerate(names) for b in names[k + 1:]}
    InteractionMatrix(names, counts, {"team_set": "variety"}).save(folder / "interaction_matrix.json")
    return folder


def evaluate(stage: Path, out_dir: Path, workers: int) -> dict:
    out_dir.mkdir()
    evaluate_best_response_stage(
        checkpoint=stage / "br.pt", start_name="bootstrap", start=stage / "br.pt", iteration=0, population=stage / "population.json",
        strategy=stage / "meta_strategy.json", matrix=stage / "interaction_matrix.json", out=out_dir / "br_eval.json",
        battles=BATTLES, seed=11, battle={"battle_format": "gen1ou", "max_turns": 300, "battle_timeout_s": 300},
        runtime={"concurrency": 6, "backend": "direct", "workers": workers}, server_log=out_dir / "showdown.log",
        acting={"temperature": 1.0}, eval_team_set="heldout")  # sampled: the neural side draws every turn
    # Everything the job wrote is its one declared output: the battle records live inside it.
    assert sorted(path.name for path in out_dir.iterdir()) == ["br_eval.json"]
    return json.loads((out_dir / "br_eval.json").read_text())


def without_timing(records: list[dict]) -> list[dict]:
    return [{key: value for key, value in record.items() if key not in TIMING} for record in records]


def outcomes(result: dict) -> list[dict]:
    """The battles on the matrix's team set, then those on the held-out one, without their timing."""
    return without_timing(result["records"] + result["held_out"]["records"])


@pytest.fixture(scope="module")
def runs(stage, tmp_path_factory) -> dict:
    """The stage run twice with one worker process and twice with two."""
    folder = tmp_path_factory.mktemp("runs")
    return {(workers, attempt): evaluate(stage, folder / f"w{workers}_{attempt}", workers)
            for workers in (1, 2) for attempt in (1, 2)}


def test_the_same_stage_twice_gives_the_same_battles_with_one_worker_and_with_two(runs):
    first = outcomes(runs[(1, 1)])
    assert len(first) == 2 * BATTLES and [r["index"] for r in first] == 2 * list(range(BATTLES))
    assert len({r["turns"] for r in first}) > 1  # real, varied battles
    for key, result in runs.items():
        assert outcomes(result) == first, key
        assert {k: result["vs_previous_nash"][k] for k in ("wins", "losses", "ties")} == \
               {k: runs[(1, 1)]["vs_previous_nash"][k] for k in ("wins", "losses", "ties")}


def test_the_start_plays_the_very_same_battles(runs):
    """Started from its own checkpoint, the best response's start replays each of its battles exactly: no rise."""
    result = runs[(1, 1)]
    assert without_timing(result["start"]["records"]) == without_timing(result["records"])
    assert result["start"]["policy"] == "bootstrap"
    assert result["rise_over_start"] == {**result["rise_over_start"], "mean": 0.0, "ci95": [0.0, 0.0],
                                         "battles": BATTLES}
    assert result["exploitability"]["trained"] is False


def test_the_br_evaluation_plays_and_names_the_team_set_of_its_matrix(stage, runs):
    result = runs[(1, 1)]
    assert result["team_set"] == "variety"  # not the default eval_team_set: the game σ was solved in
    variety = {team.id for team in load_team_set("variety").teams}
    assert {r["team_a"] for r in result["records"]} | {r["team_b"] for r in result["records"]} <= variety
    assert result["against"] == str(stage / "meta_strategy.json")
    assert result["exploitability"]["gain_ci95"] == pytest.approx(result["gain_ci95"])
    assert set(result["vs_members"]) == set(MEMBERS)  # from the matrix row, played on the same team set


def test_the_held_out_measurement_plays_only_held_out_teams_beside_it(runs):
    result = runs[(1, 1)]
    held_out = result["held_out"]
    assert held_out["team_set"] == "heldout" and held_out["vs_previous_nash"]["battles"] == BATTLES
    assert sorted(r["index"] for r in held_out["records"]) == list(range(BATTLES))
    played = {r["team_a"] for r in held_out["records"]} | {r["team_b"] for r in held_out["records"]}
    assert played <= {team.id for team in load_team_set("heldout").teams}
    assert set(held_out["vs_previous_nash"]["by_member"]) <= set(MEMBERS)

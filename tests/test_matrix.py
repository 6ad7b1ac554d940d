"""Interaction matrix: each battle counted once, incremental tournaments, a strictly validated file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pokepsro.battles.records import summarize
from pokepsro.core.errors import UsageError
from pokepsro.metagame.matrix import InteractionMatrix, PairCounts, missing_pairs

NAMES = ["Random", "MaxBP", "Heuristic"]


def battle(index: int, a: str, b: str, result: str) -> dict:
    return {"index": index, "policy_a": a, "policy_b": b, "result_a": result, "end": "normal"}


def round_robin_records() -> list[dict]:
    """Random–MaxBP played with seats both ways round; every pair played."""
    return [
        battle(0, "Random", "MaxBP", "loss"),
        battle(1, "MaxBP", "Random", "win"),
        battle(2, "MaxBP", "Random", "loss"),   # Random wins this one
        battle(3, "Random", "MaxBP", "tie"),
        battle(4, "Heuristic", "Random", "win"),
        battle(5, "Random", "Heuristic", "loss"),
        battle(6, "MaxBP", "Heuristic", "win"),
        battle(7, "Heuristic", "MaxBP", "win"),
        battle(8, "Heuristic", "MaxBP", "win"),
    ]


def test_records_aggregate_once_per_unordered_pair_with_ties_as_half() -> None:
    matrix = InteractionMatrix.from_records(NAMES, round_robin_records())
    assert matrix.counts("Random", "MaxBP") == PairCounts(wins=1, losses=2, ties=1)
    assert matrix.counts("MaxBP", "Random") == PairCounts(wins=2, losses=1, ties=1)
    assert matrix.counts("Random", "Heuristic") == PairCounts(0, 2, 0)
    assert matrix.counts("MaxBP", "Heuristic") == PairCounts(1, 2, 0)
    expected = np.array([[0.5, 1.5 / 4, 0.0],
                         [2.5 / 4, 0.5, 1 / 3],
                         [1.0, 2 / 3, 0.5]])
    np.testing.assert_allclose(matrix.M, expected)
    np.testing.assert_allclose(matrix.M + matrix.M.T, 1.0)
    assert matrix.battles_matrix().sum() == 2 * len(round_robin_records())


def test_self_play_duplicates_unknown_policies_and_bad_results_are_rejected() -> None:
    with pytest.raises(ValueError, match="against itself"):
        InteractionMatrix.from_records(NAMES, [battle(0, "MaxBP", "MaxBP", "win")])
    doubled = round_robin_records() + [battle(7, "MaxBP", "Heuristic", "loss")]  # both sides logged battle 7
    with pytest.raises(ValueError, match="battle index 7 .* appears twice"):
        InteractionMatrix.from_records(NAMES, doubled)
    with pytest.raises(ValueError, match="'Gen1BossAI', not in the population"):
        InteractionMatrix.from_records(NAMES, [battle(0, "Random", "Gen1BossAI", "win")])
    with pytest.raises(ValueError, match="result_a 'draw'"):
        InteractionMatrix.from_records(NAMES, [battle(0, "Random", "MaxBP", "draw")])


def test_unplayed_pairs_are_an_error_never_a_silent_half() -> None:
    records = [r for r in round_robin_records() if {r["policy_a"], r["policy_b"]} != {"MaxBP", "Heuristic"}]
    with pytest.raises(ValueError, match=r"never played: \(MaxBP, Heuristic\)"):
        InteractionMatrix.from_records(NAMES, records)


def test_adding_one_policy_plays_exactly_n_new_matchups_and_keeps_old_cells() -> None:
    previous = InteractionMatrix.from_records(NAMES, round_robin_records())
    grown = NAMES + ["BR_0"]
    assert missing_pairs(grown, None) == [(a, b) for i, a in enumerate(grown) for b in grown[i + 1:]]
    needed = missing_pairs(grown, previous)
    assert needed == [("Random", "BR_0"), ("MaxBP", "BR_0"), ("Heuristic", "BR_0")]
    new_records = [battle(100 + k, b, a, "win") for k, (a, b) in enumerate(needed)]  # BR_0 wins all
    matrix = InteractionMatrix.from_records(grown, new_records, previous=previous)
    np.testing.assert_allclose(matrix.M[:3, :3], previous.M)
    np.testing.assert_allclose(matrix.M[3, :3], 1.0)
    with pytest.raises(ValueError, match=r"pair \(Random, MaxBP\) is both in the previous matrix"):
        InteractionMatrix.from_records(grown, new_records + [battle(200, "MaxBP", "Random", "win")],
                                       previous=previous)


def test_previous_matrix_is_reoriented_to_a_new_policy_order() -> None:
    previous = InteractionMatrix.from_records(NAMES, round_robin_records())
    reordered = ["Heuristic", "Random", "MaxBP"]
    matrix = InteractionMatrix.from_records(reordered, [], previous=previous)
    assert set(matrix.pair_counts) == {("Heuristic", "Random"), ("Heuristic", "MaxBP"), ("Random", "MaxBP")}
    for a in NAMES:
        for b in NAMES:
            if a != b:
                assert matrix.counts(a, b) == previous.counts(a, b)


def test_save_writes_the_documented_json_and_load_round_trips(tmp_path: Path) -> None:
    matrix = InteractionMatrix.from_records(NAMES, round_robin_records(), metadata={"battles_per_pair": 4})
    path = matrix.save(tmp_path / "interaction_matrix.json")
    assert [p.name for p in tmp_path.iterdir()] == ["interaction_matrix.json"]  # no temp file left
    document = json.loads(path.read_text())
    assert document["policy_names"] == NAMES
    assert [(p["row"], p["col"]) for p in document["pairs"]] == [
        ("Random", "MaxBP"), ("Random", "Heuristic"), ("MaxBP", "Heuristic")]
    first = document["pairs"][0]
    assert first == {"row": "Random", "col": "MaxBP", **summarize(1, 2, 1)}
    assert first["ci95"][0] < first["win_rate"] < first["ci95"][1]
    assert document["metadata"] == {"battles_per_pair": 4}
    loaded = InteractionMatrix.load(path)
    assert loaded.policy_names == NAMES
    assert loaded.pair_counts == matrix.pair_counts
    np.testing.assert_allclose(loaded.M, matrix.M)


def test_one_policy_population_has_only_the_diagonal(tmp_path: Path) -> None:
    matrix = InteractionMatrix.from_records(["Solo"], [])
    assert matrix.M.tolist() == [[0.5]]
    assert InteractionMatrix.load(matrix.save(tmp_path / "m.json")).policy_names == ["Solo"]


def saved_document(tmp_path: Path) -> dict:
    InteractionMatrix.from_records(NAMES, round_robin_records()).save(tmp_path / "good.json")
    return json.loads((tmp_path / "good.json").read_text())


def tampered(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "bad_matrix.json"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize("tamper, message", [
    (lambda d: d["matrix"][0].append(0.5), "matrix must be a square list of lists"),
    (lambda d: d.update(matrix=[row + [0.5] for row in d["matrix"]]), "matrix is 3x4, must be square"),
    (lambda d: d["matrix"][0].__setitem__(2, 1.3), r"M\[0\]\[2\] = 1.3 is outside \[0, 1\]"),
    (lambda d: d["matrix"][0].__setitem__(1, 0.9), r"M\[0\]\[1\] \+ M\[1\]\[0\] = 1.525, must be 1"),
    (lambda d: d.update(policy_names=["Random", "MaxBP", "Random"]), "must be unique; repeated: Random"),
    (lambda d: d.update(policy_names=[]), "empty population"),
    (lambda d: d.update(policy_names=NAMES[:2]), "matrix is 3x3 but there are 2 policy names"),
    (lambda d: d["pairs"].pop(), r"never played: \(MaxBP, Heuristic\)"),
    (lambda d: d["pairs"][0].update(wins=2), r"says 4 battles but wins \+ losses \+ ties = 5"),
    (lambda d: d["pairs"][0].update(wins=-1), "non-negative integer"),
    (lambda d: d["pairs"].append(dict(d["pairs"][0])), r"pair \(Random, MaxBP\) is listed twice"),
    (lambda d: d.pop("pairs"), "missing key 'pairs'"),
])
def test_load_rejects_bad_files_naming_the_file_and_the_problem(tmp_path: Path, tamper, message: str) -> None:
    document = saved_document(tmp_path)
    tamper(document)
    path = tampered(tmp_path, document)
    with pytest.raises(UsageError, match=message) as caught:
        InteractionMatrix.load(path)
    assert str(caught.value).startswith(str(path))


def test_load_rejects_a_matrix_that_disagrees_with_its_counts(tmp_path: Path) -> None:
    document = saved_document(tmp_path)
    document["matrix"][0][1], document["matrix"][1][0] = 0.6, 0.4
    with pytest.raises(UsageError, match=r"M\[0\]\[1\] = 0.6 but the counts of pair \(Random, MaxBP\) give 0.375"):
        InteractionMatrix.load(tampered(tmp_path, document))


def test_load_reports_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="nowhere.json: file not found"):
        InteractionMatrix.load(tmp_path / "nowhere.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(UsageError, match="broken.json: not valid JSON"):
        InteractionMatrix.load(broken)

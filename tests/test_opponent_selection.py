"""Whom a best response trains against (config opponent_selection): σ, or σ mixed with PFSP weights from its start
policy's row of the matrix; the training mixture is written beside the best response, and bad settings stop the
run with one line."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pokepsro.core.errors import UsageError
from pokepsro.core.files import REPO_ROOT, read_json, read_yaml
from pokepsro.metagame.matrix import InteractionMatrix, PairCounts
from pokepsro.metagame.population import Population, heuristic_entry
from pokepsro.metagame.selection import pfsp_weights, training_mixture
from pokepsro.metagame.solver import load_meta_strategy, write_meta_strategy
from pokepsro.workflow.config import validate_config
from pokepsro.workflow.training import training_mixture_stage

SIGMA = np.array([0.0, 1.0, 0.0])  # support 1, as a run's σ often is
WIN_RATES = np.array([0.3, 0.5, 0.8])  # the start against each member; 0.5 against itself


def test_pfsp_weights_are_the_loss_rate_to_the_power_normalised():
    assert np.allclose(pfsp_weights([0.2, 0.5, 0.9, 1.0], power=2), np.array([0.64, 0.25, 0.01, 0.0]) / 0.9)
    assert np.allclose(pfsp_weights([0.2, 0.5, 0.9, 1.0], power=1), np.array([0.8, 0.5, 0.1, 0.0]) / 1.4)
    assert np.array_equal(pfsp_weights([1.0, 1.0], power=2), [0.5, 0.5])  # nobody harder than another


def test_a_larger_power_draws_the_hardest_member_more():
    weights = [pfsp_weights(WIN_RATES, power)[0] for power in (0.5, 1, 2, 4)]
    assert weights == sorted(weights) and weights[0] < weights[-1]


def test_mix_zero_is_sigma_exactly_and_one_is_pfsp_alone():
    assert np.array_equal(training_mixture(SIGMA, WIN_RATES, mix=0.0, power=2), SIGMA)
    assert np.allclose(training_mixture(SIGMA, WIN_RATES, mix=1.0, power=2), pfsp_weights(WIN_RATES, 2))
    mixed = training_mixture(SIGMA, WIN_RATES, mix=0.25, power=2)
    assert np.allclose(mixed, 0.75 * SIGMA + 0.25 * pfsp_weights(WIN_RATES, 2)) and np.isclose(mixed.sum(), 1.0)


def test_members_outside_sigma_are_trained_against_only_through_pfsp():
    outside = SIGMA == 0
    assert (training_mixture(SIGMA, WIN_RATES, mix=0.0, power=2)[outside] == 0).all()
    assert (training_mixture(SIGMA, WIN_RATES, mix=0.3, power=2)[outside] > 0).all()


def stage_files(tmp_path: Path) -> dict[str, Path]:
    """A three-member stage: population, σ, and a matrix in which max_base_power (the start) has WIN_RATES."""
    names = ["random", "max_base_power", "simple_heuristics"]
    Population(tuple(heuristic_entry(name) for name in names)).save(tmp_path / "population.json")
    write_meta_strategy(tmp_path / "meta_strategy.json", names, SIGMA)
    counts = {("random", "max_base_power"): PairCounts(wins=7, losses=3),  # random's view: the start wins 0.3
              ("random", "simple_heuristics"): PairCounts(wins=1, losses=9),
              ("max_base_power", "simple_heuristics"): PairCounts(wins=8, losses=2)}
    InteractionMatrix(names, counts).save(tmp_path / "interaction_matrix.json")
    return {"population": tmp_path / "population.json", "strategy": tmp_path / "meta_strategy.json",
            "matrix": tmp_path / "interaction_matrix.json"}


def test_the_training_mixture_file_records_what_the_best_response_trains_against(tmp_path):
    files = stage_files(tmp_path)
    out = tmp_path / "iteration_1" / "training_mixture.json"
    training_mixture_stage(**files, start_name="max_base_power", selection={"kind": "pfsp", "mix": 0.3, "power": 2},
                           out=out)
    written = load_meta_strategy(out, expected_names=["random", "max_base_power", "simple_heuristics"])
    assert np.allclose(written.sigma, training_mixture(SIGMA, WIN_RATES, 0.3, 2))
    metadata = written.metadata
    assert metadata["start"] == "max_base_power" and metadata["opponent_selection"] == "pfsp"
    assert metadata["start_win_rates"] == pytest.approx(dict(zip(["random", "max_base_power", "simple_heuristics"],
                                                                 WIN_RATES)))
    assert metadata["sigma"] == SIGMA.tolist() and (metadata["pfsp_mix"], metadata["pfsp_power"]) == (0.3, 2)
    assert np.allclose(metadata["pfsp_weights"], pfsp_weights(WIN_RATES, 2))
    assert [path.name for path in out.parent.iterdir()] == ["training_mixture.json"]  # no temp file left

    training_mixture_stage(**files, start_name="max_base_power", selection={"kind": "sigma"}, out=out)
    assert np.array_equal(load_meta_strategy(out).sigma, SIGMA)
    assert "pfsp_weights" not in read_json(out)["metadata"]


def test_a_start_outside_the_matrix_is_refused(tmp_path):
    with pytest.raises(UsageError, match="start policy 'gym_leader' has no row"):
        training_mixture_stage(**stage_files(tmp_path), start_name="gym_leader", selection={"kind": "sigma"},
                               out=tmp_path / "training_mixture.json")
    assert not (tmp_path / "training_mixture.json").exists()


@pytest.mark.parametrize("change, key", [
    ({"opponent_selection": "league"}, "opponent_selection"),
    ({"opponent_selection": "pfsp", "pfsp_mix": 1.5}, "pfsp_mix"),
    ({"opponent_selection": "pfsp", "pfsp_mix": -0.1}, "pfsp_mix"),
    ({"opponent_selection": "pfsp", "pfsp_power": 0}, "pfsp_power"),
    ({"opponent_selection": "pfsp", "pfsp_power": "high"}, "pfsp_power"),
    ({"br_init": "begin"}, "br_init"),
])
def test_bad_settings_name_the_key(change, key):
    config = copy.deepcopy(read_yaml(REPO_ROOT / "config/config.yaml"))
    config.update(change)
    with pytest.raises(UsageError, match=f"config key {key}: "):
        validate_config(config)


def test_pfsp_needs_its_parameters():
    config = copy.deepcopy(read_yaml(REPO_ROOT / "config/config.yaml"))
    del config["pfsp_power"]
    validate_config(copy.deepcopy(config))  # unused with opponent_selection: sigma
    config["opponent_selection"] = "pfsp"
    with pytest.raises(UsageError, match="'pfsp_power' is a required property"):
        validate_config(config)


def test_snakemake_stops_on_a_bad_pfsp_setting_with_one_line_and_exit_2(tmp_path):
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    result = subprocess.run([snakemake, "--snakefile", str(REPO_ROOT / "Snakefile"), "--directory", str(tmp_path),
                             "-n", "--config", "opponent_selection=pfsp", "pfsp_power=0"],
                            capture_output=True, text=True, timeout=300, cwd=REPO_ROOT, check=False)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [("error: config key pfsp_power: 0 is less than or equal to the minimum of 0; "
                       "see config/schema.yaml")]

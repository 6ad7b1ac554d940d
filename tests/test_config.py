"""The workflow config is validated against config/schema.yaml; an error names the bad key."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest

from pokepsro.core.errors import UsageError
from pokepsro.core.files import REPO_ROOT, read_yaml
from pokepsro.workflow.config import validate_config

SHIPPED = ["config/config.yaml", "config/seed_scale.yaml", "tests/data/tiny.yaml"]


@pytest.mark.parametrize("path", SHIPPED)
def test_shipped_configs_are_valid(path):
    validate_config(read_yaml(REPO_ROOT / path))


@pytest.mark.parametrize("change, key", [
    ({"num_iterations": 0}, "num_iterations"),
    ({"oracle": {"kind": "ppo", "ppo": {"battles": 0, "workers": 1, "hyper": "ppo"}}}, r"oracle\.ppo\.battles"),
    ({"oracle": {"kind": "dqn", "ppo": {"battles": 8, "workers": 1, "hyper": "ppo"}}},
     r"oracle\.kind: unknown oracle 'dqn'; choose one of ppo, offline"),
    ({"oracle": {"kind": "offline", "ppo": {"battles": 8, "workers": 1, "hyper": "ppo"}}},
     r"oracle\.offline is missing"),
    ({"oracle": {"kind": "ppo", "ppo": {"battles": 8, "workers": 1, "hyper": "nosuchppo"}}},
     r"oracle\.ppo\.hyper: unknown ppo config 'nosuchppo'"),
    ({"oracle": {"kind": "ppo", "ppo": {"battles": 8, "workers": 1, "hyper": "ppo", "hyper_overrides": {"lag": 2}}}},
     r"oracle\.ppo\.hyper_overrides: ppo config has unknown keys \['lag'\]"),
    ({"oracle": {"kind": "ppo", "ppo": {"battles": 8, "workers": 1, "hyper": "ppo",
                                        "hyper_overrides": {"defer_after_turns": -1}}}},
     r"oracle\.ppo\.hyper_overrides: ppo config defer_after_turns must be int >= 0"),
    ({"battles_per_matchup": "many"}, "battles_per_matchup"),
    ({"backend": "websocket"}, "backend"),
    ({"batles_per_matchup": 10}, "batles_per_matchup"),
])
def test_bad_values_name_the_key(change, key):
    config = copy.deepcopy(read_yaml(REPO_ROOT / "config/config.yaml"))
    config.update(change)
    with pytest.raises(UsageError, match=key):
        validate_config(config)


def test_nested_key_is_named_by_its_path():
    config = copy.deepcopy(read_yaml(REPO_ROOT / "config/config.yaml"))
    config["phase0"]["baselines"] = ["random", "deep_blue"]
    with pytest.raises(UsageError, match=r"phase0\.baselines\.1"):
        validate_config(config)
    config = copy.deepcopy(read_yaml(REPO_ROOT / "config/config.yaml"))
    config["oracle"]["offline"]["replay_weight"] = 1.5
    with pytest.raises(UsageError, match=r"oracle\.offline\.replay_weight"):
        validate_config(config)


@pytest.mark.parametrize("key, value, place", [
    ("oracle_battles", 4096, "oracle.ppo.battles"), ("oracle_workers", "auto", "oracle.ppo.workers"),
    ("oracle_ppo_config", "ppo", "oracle.ppo.hyper"), ("oracle_epochs", 3, "oracle.offline.epochs"),
    ("oracle_batch_size", 256, "oracle.offline.batch_size"),
    ("oracle_train_config", "psro_oracle", "oracle.offline.train_config"),
    ("custom_replay_sample_weight", 0.5, "oracle.offline.replay_weight"),
    ("collection_battles", 200, "oracle.offline.collection_battles"),
    ("oracle", "ppo", "oracle.kind: ppo"),
])
def test_a_key_of_the_flat_oracle_layout_is_refused_naming_its_place_now(key, value, place):
    config = {**read_yaml(REPO_ROOT / "config/config.yaml"), key: value}
    with pytest.raises(UsageError) as refused:
        validate_config(config)
    assert str(refused.value).startswith(f"config key {key}") and str(refused.value).endswith(f"moved: use {place}")


def dry_run_with(tmp_path: Path, override: str) -> subprocess.CompletedProcess:
    """`snakemake -n` of the default workflow in `tmp_path` with one `--config` override."""
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    return subprocess.run([snakemake, "--snakefile", str(REPO_ROOT / "Snakefile"), "--directory", str(tmp_path),
                           "-n", "--config", override],
                          capture_output=True, text=True, timeout=300, cwd=REPO_ROOT, check=False)


def test_snakemake_refuses_a_flat_oracle_key_in_one_line_with_exit_2(tmp_path):
    result = dry_run_with(tmp_path, "oracle_battles=10")
    assert result.returncode == 2
    assert [line for line in result.stderr.splitlines() if "error" in line] == [
        "error: config key oracle_battles moved: use oracle.ppo.battles"]


def test_the_oracles_are_checked_once_into_plain_params_that_retrain_exactly_on_a_changed_value():
    """The rules pass `asdict` of the checked options: battles and hyper-parameter values are in it, the rollout
    workers (how fast, read by the job) are not; the bootstrap refinement gets the PPO options with its budget."""
    from dataclasses import asdict

    from pokepsro.learning.oracle.ppo import load_ppo_config

    config = read_yaml(REPO_ROOT / "config/config.yaml")
    oracles = validate_config(copy.deepcopy(config))
    assert asdict(oracles.options) == {"battles": 4096, "hyper": load_ppo_config("ppo")}
    assert asdict(oracles.refine) == {"battles": config["phase0"]["bootstrap_refine_battles"],
                                      "hyper": load_ppo_config("ppo")}
    config["oracle"]["ppo"]["workers"] = 7
    assert validate_config(copy.deepcopy(config)) == oracles
    config["oracle"]["ppo"]["hyper_overrides"] = {"defer_after_turns": 48}
    overridden = validate_config(copy.deepcopy(config))
    assert asdict(overridden.options) == {"battles": 4096, "hyper": {**load_ppo_config("ppo"), "defer_after_turns": 48}}
    assert overridden.refine.hyper["defer_after_turns"] == 48
    del config["oracle"]["ppo"]["hyper_overrides"]
    config["oracle"]["kind"] = "offline"
    offline = validate_config(config).options
    assert asdict(offline)["train_config"]["epochs"] == config["oracle"]["offline"]["epochs"]
    assert asdict(offline)["replay_weight"] == config["oracle"]["offline"]["replay_weight"]


def test_every_schema_key_is_documented():
    schema = read_yaml(REPO_ROOT / "config/schema.yaml")
    properties = dict(schema["properties"])
    properties.update({f"phase0.{k}": v for k, v in schema["properties"]["phase0"]["properties"].items()})
    oracle = schema["properties"]["oracle"]["properties"]
    properties.update({f"oracle.{k}": v for k, v in oracle.items()})
    for kind in ("ppo", "offline"):
        properties.update({f"oracle.{kind}.{k}": v for k, v in oracle[kind]["properties"].items()})
    undocumented = [key for key, spec in properties.items() if not spec.get("description")]
    assert not undocumented


def test_seed_scale_carries_the_guides_numbers():
    config = read_yaml(REPO_ROOT / "config/seed_scale.yaml")
    offline = config["oracle"]["offline"]
    assert (config["battles_per_matchup"], offline["collection_battles"], offline["epochs"], offline["batch_size"],
            config["num_iterations"], config["parallel_matchups"]) == (200, 500, 3, 16, 5, 4)
    assert offline["replay_weight"] == 0.5


@pytest.mark.parametrize("key", ["team_set", "eval_team_set"])
def test_a_team_set_that_cannot_work_is_refused_naming_the_key(key, tmp_path):
    config = copy.deepcopy(read_yaml(REPO_ROOT / "config/config.yaml"))
    config[key] = str(tmp_path / "no_such_folder")
    with pytest.raises(UsageError, match=f"config key {key}: team set '.*no_such_folder' is neither"):
        validate_config(config)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.md").write_text("no teams here\n")
    config[key] = str(empty)
    with pytest.raises(UsageError, match=f"config key {key}: team folder .*empty has no \\*.txt team files"):
        validate_config(config)


def test_snakemake_refuses_a_missing_team_set_before_any_job(tmp_path):
    result = dry_run_with(tmp_path, "eval_team_set=no_such_folder")
    assert result.returncode == 2
    assert "config key eval_team_set: team set 'no_such_folder'" in result.stderr
    assert not (tmp_path / "results").exists()


def test_evaluations_default_to_200_battles_and_the_test_config_stays_small():
    assert read_yaml(REPO_ROOT / "config/config.yaml")["eval_battles"] >= 200
    assert read_yaml(REPO_ROOT / "tests/data/tiny.yaml")["eval_battles"] <= 20

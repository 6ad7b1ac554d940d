"""Workflow configuration: validated against config/schema.yaml (JSON Schema draft 2020-12)."""

from __future__ import annotations

from pathlib import Path

from jsonschema import Draft202012Validator

from pokepsro.core.errors import UsageError
from pokepsro.core.files import REPO_ROOT, read_yaml
from pokepsro.gen1.teams import check_team_set
from pokepsro.learning.oracle.ppo import load_ppo_config

SCHEMA_PATH = REPO_ROOT / "config" / "schema.yaml"


def validate_config(config: dict, schema_path: str | Path = SCHEMA_PATH) -> dict:
    """Raise UsageError naming the first bad key (by its path) and what the schema expects."""
    validator = Draft202012Validator(read_yaml(schema_path))
    errors = sorted(validator.iter_errors(config), key=lambda e: (list(e.absolute_path), e.message))
    if errors:
        error = errors[0]
        key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise UsageError(f"config key {key}: {error.message}{more}; see config/schema.yaml")
    check_team_sets(config)
    check_oracle_config(config)
    return config


TEAM_SET_KEYS = ("team_set", "eval_team_set")


def check_team_sets(config: dict) -> None:
    """Each team set must exist and hold a team file now, not fail inside the first battle job."""
    for key in TEAM_SET_KEYS:
        try:
            check_team_set(config[key], config["battle_format"])
        except UsageError as error:
            raise UsageError(f"config key {key}: {error}") from None


def check_oracle_config(config: dict) -> None:
    """PPO hyper-parameters out of range are refused here, before any job starts."""
    try:
        load_ppo_config(config["oracle_ppo_config"])
    except UsageError as error:
        raise UsageError(f"config key oracle_ppo_config: {error}") from None

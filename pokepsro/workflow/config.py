"""Workflow configuration: validated against config/schema.yaml (JSON Schema draft 2020-12)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from jsonschema import Draft202012Validator

from pokepsro.core.errors import SetupError, UsageError
from pokepsro.core.files import REPO_ROOT, read_yaml
from pokepsro.core.run_logger import LoggerSettings, check_logger
from pokepsro.gen1.teams import check_team_set
from pokepsro.learning.oracle import oracle_module
from pokepsro.learning.oracle.base import checked_config_value
from pokepsro.metagame.population import DEFAULT_ACTING

SCHEMA_PATH = REPO_ROOT / "config" / "schema.yaml"


MOVED_KEYS = {
    "oracle_battles": "oracle.ppo.battles", "oracle_workers": "oracle.ppo.workers",
    "oracle_ppo_config": "oracle.ppo.hyper", "collection_battles": "oracle.offline.collection_battles",
    "oracle_epochs": "oracle.offline.epochs", "oracle_batch_size": "oracle.offline.batch_size",
    "oracle_train_config": "oracle.offline.train_config",
    "custom_replay_sample_weight": "oracle.offline.replay_weight",
}  # flat keys of configs before the oracle owned its block, by their place now
REFINING_ORACLE = "ppo"  # refines the imitation bootstrap (phase0.bootstrap_refine_battles), whatever oracle.kind


@dataclass(frozen=True)
class OracleSettings:
    """The oracles of a workflow config, checked once: `kind` trains every best response with `options` (its
    module's Options); `refine` are the PPO oracle's options with the bootstrap refinement's budget."""

    kind: str
    options: Any
    refine: Any


def validate_config(config: dict, schema_path: str | Path = SCHEMA_PATH) -> OracleSettings:
    """Raise UsageError naming the first bad key (by its path) and what the schema expects, or, for a key of an
    older layout, its place now; return the oracles' checked options, which the rules pass to the jobs.

    A config without `acting` gets `DEFAULT_ACTING`, the acting the CLI plays checkpoints with too.
    """
    refuse_moved_keys(config)
    config.setdefault("acting", dict(DEFAULT_ACTING))
    validator = Draft202012Validator(read_yaml(schema_path))
    errors = sorted(validator.iter_errors(config), key=lambda e: (list(e.absolute_path), e.message))
    if errors:
        error = errors[0]
        key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise UsageError(f"config key {key}: {error.message}{more}; see config/schema.yaml")
    check_team_sets(config)
    check_logger_config(config)
    return check_oracles(config)


def refuse_moved_keys(config: dict) -> None:
    """A key of the flat oracle layout (`oracle: ppo`, `oracle_battles`, ...) is named with its place now."""
    if isinstance(config.get("oracle"), str):
        raise UsageError(f"config key oracle (an oracle's name) moved: use oracle.kind: {config['oracle']}")
    for key, place in MOVED_KEYS.items():
        if key in config:
            raise UsageError(f"config key {key} moved: use {place}")


TEAM_SET_KEYS = ("team_set", "eval_team_set")


def check_team_sets(config: dict) -> None:
    """Each team set must exist and hold a team file now, not fail inside the first battle job."""
    for key in TEAM_SET_KEYS:
        try:
            check_team_set(config[key], config["battle_format"])
        except UsageError as error:
            raise UsageError(f"config key {key}: {error}") from None


def check_oracles(config: dict) -> OracleSettings:
    """The configured oracle's options and the refining PPO oracle's, each checked once by its module's `check`,
    before any job starts."""
    kind = config["oracle"]["kind"]
    checked = {}
    for name in dict.fromkeys((REFINING_ORACLE, kind)):
        oracle = checked_config_value("oracle.kind", oracle_module, name)
        if name not in config["oracle"]:
            raise UsageError(f"config key oracle.{name} is missing: the {name} oracle's options "
                             "(see config/config.yaml)")
        checked[name] = oracle.check(config)
    refine = replace(checked[REFINING_ORACLE], battles=config["phase0"]["bootstrap_refine_battles"])
    return OracleSettings(kind=kind, options=checked[kind], refine=refine)


def check_logger_config(config: dict) -> None:
    """`logger: wandb` without the wandb package stops the run here, with the line that installs it."""
    try:
        check_logger(LoggerSettings(kind=config.get("logger", "tensorboard")))
    except SetupError as error:
        raise UsageError(f"config key logger: {error}") from None


AUTO_WORKERS = "auto"
# `auto` for the PPO oracle's rollout workers: at least 2. One worker waits on its simulator for much of each turn;
# on 2 cores two played 24 battles/s against one's 16 (docs/measurements/2026-12-05_async_rollouts.md).
MIN_ROLLOUT_WORKERS = 2


def cpu_cores() -> int:
    """CPU cores this process may run on (its affinity mask, which taskset and SLURM set), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity masks on this platform
        return os.cpu_count() or 1


def resolve_workers(value: int | str, backend: str = "direct", stream: TextIO | None = None,
                    key: str = "workers", at_least: int = 1) -> int:
    """`auto` is half the CPU cores, at least `at_least`: each battle worker keeps two busy, its Python process
    and its simulator. The server backend plays in one process (1). What `auto` chose is printed to `stream`
    (stdout; the Snakefile's goes to stderr, which keeps `snakemake --dag` output clean)."""
    if value != AUTO_WORKERS:
        return int(value)
    cores = cpu_cores()
    workers = max(at_least, cores // 2) if backend == "direct" else 1
    floor = f", at least {at_least}" if at_least > 1 else ""
    reason = f"half of {cores} CPU cores{floor}" if backend == "direct" else "the server backend plays in one process"
    print(f"{key}: auto -> {workers} ({reason})", file=stream or sys.stdout)
    return workers

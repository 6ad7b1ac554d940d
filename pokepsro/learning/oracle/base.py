"""The oracle interface: one task in, one trained checkpoint (and its metrics) out."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pokepsro.battles.backend import PlayerFactory
from pokepsro.core.errors import UsageError
from pokepsro.core.run_logger import LoggerSettings


@dataclass(frozen=True)
class BestResponseTask:
    """What every oracle is given. `work_dir` keeps its state between a killed run and its rerun.

    The opponents are picklable player factories by name (a population's members, or any Players), drawn per battle
    with the weights `sigma`: the training mixture, which the workflow makes σ itself, or σ mixed with PFSP weights
    (config opponent_selection); the oracle only draws from it, and "against σ" in its metrics means against it.
    """

    learner_name: str
    init_checkpoint: Path
    opponents: Mapping[str, PlayerFactory]
    sigma: np.ndarray
    work_dir: Path
    seed: int
    team_set: str
    battle: dict          # battle_format, max_turns, battle_timeout_s
    runtime: dict         # concurrency, backend, workers, parallel_matchups
    options: Any          # the oracle's own settings, its module's `Options` (budget, hyper-parameters)
    inputs: Mapping[str, list[Path]] = field(default_factory=dict)  # the datasets its module's INPUTS names
    progress: bool = True
    logger: LoggerSettings = field(default_factory=LoggerSettings)  # where the curves go: tensorboard, wandb, none

    def __post_init__(self) -> None:
        sigma = np.asarray(self.sigma, dtype=float)
        if sigma.shape != (len(self.opponents),):
            raise UsageError(f"σ has {sigma.size} entries but the population has {len(self.opponents)} members "
                             f"({', '.join(self.opponents)}); solve the meta-game of this population")
        if (sigma < 0).any() or not np.isclose(sigma.sum(), 1.0):
            raise UsageError(f"σ must be a probability vector, got {sigma.tolist()}")
        if not Path(self.init_checkpoint).is_file():
            raise UsageError(f"checkpoint not found: {self.init_checkpoint}")


def checked_config_value(key: str, load: Callable[[Any], Any], value: Any) -> Any:
    """`load(value)`, its UsageError naming the workflow config key `key` (an oracle's `check`)."""
    try:
        return load(value)
    except UsageError as error:
        raise UsageError(f"config key {key}: {error}") from None


@dataclass(frozen=True)
class OracleResult:
    checkpoint: Path              # the trained policy, inside task.work_dir
    metrics: list[dict[str, Any]]  # one row per round (ppo) or epoch (offline)
    greedy_eval: list[dict[str, Any]] = field(default_factory=list)  # ppo: the learner greedy against σ, by round

"""The guide's offline oracle: fine-tune the initial policy on battles already collected against σ (rule collect,
`oracle.offline.collection_battles` of them), mixed with replay data (the phase-0 tournaments)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pokepsro.learning.oracle.base import BestResponseTask, OracleResult, checked_config_value

INPUTS = ("collected", "replay")  # the battles collected against σ, and the replay data


@dataclass(frozen=True)
class Options:
    """What changes an offline best response: the architecture and training hyper-parameters' values (epochs and
    batch size included), validated, and the replay data's share of each batch."""

    model_config: dict[str, Any]
    train_config: dict[str, Any]
    replay_weight: float  # the guide's custom_replay_sample_weight


def check(config: dict) -> Options:
    """The workflow config's `oracle.offline` block (shape checked by config/schema.yaml) and the model every best
    response fine-tunes (`oracle_model_config`), their files loaded."""
    from pokepsro.learning.model import load_model_config
    from pokepsro.learning.trainer import load_train_config

    settings = config["oracle"]["offline"]
    train_config = checked_config_value("oracle.offline.train_config", load_train_config, settings["train_config"])
    return Options(model_config=checked_config_value("oracle_model_config", load_model_config,
                                                     config["oracle_model_config"]),
                   train_config={**train_config, "epochs": settings["epochs"], "batch_size": settings["batch_size"]},
                   replay_weight=settings["replay_weight"])


def train(task: BestResponseTask) -> OracleResult:
    from pokepsro.learning.trainer import train as train_offline

    options = task.options
    last = train_offline(out_dir=task.work_dir, collected_dirs=task.inputs["collected"],
                         replay_dirs=task.inputs["replay"], replay_weight=options.replay_weight,
                         model_config=options.model_config, train_config={**options.train_config, "seed": task.seed},
                         init_from_checkpoint=task.init_checkpoint, progress=task.progress, logger=task.logger,
                         job=task.learner_name)
    with open(Path(task.work_dir) / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return OracleResult(checkpoint=Path(last), metrics=rows)

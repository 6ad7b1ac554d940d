"""The guide's offline oracle: fine-tune the initial policy on battles already collected against σ, mixed with
replay data (`options`: collected, replay, replay_weight, model_config, train_config, epochs, batch_size)."""

from __future__ import annotations

import csv
from pathlib import Path

from pokepsro.core.errors import UsageError
from pokepsro.learning.oracle.base import BestResponseTask, OracleResult

OPTIONS = ("collected", "replay", "replay_weight", "model_config", "train_config", "epochs", "batch_size")


def check_options(options: dict) -> None:
    missing = [key for key in OPTIONS if key not in options]
    if missing:
        raise UsageError(f"the offline oracle needs the options {', '.join(missing)}")


def train(task: BestResponseTask) -> OracleResult:
    from pokepsro.learning.trainer import load_train_config
    from pokepsro.learning.trainer import train as train_offline

    options = task.options
    config = load_train_config(options["train_config"])
    config.update({"epochs": options["epochs"], "batch_size": options["batch_size"], "seed": task.seed})
    last = train_offline(out_dir=task.work_dir, collected_dirs=[Path(p) for p in options["collected"]],
                 replay_dirs=[Path(p) for p in options["replay"]], replay_weight=options["replay_weight"],
                 model_config=options["model_config"], train_config=config, init_from_checkpoint=task.init_checkpoint,
                 progress=task.progress, logger=task.logger, job=task.learner_name)
    with open(Path(task.work_dir) / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return OracleResult(checkpoint=Path(last), metrics=rows)

"""Where training curves and meta-game numbers go: TensorBoard (default), Weights & Biases, or nowhere.

The guide's `--log` sends training to W&B to "watch for decreasing losses, monitor win rates vs validation
opponents". Each job that logs opens one run through `open_run_logger`: with `wandb`, every job of one workflow
run joins one run group (`run_group`), so the oracle's rounds and each stage's σ and exploitability sit side
by side; with `tensorboard`, training jobs write event files into their own folder, as they always did. wandb is
an optional extra (`pip install -e '.[wandb]'`), imported only when asked for.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pokepsro.core.errors import SetupError, UsageError

LOGGERS = ("tensorboard", "wandb", "none")
DEFAULT_LOGGER = "tensorboard"
DEFAULT_PROJECT = "pokepsro"
WANDB_INSTALL_HINT = "install it with `.venv/bin/pip install -e '.[wandb]'` (or `pip install wandb`)"


@dataclass(frozen=True)
class LoggerSettings:
    """Which logger, and for wandb the project and the group that every run of one workflow run joins."""

    kind: str = DEFAULT_LOGGER
    group: str | None = None
    project: str = DEFAULT_PROJECT

    def __post_init__(self) -> None:
        if self.kind not in LOGGERS:
            raise UsageError(f"unknown logger {self.kind!r}; choose one of {', '.join(LOGGERS)}")


def default_run_group(results_dir: str | os.PathLike, seed: int) -> str:
    """Stable for one workflow run: the same results folder and seed give the same group, so a run resumed after
    a crash, or grown by more iterations, keeps adding to it; another folder or seed starts a new group."""
    folder = Path(results_dir).resolve()
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:8]
    return f"{folder.parent.name or 'run'}-seed{seed}-{digest}"


def workflow_logger(config: Mapping[str, Any], results_dir: str | os.PathLike = "results") -> LoggerSettings:
    """The workflow's `logger` and `run_group` settings (read by the jobs, not rule params: no rerun on change)."""
    return LoggerSettings(kind=config.get("logger", DEFAULT_LOGGER),
                          group=config.get("run_group") or default_run_group(results_dir, config["seed"]),
                          project=os.environ.get("WANDB_PROJECT", DEFAULT_PROJECT))


def import_wandb():
    """The wandb module, or one line saying how to install it."""
    try:
        import wandb
    except ImportError:
        raise SetupError(f"logger wandb needs the wandb package, which is not installed: {WANDB_INSTALL_HINT}") from None
    return wandb


def check_logger(settings: LoggerSettings) -> None:
    """Refuse a logger that cannot work here before any battle is played."""
    if settings.kind == "wandb":
        import_wandb()


class RunLogger:
    """Scalars by section (`ppo`, `train`, `epoch`, `meta`), each section with its own step axis."""

    def log(self, section: str, values: Mapping[str, Any], step: int, step_name: str = "step") -> None:
        """Log the numeric entries of `values` as `section/name` at `step` (None and text are skipped)."""

    def close(self) -> None:
        """Flush and finish the run."""

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def numeric_items(values: Mapping[str, Any]) -> dict[str, float]:
    return {name: value for name, value in values.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)}


class TensorBoardLogger(RunLogger):
    """Event files in `log_dir`; `purge_step` drops what a killed run logged at or after it (resumed jobs)."""

    def __init__(self, log_dir: Path, purge_step: int | None = None) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise SetupError("the tensorboard package is missing (needed for training logs); run make setup") from None
        self.writer = SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)

    def log(self, section: str, values: Mapping[str, Any], step: int, step_name: str = "step") -> None:
        for name, value in numeric_items(values).items():
            self.writer.add_scalar(f"{section}/{name}", value, step)

    def close(self) -> None:
        self.writer.close()


class WandbLogger(RunLogger):
    """One wandb run in the settings' group; each section is plotted against its own step (`section/step_name`)."""

    def __init__(self, settings: LoggerSettings, *, job: str, job_type: str, config: Mapping[str, Any]) -> None:
        wandb = import_wandb()
        try:
            self.run = wandb.init(project=settings.project, group=settings.group, name=job, job_type=job_type,
                                  config=dict(config), settings=wandb.Settings(console="off"))
        except Exception as error:  # noqa: BLE001 - no API key, no network...: one line, not a traceback
            raise SetupError(f"wandb could not start a run for {job} ({type(error).__name__}: {error}); run "
                             "`wandb login`, or set WANDB_MODE=offline and `wandb sync` the runs later") from None
        self.step_axes: set[str] = set()

    def log(self, section: str, values: Mapping[str, Any], step: int, step_name: str = "step") -> None:
        axis = f"{section}/{step_name}"
        if axis not in self.step_axes:
            self.run.define_metric(axis)
            self.run.define_metric(f"{section}/*", step_metric=axis)
            self.step_axes.add(axis)
        self.run.log({**{f"{section}/{name}": value for name, value in numeric_items(values).items()}, axis: step})

    def close(self) -> None:
        self.run.finish()


def open_run_logger(settings: LoggerSettings | None, *, job: str, job_type: str,
                    tensorboard_dir: Path | None = None, purge_step: int | None = None,
                    config: Mapping[str, Any] | None = None) -> RunLogger:
    """The logger of one job. TensorBoard writes only where the job names a folder (its training folder);
    jobs without one (the meta-game solve) log to wandb alone."""
    settings = settings or LoggerSettings()
    if settings.kind == "wandb":
        return WandbLogger(settings, job=job, job_type=job_type, config=config or {})
    if settings.kind == "tensorboard" and tensorboard_dir is not None:
        return TensorBoardLogger(tensorboard_dir, purge_step)
    return RunLogger()

"""Offline actor-critic training of a best response from recorded trajectory shards.

Critic: regression on TD(λ) returns, recomputed at the start of every epoch with the current
critic (λ and γ from the train config). Actor: advantage-filtered behaviour cloning as in metamon's
binary_rl — imitate a recorded action only where its advantage G^λ_t − V(s_t) is positive, so the
policy improves on the behaviour data instead of copying its mistakes; `policy_loss: bc` imitates
every action (plain behaviour cloning). Must not import poke_env: this runs on GPU machines
without the simulator.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from pokepsro.core.errors import UsageError, require_exact_keys
from pokepsro.core.files import REPO_ROOT, atomic_write_text
from pokepsro.core.numerics import kernel_report, learner_threads
from pokepsro.core.run_logger import LoggerSettings, RunLogger, check_logger, open_run_logger
from pokepsro.learning.model import (
    ActorCritic,
    build_model,
    checkpoint_path,
    load_checkpoint,
    load_model_config,
    load_yaml_config,
    pick_device,
    save_checkpoint,
    validate_model_config,
)
from pokepsro.learning.trajectories import MixedBatchSampler, Steps, TransitionDataset, check_replay_weight

TRAIN_CONFIG_DIR = REPO_ROOT / "config" / "train"
POLICY_LOSSES = ("binary", "bc")
# key -> (type, predicate on the value, what the predicate demands)
TRAIN_CONFIG_SPEC: dict[str, tuple[type, Any, str]] = {
    "lr": (float, lambda v: v > 0, "> 0"),
    "warmup_steps": (int, lambda v: v >= 0, ">= 0"),
    "weight_decay": (float, lambda v: v >= 0, ">= 0"),
    "grad_clip": (float, lambda v: v > 0, "> 0"),
    "epochs": (int, lambda v: v >= 1, ">= 1"),
    "batch_size": (int, lambda v: v >= 1, ">= 1"),
    "reward_scale": (float, lambda v: v > 0, "> 0"),
    "gamma": (float, lambda v: 0 <= v <= 1, "in [0, 1]"),
    "lambda": (float, lambda v: 0 <= v <= 1, "in [0, 1]"),
    "policy_loss": (str, lambda v: v in POLICY_LOSSES, f"one of {', '.join(POLICY_LOSSES)}"),
    "value_loss_weight": (float, lambda v: v >= 0, ">= 0"),
    "seed": (int, lambda v: True, "an integer"),
    "log_every_steps": (int, lambda v: v >= 1, ">= 1"),
}
METRIC_NAMES = ("policy_loss", "value_loss", "positive_advantage_fraction", "action_accuracy",
                "grad_norm")
VALUE_CHUNK = 16384  # steps per critic forward pass when recomputing targets


def validate_spec(config: Mapping[str, Any], spec: Mapping[str, tuple[type, Any, str]], what: str) -> dict:
    """Exactly the keys of `spec` (key -> (type, predicate, demand)) with sane values; ints are accepted for floats.

    YAML 1.1 reads `lr: 3e-5` (no dot) as a string; such a number is accepted for a float key.
    """
    config = dict(config)
    require_exact_keys(config, spec, what)
    for key, (kind, is_valid, demand) in spec.items():
        value = config[key]
        if kind is float and isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        accepted = (int, float) if kind is float else (kind,)
        if isinstance(value, bool) or not isinstance(value, accepted) or not is_valid(value):
            raise UsageError(f"{what} config {key} must be {kind.__name__} {demand}, got {value!r}")
        config[key] = kind(value)
    return config


def validate_train_config(train_config: Mapping[str, Any]) -> dict:
    return validate_spec(train_config, TRAIN_CONFIG_SPEC, "train")


def load_train_config(name_or_path: str | os.PathLike) -> dict:
    """`bootstrap`/`psro_oracle` (config/train) or a YAML path, validated."""
    return validate_train_config(load_yaml_config(name_or_path, TRAIN_CONFIG_DIR, "train"))


def _resolve(config: str | os.PathLike | Mapping[str, Any], load, validate) -> dict:
    return validate(config) if isinstance(config, Mapping) else load(config)


@dataclass
class Batch:
    obs: torch.Tensor
    mask: torch.Tensor
    action: torch.Tensor
    target: torch.Tensor  # TD(λ) return in scaled reward units


def autocast_context(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (no loss scaling needed for bf16); full precision elsewhere."""
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_step(model: ActorCritic, optimizer: torch.optim.Optimizer,
               scheduler: torch.optim.lr_scheduler.LRScheduler, batch: Batch, *, policy_loss: str,
               value_loss_weight: float, grad_clip: float) -> torch.Tensor:
    """One gradient step; returns the METRIC_NAMES values as a detached tensor (no host sync)."""
    with autocast_context(batch.obs.device):
        logits, value = model(batch.obs, batch.mask)
    log_probs = torch.log_softmax(logits, dim=-1)
    chosen_log_prob = log_probs.gather(-1, batch.action.unsqueeze(-1)).squeeze(-1)
    advantage = batch.target - value.detach()
    if policy_loss == "binary":
        imitate = (advantage > 0).float()
    else:
        imitate = torch.ones_like(advantage)
    actor_loss = -(imitate * chosen_log_prob).mean()
    critic_loss = nn.functional.mse_loss(value, batch.target)
    optimizer.zero_grad(set_to_none=True)
    (actor_loss + value_loss_weight * critic_loss).backward()
    grad_norm = nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    scheduler.step()
    accuracy = (logits.argmax(dim=-1) == batch.action).float().mean()
    return torch.stack([actor_loss.detach(), critic_loss.detach(), (advantage > 0).float().mean(),
                        accuracy, grad_norm.detach().float()])


def make_optimizer(model: nn.Module, train_config: Mapping[str, Any],
                   ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """AdamW with linear warm-up to `lr`, then constant; the fused kernel on CUDA (fewer launches per step)."""
    on_cuda = next(model.parameters()).is_cuda
    optimizer = torch.optim.AdamW(model.parameters(), lr=train_config["lr"],
                                  weight_decay=train_config["weight_decay"], fused=on_cuda)
    warmup = train_config["warmup_steps"]
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) if warmup else 1.0)
    return optimizer, scheduler


@torch.no_grad()
def _return_targets(model: ActorCritic, data: Steps[torch.Tensor], reward_scale: float, gamma: float,
                    lam: float) -> torch.Tensor:
    """TD(λ) targets of the potential-shaped reward, bootstrapped with the current critic."""
    values = []
    with autocast_context(data.obs.device):
        for start in range(0, len(data), VALUE_CHUNK):
            chunk = slice(start, start + VALUE_CHUNK)
            values.append(model(data.obs[chunk], data.mask[chunk])[1].float())
    return data.lambda_returns(torch.cat(values), reward_scale, gamma, lam)


def _load_datasets(collected_dirs: Iterable[str | os.PathLike],
                   replay_dirs: Iterable[str | os.PathLike],
                   replay_weight: float, policies: Sequence[str] | None = None,
                   ) -> tuple[TransitionDataset, int, int]:
    """Only sources with a positive sampling weight are read (collected data only of `policies`, when given);
    returns (data, n_collected, n_replay)."""
    collected = TransitionDataset.from_dirs(collected_dirs, policies) if replay_weight < 1 else None
    replay = None
    if replay_weight > 0:
        replay_dirs = list(replay_dirs)
        if not replay_dirs:
            raise UsageError(f"replay weight {replay_weight} needs replay directories; pass some or "
                             "set the replay weight to 0")
        replay = TransitionDataset.from_dirs(replay_dirs)
    if collected is not None and replay is not None:
        return TransitionDataset.concat(collected, replay), len(collected), len(replay)
    if collected is not None:
        return collected, len(collected), 0
    return replay, 0, len(replay)


def _resolve_device(device: str | torch.device | None) -> torch.device:
    """The given device (checked to exist) or the best available one."""
    if device is None:
        return pick_device()
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {device} was requested but CUDA is not available here; "
                         "leave the device unset to pick one automatically")
    return resolved


def write_metrics_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """One row per epoch or round, written atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def _train_epoch(model: ActorCritic, optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LRScheduler, batches: tqdm, data: Steps[torch.Tensor],
                 targets: torch.Tensor, train_cfg: Mapping[str, Any], run_logger: RunLogger,
                 step: int) -> tuple[dict[str, float], int]:
    """One pass over `batches`; returns the epoch's mean metrics and the global step count."""
    totals = torch.zeros(len(METRIC_NAMES), device=targets.device)
    for indices in batches:
        index = torch.from_numpy(indices).to(targets.device)
        batch = Batch(obs=data.obs[index], mask=data.mask[index], action=data.action[index],
                      target=targets[index])
        metrics = train_step(model, optimizer, scheduler, batch,
                             policy_loss=train_cfg["policy_loss"],
                             value_loss_weight=train_cfg["value_loss_weight"],
                             grad_clip=train_cfg["grad_clip"])
        totals += metrics
        step += 1
        if step % train_cfg["log_every_steps"] == 0:  # host sync only at log points
            values = dict(zip(METRIC_NAMES, metrics.tolist()))
            run_logger.log("train", {**values, "lr": scheduler.get_last_lr()[0]}, step)
            batches.set_postfix(policy=f"{values['policy_loss']:.3f}",
                                value=f"{values['value_loss']:.3f}")
    return dict(zip(METRIC_NAMES, (totals / len(batches)).tolist())), step


def train(*, out_dir: str | os.PathLike, collected_dirs: Iterable[str | os.PathLike],
          replay_dirs: Iterable[str | os.PathLike] = (), replay_weight: float = 0.5,
          model_config: str | os.PathLike | Mapping[str, Any],
          train_config: str | os.PathLike | Mapping[str, Any],
          init_from_checkpoint: str | os.PathLike | None = None, policies: Sequence[str] | None = None,
          device: str | torch.device | None = None, progress: bool = True,
          logger: LoggerSettings | None = None, job: str = "train") -> Path:
    """Train and checkpoint every epoch to `out_dir/ckpts/epoch_N.pt`; returns the last checkpoint.

    `model_config`/`train_config` are names under config/, YAML paths or dicts. Every input is
    validated (and every shard read) before anything is written, so bad input leaves no `out_dir`.
    Also writes `out_dir/metrics.csv` (one row per epoch) and the curves to `logger` (default: TensorBoard events
    in `out_dir/tensorboard`; a wandb run named `job`).
    """
    train_cfg = _resolve(train_config, load_train_config, validate_train_config)
    model_cfg = _resolve(model_config, load_model_config, validate_model_config)
    replay_weight = check_replay_weight(replay_weight)
    dataset, collected_steps, replay_steps = _load_datasets(collected_dirs, replay_dirs,
                                                            replay_weight, policies)
    if train_cfg["batch_size"] > len(dataset):
        raise UsageError(f"batch size {train_cfg['batch_size']} is larger than the dataset "
                         f"({len(dataset)} steps); lower the batch size or collect more battles")
    sampler = MixedBatchSampler(collected_steps, replay_steps, replay_weight,
                                train_cfg["batch_size"], seed=train_cfg["seed"])
    device = _resolve_device(device)
    torch.manual_seed(train_cfg["seed"])
    if init_from_checkpoint is not None:
        model = load_checkpoint(init_from_checkpoint, map_location=device,
                                expected_feature_version=dataset.feature_version,
                                expected_model_config=model_cfg,
                                expected_obs_dim=dataset.obs_dim).model
    else:
        model = build_model(model_cfg, dataset.obs_dim).to(device)
    check_logger(logger or LoggerSettings())

    out_dir = Path(out_dir)
    provenance = {"collected_steps": collected_steps, "replay_steps": replay_steps,
                  "replay_weight": replay_weight, "episodes": dataset.num_episodes,
                  "numerics": kernel_report(), "init_from_checkpoint": None if init_from_checkpoint is None
                  else str(init_from_checkpoint), "device": str(device)}
    data = dataset.steps.to(device)
    optimizer, scheduler = make_optimizer(model, train_cfg)
    rows: list[dict[str, Any]] = []
    step = 0
    with open_run_logger(logger, job=job, job_type="train", tensorboard_dir=out_dir / "tensorboard",
                         config=dict(train_cfg)) as run_logger, learner_threads():
        for epoch in range(1, train_cfg["epochs"] + 1):
            started = time.perf_counter()
            model.eval()
            targets = _return_targets(model, data, train_cfg["reward_scale"], train_cfg["gamma"],
                                      train_cfg["lambda"])
            model.train()
            bar = tqdm(sampler, total=sampler.batches_per_epoch, disable=not progress,
                       desc=f"epoch {epoch}/{train_cfg['epochs']}", unit="batch")
            epoch_metrics, step = _train_epoch(model, optimizer, scheduler, bar, data, targets,
                                               train_cfg, run_logger, step)
            seconds = time.perf_counter() - started
            row = {"epoch": epoch, "steps": step, **epoch_metrics,
                   "mean_target": targets.mean().item(), "lr": scheduler.get_last_lr()[0],
                   "samples_per_s": sampler.batches_per_epoch * sampler.batch_size / seconds,
                   "seconds": seconds}
            rows.append(row)
            run_logger.log("epoch", {name: value for name, value in row.items() if name not in ("epoch", "steps")},
                           epoch, step_name="epoch")
            save_checkpoint(checkpoint_path(out_dir, "epoch", epoch), model, model_config=model_cfg,
                            obs_dim=dataset.obs_dim, feature_version=dataset.feature_version,
                            train_config=train_cfg, epoch=epoch, metrics={**row, **provenance})
            write_metrics_csv(out_dir / "metrics.csv", rows)
    return checkpoint_path(out_dir, "epoch", train_cfg["epochs"])

"""Actor-critic network over the fixed-size observation vector, its configs and checkpoints.

Architecture: a pre-LayerNorm residual MLP. The observation is one flat vector of fixed size (the
feature code already summarises both teams), so there is no sequence to attend over; a residual
MLP is the cheapest network that scales cleanly from ~1M parameters (CPU tests) to ~200M (GPU) by
width/depth alone, and its matmul-only compute keeps GPU utilisation high. LayerNorm before each
block keeps deep stacks trainable at a fixed learning rate. A shared trunk feeds a policy head
(9 logits, illegal actions masked to a large negative number so they get probability exactly 0)
and a scalar value head.

Must not import poke_env: checkpoints are trained and loaded on machines without the simulator.
"""

from __future__ import annotations

import io
import json
import os
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pokepsro.core.errors import UsageError, require_exact_keys
from pokepsro.core.files import REPO_ROOT, atomic_write_bytes, read_yaml
from pokepsro.core.numerics import acting_threads
from pokepsro.learning.trajectories import NUM_ACTIONS

MODEL_CONFIG_DIR = REPO_ROOT / "config" / "models"
ARCHITECTURE = "residual_mlp"
MODEL_CONFIG_KEYS = ("architecture", "width", "depth", "expansion")
CHECKPOINT_FORMAT = "pokepsro-checkpoint-v1"
CHECKPOINT_DIR = "ckpts"  # inside a training folder: epoch_E.pt (offline training), round_K.pt (PPO)
MASKED_LOGIT = -1e9  # finite, so a row's softmax stays defined; exp() of it is exactly 0


def _named_yaml_configs(directory: Path) -> list[str]:
    return sorted(path.stem for path in directory.glob("*.yaml"))


def load_yaml_config(name_or_path: str | os.PathLike, directory: Path, kind: str) -> dict:
    """A config by name (a `<name>.yaml` in `directory`) or by path to a YAML file."""
    candidate = Path(name_or_path)
    if candidate.suffix not in (".yaml", ".yml"):
        candidate = directory / f"{name_or_path}.yaml"
    if not candidate.is_file():
        names = ", ".join(_named_yaml_configs(directory))
        raise UsageError(f"unknown {kind} config {str(name_or_path)!r}: choose one of {names} "
                         "or give the path of a YAML file")
    return read_yaml(candidate, f"{kind} config")


def validate_model_config(model_config: Mapping[str, Any]) -> dict:
    """Exactly the known keys, positive integer sizes; returns a plain dict."""
    config = dict(model_config)
    require_exact_keys(config, MODEL_CONFIG_KEYS, "model")
    if config["architecture"] != ARCHITECTURE:
        raise UsageError(f"model architecture {config['architecture']!r} is not supported; "
                         f"use {ARCHITECTURE!r}")
    for key in ("width", "depth", "expansion"):
        if not isinstance(config[key], int) or isinstance(config[key], bool) or config[key] < 1:
            raise UsageError(f"model config {key} must be a positive integer, got {config[key]!r}")
    return config


def load_model_config(name_or_path: str | os.PathLike) -> dict:
    """`small`/`base`/`large` (config/models) or a YAML path, validated."""
    return validate_model_config(load_yaml_config(name_or_path, MODEL_CONFIG_DIR, "model"))


class ResidualBlock(nn.Module):
    def __init__(self, width: int, expansion: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.up = nn.Linear(width, width * expansion)
        self.down = nn.Linear(width * expansion, width)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden + self.down(nn.functional.gelu(self.up(self.norm(hidden))))


class ActorCritic(nn.Module):
    """Masked policy logits over the 9 actions plus a state-value estimate."""

    def __init__(self, obs_dim: int, width: int, depth: int, expansion: int) -> None:
        super().__init__()
        self.obs_dim = obs_dim
        self.embed = nn.Linear(obs_dim, width)
        self.blocks = nn.ModuleList(ResidualBlock(width, expansion) for _ in range(depth))
        self.final_norm = nn.LayerNorm(width)
        self.policy_head = nn.Linear(width, NUM_ACTIONS)
        self.value_head = nn.Linear(width, 1)

    def forward(self, obs: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns float32 (masked logits [B, 9], value [B]) even under bf16 autocast."""
        hidden = self.embed(obs)
        for block in self.blocks:
            hidden = block(hidden)
        hidden = self.final_norm(hidden)
        logits = self.policy_head(hidden).float().masked_fill(~mask, MASKED_LOGIT)
        value = self.value_head(hidden).float().squeeze(-1)
        return logits, value


def build_model(model_config: Mapping[str, Any], obs_dim: int) -> ActorCritic:
    config = validate_model_config(model_config)
    return ActorCritic(obs_dim, config["width"], config["depth"], config["expansion"])


def count_parameters(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


ACTING_BATCH = 8  # rows in every forward pass that picks actions (see acting_logits)


def acting_logits(model: ActorCritic, obs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked logits of every row, from forward passes of exactly ACTING_BATCH rows (the last one zero-padded).

    A float32 row's logits depend on how many rows share its pass (BLAS picks other kernels for other sizes, ~1e-6
    apart), and which decisions share a pass depends on timing: a flipped near-tie then changes the rest of a run.
    With one pass size (and one thread, `acting_threads`) a row's logits are the same bits whatever shares its
    pass and whatever machine runs it, so reruns reproduce.
    """
    rows = obs.shape[0]
    padding = -rows % ACTING_BATCH
    if padding:
        obs = torch.cat([obs, obs.new_zeros(padding, obs.shape[1])])
        mask = torch.cat([mask, mask.new_ones(padding, mask.shape[1])])
    passes = zip(obs.split(ACTING_BATCH), mask.split(ACTING_BATCH), strict=True)
    with acting_threads():
        return torch.cat([model(obs_part, mask_part)[0] for obs_part, mask_part in passes])[:rows]


@torch.no_grad()
def policy_act(model: ActorCritic, obs: Any, mask: Any, temperature: float = 1.0,
               greedy: bool = False, generator: torch.Generator | None = None,
               row_generators: Sequence[torch.Generator | None] | None = None,
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick one legal action per row, sampled at `temperature` (softmax of logits / T) or greedy; returns CPU
    (actions int64 [B], behaviour logp float32 [B]). The one place the players' actions are drawn.

    Sampling happens on the CPU so a CPU `generator` reproduces the same actions whatever device
    the model runs on. With `row_generators` (one per row; None: `generator`), each row is drawn from its own row of
    probabilities with its own generator, so its action does not depend on the other rows of the batch. Greedy play
    is deterministic, so its behaviour log-prob is 0. Every op runs on `acting_threads`: a second torch thread
    spin-waits after each small op (the sampling's too), which cost ~40 ms of CPU per battle on 2 cores.
    """
    if not greedy and not temperature > 0:
        raise ValueError(f"temperature must be > 0 when sampling, got {temperature}")
    with acting_threads():
        return _pick_actions(model, obs, mask, temperature, greedy, generator, row_generators)


def _pick_actions(model: ActorCritic, obs: Any, mask: Any, temperature: float, greedy: bool,
                  generator: torch.Generator | None, row_generators: Sequence[torch.Generator | None] | None,
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    device = next(model.parameters()).device
    obs_tensor = torch.as_tensor(obs, dtype=torch.float32, device=device)
    mask_tensor = torch.as_tensor(mask, dtype=torch.bool, device=device)
    no_legal_action = torch.nonzero(~mask_tensor.any(dim=-1))
    if len(no_legal_action):
        raise ValueError(f"mask row {int(no_legal_action[0])} has no legal action")
    logits = acting_logits(model, obs_tensor, mask_tensor).cpu()
    if greedy:
        actions = logits.argmax(dim=-1)
        return actions, torch.zeros(actions.shape, dtype=torch.float32)
    log_probs = torch.log_softmax(logits / temperature, dim=-1)
    if row_generators is None or all(row_generator is None for row_generator in row_generators):
        actions = torch.multinomial(log_probs.exp(), 1, generator=generator).squeeze(-1)
    else:
        actions = torch.tensor([int(torch.multinomial(row.exp(), 1, generator=generator if own is None else own))
                                for row, own in zip(log_probs, row_generators, strict=True)], dtype=torch.int64)
    return actions, log_probs.gather(-1, actions.unsqueeze(-1)).squeeze(-1)


def checkpoint_path(training_dir: str | os.PathLike, step: str, number: int) -> Path:
    """Where training in `training_dir` keeps the policy after `step` ("epoch" or "round") `number`."""
    return Path(training_dir) / CHECKPOINT_DIR / f"{step}_{number}.pt"


def training_dir_of(checkpoint: str | os.PathLike) -> Path:
    """The training folder of a checkpoint that `checkpoint_path` placed."""
    return Path(checkpoint).parent.parent


@dataclass
class Checkpoint:
    path: Path
    model: ActorCritic
    model_config: dict
    obs_dim: int
    feature_version: str
    train_config: dict
    epoch: int
    metrics: dict


def save_checkpoint(path: str | os.PathLike, model: ActorCritic, *, model_config: Mapping[str, Any],
                    obs_dim: int, feature_version: str, train_config: Mapping[str, Any], epoch: int,
                    metrics: Mapping[str, Any]) -> Path:
    """Atomic write; configs travel as JSON strings so `torch.load(weights_only=True)` reads them."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "state_dict": {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()},
        "model_config_json": json.dumps(validate_model_config(model_config), sort_keys=True),
        "obs_dim": int(obs_dim),
        "feature_version": str(feature_version),
        "train_config_json": json.dumps(dict(train_config), sort_keys=True),
        "epoch": int(epoch),
        "metrics_json": json.dumps(dict(metrics), sort_keys=True),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def _read_payload(path: Path, map_location: str | torch.device) -> dict:
    if not path.is_file():
        raise UsageError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as error:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise UsageError(f"checkpoint {path} is unreadable or holds more than weights "
                         f"(loaded with weights_only=True): {first_line}") from error
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise UsageError(f"checkpoint {path} is not a pokepsro checkpoint ({CHECKPOINT_FORMAT})")
    return payload


def load_checkpoint(path: str | os.PathLike, *, map_location: str | torch.device = "cpu",
                    expected_feature_version: str | None = None,
                    expected_model_config: Mapping[str, Any] | None = None,
                    expected_obs_dim: int | None = None) -> Checkpoint:
    """Rebuild the model from a checkpoint, refusing one that cannot match this code or config."""
    path = Path(path)
    payload = _read_payload(path, map_location)
    model_config = json.loads(payload["model_config_json"])
    feature_version = payload["feature_version"]
    obs_dim = payload["obs_dim"]
    if expected_feature_version is not None and feature_version != expected_feature_version:
        raise UsageError(f"feature version mismatch: checkpoint {path} has {feature_version}, "
                         f"this code produces {expected_feature_version}; a {feature_version} checkpoint cannot "
                         f"read {expected_feature_version} observations: retrain it on {expected_feature_version} "
                         f"features")
    if expected_model_config is not None:
        expected = validate_model_config(expected_model_config)
        if expected != model_config:
            raise UsageError(f"architecture mismatch: checkpoint {path} has {model_config}, "
                             f"the requested model config is {expected}")
    if expected_obs_dim is not None and obs_dim != expected_obs_dim:
        raise UsageError(f"observation size mismatch: checkpoint {path} has obs_dim {obs_dim}, "
                         f"the data has {expected_obs_dim}")
    model = build_model(model_config, obs_dim).to(map_location)
    model.load_state_dict(payload["state_dict"])
    return Checkpoint(path=path, model=model, model_config=model_config, obs_dim=obs_dim,
                      feature_version=feature_version,
                      train_config=json.loads(payload["train_config_json"]),
                      epoch=payload["epoch"], metrics=json.loads(payload["metrics_json"]))

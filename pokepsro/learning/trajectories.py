"""Recorded step data (`Steps`, one type from the recorder to both trainers), trajectory shards on disk, and the
step dataset the offline trainer samples from.

One `.npz` per (battle, recorded side) keeps writers independent (parallel collectors never share a
file) and makes a killed collector lose at most the battle in flight. This module must not import
poke_env: training runs on GPU machines without the simulator, so obs_dim and the feature version
come from each shard's metadata.

Rewards are sparse (the outcome's ±100 on a battle's last step) beside a per-step shaping potential Φ(s_t);
`lambda_returns` adds the potential-based shaping γΦ(s_{t+1}) − Φ(s_t) with the very γ it discounts with, so the
shaping cannot change which policy is optimal (docs/reward_shaping.md).
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import torch

from pokepsro.core.errors import UsageError
from pokepsro.core.files import atomic_write_bytes

NUM_ACTIONS = 9  # metamon's MinimalActionSpace: 4 moves + 5 switches
SHARD_VERSION = 2  # 2: sparse reward plus a `potential` array (1 stored metamon's shaped reward per step)
OUTCOMES = ("win", "loss", "tie")
META_KEYS = ("battle_id", "policy", "opponent", "outcome", "feature_version", "obs_dim", "format",
             "team", "seed")
ARRAY_DTYPES = {"obs": np.float32, "action": np.int64, "mask": np.bool_, "reward": np.float32,
                "potential": np.float32, "done": np.bool_, "logp": np.float32}


ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


@dataclass(frozen=True)
class Steps(Generic[ArrayT]):
    """Recorded decisions of one side, one row per decision, as complete battles one after another: the one type
    of step data, from a recorder's finished battle through shards and PPO rounds to the offline dataset.

    Numpy arrays on the host (in a shard, the ARRAY_DTYPES); `to(device)` gives the same steps as tensors, which
    the updates index their minibatches from.
    """

    obs: ArrayT        # [T, obs_dim]: the encoded state decided in
    action: ArrayT     # [T]: the action the decision maps to
    mask: ArrayT       # [T, NUM_ACTIONS]: the legal actions
    reward: ArrayT     # [T]: sparse, the outcome's ±100 on each battle's last step, unscaled
    potential: ArrayT  # [T]: shaping potential Φ of the state decided in, unscaled
    done: ArrayT       # [T]: True on each battle's last step
    logp: ArrayT       # [T]: behaviour log-prob of the action (NaN: the player had none)

    def __len__(self) -> int:
        return int(self.action.shape[0])

    def arrays(self) -> dict[str, ArrayT]:
        return {name: getattr(self, name) for name in ARRAY_DTYPES}

    @classmethod
    def concat(cls, parts: Sequence[Steps[np.ndarray]]) -> Steps[np.ndarray]:
        """`parts` one after another (battles stay contiguous)."""
        return cls(**{name: np.concatenate([getattr(part, name) for part in parts]) for name in ARRAY_DTYPES})

    def to(self, device: torch.device) -> Steps[torch.Tensor]:
        return Steps(**{name: torch.from_numpy(np.ascontiguousarray(array)).to(device)
                        for name, array in self.arrays().items()})

    def lambda_returns(self: Steps[torch.Tensor], values: torch.Tensor, reward_scale: float, gamma: float,
                       lam: float) -> torch.Tensor:
        """TD(λ) targets of the potential-shaped reward, in units of `reward_scale` (`lambda_returns`)."""
        return lambda_returns(self.reward * reward_scale, self.potential * reward_scale, self.done, values, gamma,
                              lam)


@dataclass(frozen=True)
class Shard:
    """One recorded side of one battle, its steps validated against the shard contract."""

    path: Path
    steps: Steps[np.ndarray]
    meta: dict[str, Any]


def _check_shard(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
    """Raise ValueError naming the first way `arrays`/`meta` break the shard contract."""
    for name, dtype in ARRAY_DTYPES.items():
        if arrays[name].dtype != dtype:
            raise ValueError(f"{name} has dtype {arrays[name].dtype}, expected {np.dtype(dtype)}")
    obs, action, mask = arrays["obs"], arrays["action"], arrays["mask"]
    if obs.ndim != 2 or obs.shape[0] == 0:
        raise ValueError(f"obs must have shape [T>0, obs_dim], got {list(obs.shape)}")
    steps = obs.shape[0]
    expected_shapes = {"action": (steps,), "mask": (steps, NUM_ACTIONS), "reward": (steps,),
                       "potential": (steps,), "done": (steps,), "logp": (steps,)}
    for name, shape in expected_shapes.items():
        if arrays[name].shape != shape:
            raise ValueError(f"{name} has shape {list(arrays[name].shape)}, expected {list(shape)}")
    if not all(np.isfinite(arrays[name]).all() for name in ("obs", "reward", "potential")):
        raise ValueError("obs, reward and potential must be finite")
    if action.min() < 0 or action.max() >= NUM_ACTIONS:
        raise ValueError(f"action outside 0..{NUM_ACTIONS - 1}")
    illegal = np.flatnonzero(~mask[np.arange(steps), action])
    if illegal.size:
        raise ValueError(f"action at step {int(illegal[0])} is illegal under its mask")
    expected_done = np.zeros(steps, dtype=bool)
    expected_done[-1] = True
    if not np.array_equal(arrays["done"], expected_done):
        raise ValueError("done must be True on the last step only")
    missing = [key for key in META_KEYS if key not in meta]
    if missing:
        raise ValueError(f"meta lacks {', '.join(missing)}")
    if meta["outcome"] not in OUTCOMES:
        raise ValueError(f"meta outcome {meta['outcome']!r} is not one of {', '.join(OUTCOMES)}")
    if meta["obs_dim"] != obs.shape[1]:
        raise ValueError(f"meta obs_dim {meta['obs_dim']} but obs has {obs.shape[1]} columns")


def write_shard(path: str | os.PathLike, steps: Steps, meta: Mapping[str, Any]) -> Path:
    """Validate and write one battle's `steps` atomically, stamped with SHARD_VERSION; a contract violation raises
    ValueError (a bug)."""
    arrays = {name: np.asarray(value) for name, value in steps.arrays().items()}
    for name, dtype in ARRAY_DTYPES.items():
        if not np.can_cast(arrays[name].dtype, dtype, casting="same_kind"):
            raise ValueError(f"{name} has dtype {arrays[name].dtype}, expected {np.dtype(dtype)}")
        arrays[name] = arrays[name].astype(dtype, copy=False)
    _check_shard(arrays, meta)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays, meta=np.array(json.dumps({**meta, "shard_version": SHARD_VERSION})))
    return atomic_write_bytes(path, buffer.getvalue())


def read_shard(path: str | os.PathLike) -> Shard:
    """Load and validate a shard; anything unreadable is a UsageError naming the file."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [name for name in (*ARRAY_DTYPES, "meta") if name not in archive.files]
            meta = None if "meta" in missing else json.loads(str(archive["meta"][()]))
            if isinstance(meta, dict):
                _check_version(path, meta)
            if missing:
                raise ValueError(f"missing arrays {', '.join(missing)}")
            arrays = {name: archive[name] for name in ARRAY_DTYPES}
        if not isinstance(meta, dict):
            raise TypeError("meta is not a JSON object")
        _check_shard(arrays, meta)
    except (OSError, ValueError, TypeError, EOFError, KeyError, zipfile.BadZipFile) as error:
        raise UsageError(f"corrupt trajectory shard {path}: {str(error) or type(error).__name__}; "
                         "delete it and re-collect that battle") from error
    return Shard(path=path, steps=Steps(**arrays), meta=meta)


def _check_version(path: Path, meta: Mapping[str, Any]) -> None:
    """A shard of another format is refused as a whole (before its missing arrays are), with what to do: its
    rewards mean something else, so it cannot be mixed with current data."""
    version = meta.get("shard_version", 1)
    if version != SHARD_VERSION:
        raise UsageError(f"trajectory shard {path} has format version {version}, this code reads version "
                         f"{SHARD_VERSION} (sparse reward plus a shaping potential); re-collect the trajectories")


def shard_paths(directory: str | os.PathLike) -> list[Path]:
    """All `*.npz` below `directory`, sorted so datasets are reproducible."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UsageError(f"trajectory directory not found: {directory}")
    return sorted(directory.rglob("*.npz"))


def _next_step(values: torch.Tensor) -> torch.Tensor:
    """values[t + 1] at t (0 past the end); callers mask it at episode ends."""
    shifted = torch.zeros_like(values)
    shifted[:-1] = values[1:]
    return shifted


def shaped_rewards(rewards: torch.Tensor, potentials: torch.Tensor, dones: torch.Tensor,
                   gamma: float) -> torch.Tensor:
    """r_t + γΦ(s_{t+1}) − Φ(s_t), with Φ = 0 after an episode's last step (Ng, Harada & Russell 1999).

    Discounted with the same γ, the shaping terms of an episode sum to −Φ(s_0), whatever the actions: every
    policy's return moves by the same amount, so the optimal one is that of the sparse reward.
    """
    not_done = (~dones).to(potentials.dtype)
    return rewards + gamma * not_done * _next_step(potentials) - potentials


def _steps_to_end(dones: torch.Tensor) -> torch.Tensor:
    """0 on each episode's last step, counting up backwards."""
    steps = torch.arange(len(dones), device=dones.device)
    ends = torch.nonzero(dones).squeeze(-1)
    return ends[torch.searchsorted(ends, steps)] - steps


def lambda_returns(rewards: torch.Tensor, potentials: torch.Tensor, dones: torch.Tensor, values: torch.Tensor,
                   gamma: float, lam: float) -> torch.Tensor:
    """TD(λ) targets G_t = r'_t + γ[(1-λ)V(s_{t+1}) + λG_{t+1}], with G_t = r'_t on terminal steps, r' the
    potential-shaped reward (`shaped_rewards`) built here with the γ that discounts, so the two cannot drift.

    λ=1 gives Monte-Carlo returns, λ=0 one-step TD. Vectorised over episodes: all steps the same
    distance from their episode's end are computed together, so the loop runs max-episode-length
    times instead of once per step. Inputs are flat tensors of concatenated, complete episodes.
    """
    steps_to_end = _steps_to_end(dones)
    rewards = shaped_rewards(rewards, potentials, dones, gamma)
    returns = torch.zeros_like(rewards)
    next_values = _next_step(values)
    not_done = (~dones).to(rewards.dtype)
    max_offset = int(steps_to_end.max().item()) if steps_to_end.numel() else -1
    for offset in range(max_offset + 1):
        index = torch.nonzero(steps_to_end == offset, as_tuple=True)[0]
        if offset == 0:
            returns[index] = rewards[index]
            continue
        blended = (1.0 - lam) * next_values[index] + lam * returns[index + 1]
        returns[index] = rewards[index] + gamma * not_done[index] * blended
    return returns


@dataclass(frozen=True)
class TransitionDataset:
    """The steps of a set of shards, concatenated in shard order (episodes stay contiguous)."""

    steps: Steps[np.ndarray]
    feature_version: str
    obs_dim: int
    num_episodes: int

    def __len__(self) -> int:
        return len(self.steps)

    @classmethod
    def from_dirs(cls, directories: Iterable[str | os.PathLike],
                  policies: Sequence[str] | None = None) -> TransitionDataset:
        """Load every shard below `directories` (only those of `policies`, when given); shards must agree on
        feature version and obs_dim."""
        directories = [Path(d) for d in directories]
        paths = [path for directory in directories for path in shard_paths(directory)]
        listed = ", ".join(str(d) for d in directories) or "(no directories given)"
        if not paths:
            raise UsageError(f"no trajectory shards (*.npz) found in {listed}; collect battles first")
        shards = [read_shard(path) for path in paths]
        if policies is not None:
            shards = [shard for shard in shards if shard.meta["policy"] in policies]
            if not shards:
                raise UsageError(f"no trajectory shards of {', '.join(policies)} in {listed}; "
                                 "name policies that played there")
        return cls.from_shards(shards)

    @classmethod
    def from_shards(cls, shards: Sequence[Shard]) -> TransitionDataset:
        first = shards[0]
        for shard in shards[1:]:
            _check_compatible(first.path, first.meta, shard.path, shard.meta)
        return cls(steps=Steps.concat([shard.steps for shard in shards]),
                   feature_version=str(first.meta["feature_version"]), obs_dim=int(first.meta["obs_dim"]),
                   num_episodes=len(shards))

    @classmethod
    def concat(cls, first: TransitionDataset, second: TransitionDataset) -> TransitionDataset:
        """`first`'s steps then `second`'s: global index i >= len(first) addresses `second`."""
        if (first.feature_version, first.obs_dim) != (second.feature_version, second.obs_dim):
            raise UsageError(
                f"datasets disagree: feature version {first.feature_version} (obs_dim "
                f"{first.obs_dim}) vs {second.feature_version} (obs_dim {second.obs_dim}); "
                "re-record one of them with the same feature code")
        return cls(steps=Steps.concat([first.steps, second.steps]), feature_version=first.feature_version,
                   obs_dim=first.obs_dim, num_episodes=first.num_episodes + second.num_episodes)


def _check_compatible(path_a: Path, meta_a: Mapping[str, Any], path_b: Path,
                      meta_b: Mapping[str, Any]) -> None:
    for key in ("feature_version", "obs_dim"):
        if meta_a[key] != meta_b[key]:
            raise UsageError(f"trajectory shards disagree on {key}: {path_a} has {meta_a[key]}, "
                             f"{path_b} has {meta_b[key]}; train on shards from one feature version")


def check_replay_weight(replay_weight: float) -> float:
    """The fraction of each batch drawn from replay must be a probability."""
    try:
        weight = float(replay_weight)
    except (TypeError, ValueError):
        weight = math.nan
    if not 0.0 <= weight <= 1.0:  # also rejects NaN
        raise UsageError(f"replay weight {replay_weight} is outside [0, 1]: it is the fraction of "
                         "each batch drawn from replay data (0 = collected only, 1 = replay only)")
    return weight


class _CyclingIndices:
    """Indices of one source in a fresh random order each pass, so every step is seen once per pass."""

    def __init__(self, start: int, size: int, rng: np.random.Generator) -> None:
        self._start, self._size, self._rng = start, size, rng
        self._order = np.empty(0, dtype=np.int64)
        self._position = 0

    def take(self, count: int) -> np.ndarray:
        taken: list[np.ndarray] = []
        while count > 0:
            if self._position == len(self._order):
                self._order = self._start + self._rng.permutation(self._size)
                self._position = 0
            chunk = self._order[self._position:self._position + count]
            self._position += len(chunk)
            count -= len(chunk)
            taken.append(chunk)
        return np.concatenate(taken) if taken else np.empty(0, dtype=np.int64)


class MixedBatchSampler:
    """Batches of global indices into `TransitionDataset.concat(collected, replay)`.

    Each sample comes from replay with probability `replay_weight` (binomial count per batch, so the
    expected fraction is exact even for batch 16 at weight 0.3). An epoch is `ceil(N / batch_size)`
    batches, N the number of steps of the sources in use (collected below weight 1, replay above weight
    0): as many draws as there are steps in use. Each source is drawn without replacement in reshuffled
    passes (no step repeats before all of that source's steps were drawn), so an epoch makes about
    (1 − w)·N / collected_size passes over the collected steps and w·N / replay_size over the replay
    steps (`expected_passes`); with one source in use that is exactly one pass over it.
    """

    def __init__(self, collected_size: int, replay_size: int, replay_weight: float,
                 batch_size: int, seed: int) -> None:
        self.replay_weight = check_replay_weight(replay_weight)
        if self.replay_weight < 1.0 and collected_size == 0:
            raise UsageError("no collected steps to sample although replay weight is below 1")
        if self.replay_weight > 0.0 and replay_size == 0:
            raise UsageError(f"replay weight {self.replay_weight} needs replay data, but none was "
                             "given; pass replay directories or set the replay weight to 0")
        self.batch_size = batch_size
        self._rng = np.random.default_rng(seed)
        self._collected = _CyclingIndices(0, collected_size, self._rng)
        self._replay = _CyclingIndices(collected_size, replay_size, self._rng)
        used = (collected_size if self.replay_weight < 1.0 else 0) + \
               (replay_size if self.replay_weight > 0.0 else 0)
        self.batches_per_epoch = math.ceil(used / batch_size)
        draws = self.batches_per_epoch * batch_size
        self.expected_passes = {
            "collected": draws * (1.0 - self.replay_weight) / collected_size if collected_size else 0.0,
            "replay": draws * self.replay_weight / replay_size if replay_size else 0.0}

    def sample(self) -> np.ndarray:
        from_replay = int(self._rng.binomial(self.batch_size, self.replay_weight))
        return np.concatenate([self._collected.take(self.batch_size - from_replay),
                               self._replay.take(from_replay)])

    def __iter__(self) -> Iterator[np.ndarray]:
        """One epoch of batches."""
        for _ in range(self.batches_per_epoch):
            yield self.sample()

"""Shard format, dataset assembly, λ-returns and replay mixing (no simulator needed)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pokepsro.core.errors import UsageError
from pokepsro.learning.trajectories import (
    SHARD_VERSION,
    MixedBatchSampler,
    Steps,
    TransitionDataset,
    lambda_returns,
    read_shard,
    shaped_rewards,
    shard_paths,
    write_shard,
)

OBS_DIM = 6


def shard_arrays(steps: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    mask = rng.random((steps, 9)) < 0.5
    mask[:, 0] = True
    action = np.array([rng.choice(np.flatnonzero(row)) for row in mask])
    done = np.zeros(steps, dtype=bool)
    done[-1] = True
    return {"obs": rng.normal(size=(steps, OBS_DIM)).astype(np.float32), "action": action,
            "mask": mask, "reward": rng.normal(size=steps).astype(np.float32),
            "potential": rng.normal(size=steps).astype(np.float32), "done": done,
            "logp": np.full(steps, np.nan, dtype=np.float32)}


def shard_meta(battle_id: str, opponent: str = "random", feature_version: str = "test-v1",
               obs_dim: int = OBS_DIM) -> dict:
    return {"battle_id": battle_id, "policy": "learner", "opponent": opponent, "outcome": "win",
            "feature_version": feature_version, "obs_dim": obs_dim, "format": "gen1ou",
            "team": "team-0", "seed": 7}


def write_test_shard(directory: Path, battle_id: str, steps: int = 5, **meta_overrides) -> Path:
    path = directory / f"{battle_id}__a.npz"
    write_shard(path, Steps(**shard_arrays(steps, seed=len(battle_id) + steps)),
                meta=shard_meta(battle_id, **meta_overrides))
    return path


def test_round_trip_preserves_arrays_dtypes_and_meta(tmp_path):
    arrays = shard_arrays(7)
    arrays["obs"] = arrays["obs"].astype(np.float64)  # writer casts to the contract's dtypes
    path = write_shard(tmp_path / "b1__a.npz", Steps(**arrays), meta=shard_meta("b1"))
    shard = read_shard(path)
    assert shard.meta == {**shard_meta("b1"), "shard_version": SHARD_VERSION}  # the writer stamps the format
    assert len(shard.steps) == 7
    for name, expected in arrays.items():
        np.testing.assert_array_equal(getattr(shard.steps, name), np.asarray(expected).astype(
            getattr(shard.steps, name).dtype))
    assert shard.steps.obs.dtype == np.float32 and shard.steps.action.dtype == np.int64
    assert [p.name for p in tmp_path.iterdir()] == ["b1__a.npz"]  # no temp file left behind


@pytest.mark.parametrize("breakage, message", [
    (lambda a: a.update(action=np.where(a["mask"][:, 8], 0, 8)), "illegal"),
    (lambda a: a.update(mask=a["mask"][:, :8]), "mask has shape"),
    (lambda a: a.update(done=np.ones_like(a["done"])), "last step only"),
    (lambda a: a.update(action=a["action"].astype(np.float32)), "action has dtype"),
    (lambda a: a.update(reward=np.full_like(a["reward"], np.inf)), "finite"),
    (lambda a: a.update(potential=np.full_like(a["potential"], np.nan)), "finite"),
    (lambda a: a.update(potential=a["potential"][:-1]), "potential has shape"),
])
def test_write_shard_rejects_contract_violations(tmp_path, breakage, message):
    arrays = shard_arrays(5)
    breakage(arrays)
    with pytest.raises(ValueError, match=message):
        write_shard(tmp_path / "x__a.npz", Steps(**arrays), meta=shard_meta("x"))
    assert not list(tmp_path.iterdir())


def test_write_shard_rejects_meta_that_disagrees_with_obs(tmp_path):
    with pytest.raises(ValueError, match="obs_dim"):
        write_shard(tmp_path / "x__a.npz", Steps(**shard_arrays(5)), meta=shard_meta("x", obs_dim=99))
    meta = shard_meta("x")
    del meta["opponent"]
    with pytest.raises(ValueError, match="opponent"):
        write_shard(tmp_path / "x__a.npz", Steps(**shard_arrays(5)), meta=meta)


def test_truncated_empty_and_incomplete_shards_name_the_file(tmp_path):
    good = write_test_shard(tmp_path, "good")
    truncated = tmp_path / "truncated__a.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    empty = tmp_path / "empty__a.npz"
    empty.write_bytes(b"")
    incomplete = tmp_path / "incomplete__a.npz"
    np.savez(incomplete, obs=np.zeros((2, OBS_DIM), dtype=np.float32))
    for bad in (truncated, empty, incomplete):
        with pytest.raises(UsageError, match=f"corrupt trajectory shard {bad}"):
            read_shard(bad)
    with pytest.raises(UsageError, match="missing arrays"):
        read_shard(incomplete)
    with pytest.raises(UsageError, match="corrupt trajectory shard"):
        TransitionDataset.from_dirs([tmp_path])


def test_shard_paths_are_recursive_and_sorted(tmp_path):
    write_test_shard(tmp_path / "z", "b2", opponent="heuristic")
    write_test_shard(tmp_path / "a" / "deep", "b1", opponent="random")
    write_test_shard(tmp_path, "b3", opponent="heuristic")
    (tmp_path / "notes.txt").write_text("not a shard")
    assert [read_shard(path).meta["battle_id"] for path in shard_paths(tmp_path)] == ["b1", "b3", "b2"]
    with pytest.raises(UsageError, match="trajectory directory not found"):
        shard_paths(tmp_path / "missing")


def test_dataset_concatenates_episodes_with_return_targets(tmp_path):
    first = write_test_shard(tmp_path, "b1", steps=3)
    second = write_test_shard(tmp_path, "b2", steps=2)
    dataset = TransitionDataset.from_dirs([tmp_path])
    assert len(dataset) == 5 and dataset.num_episodes == 2 and dataset.obs_dim == OBS_DIM
    np.testing.assert_array_equal(dataset.steps.done, [False, False, True, False, True])
    (r1, p1), (r2, p2) = [(read_shard(path).steps.reward, read_shard(path).steps.potential)
                          for path in (first, second)]
    gamma = 0.9
    # λ = 1 with no critic: the discounted return-to-go of the sparse reward, minus Φ of the step itself
    expected = [r1[0] + gamma * r1[1] + gamma**2 * r1[2] - p1[0], r1[1] + gamma * r1[2] - p1[1], r1[2] - p1[2],
                r2[0] + gamma * r2[1] - p2[0], r2[1] - p2[1]]
    data = dataset.steps.to(torch.device("cpu"))
    returns = data.lambda_returns(torch.zeros(len(data)), 0.5, gamma, 1.0)
    np.testing.assert_allclose(returns.numpy(), 0.5 * np.array(expected), rtol=1e-5, atol=1e-6)


def test_dataset_errors_for_no_shards_and_mixed_feature_versions(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no trajectory shards"):
        TransitionDataset.from_dirs([tmp_path / "empty"])
    old = write_test_shard(tmp_path / "mixed", "b1", feature_version="gen1-v1")
    new = write_test_shard(tmp_path / "mixed", "b2", feature_version="gen1-v2")
    with pytest.raises(UsageError, match="feature_version") as error:
        TransitionDataset.from_dirs([tmp_path / "mixed"])
    assert str(old) in str(error.value) and str(new) in str(error.value)


def naive_lambda_returns(rewards, dones, values, gamma, lam):
    """Step-by-step reference: G_t = r_t + γ[(1-λ)V_{t+1} + λG_{t+1}], G = r on terminal steps."""
    returns = np.zeros(len(rewards))
    for t in reversed(range(len(rewards))):
        if dones[t]:
            returns[t] = rewards[t]
        else:
            returns[t] = rewards[t] + gamma * ((1 - lam) * values[t + 1] + lam * returns[t + 1])
    return returns


@pytest.mark.parametrize("lam", [0.0, 0.7, 1.0])
def test_lambda_returns_match_step_by_step_reference(lam):
    rng = np.random.default_rng(3)
    lengths = rng.integers(1, 12, size=20)
    dones = np.concatenate([np.arange(n) == n - 1 for n in lengths])
    rewards, values = rng.normal(size=(2, len(dones)))
    got = lambda_returns(torch.tensor(rewards), torch.zeros(len(dones), dtype=torch.float64), torch.tensor(dones),
                         torch.tensor(values), gamma=0.95, lam=lam)
    np.testing.assert_allclose(got.numpy(), naive_lambda_returns(rewards, dones, values, 0.95, lam),
                               rtol=1e-10)


# A hand-made battle of 5 decisions: Φ rises as we deal damage, falls, rises again; won at the end.
EPISODE_POTENTIALS = [0.0, 1.1, 0.6, 2.5, 1.4]
EPISODE_REWARDS = [0.0, 0.0, 0.0, 0.0, 100.0]


@pytest.mark.parametrize("gamma", [0.99, 1.0])
def test_discounted_shaping_telescopes_to_minus_the_first_potential(gamma):
    """Σ_t γ^t (γΦ(s_{t+1}) − Φ(s_t)) = −Φ(s_0) with Φ = 0 after the end: the same for every policy, so the
    shaping cannot change which one is optimal."""
    steps = len(EPISODE_POTENTIALS)
    potentials = torch.tensor(EPISODE_POTENTIALS, dtype=torch.float64) + 0.7  # Φ(s_0) = 0.7, not 0
    dones = torch.arange(steps) == steps - 1
    shaping = shaped_rewards(torch.zeros(steps, dtype=torch.float64), potentials, dones, gamma)
    discounts = gamma ** torch.arange(steps, dtype=torch.float64)
    assert float((discounts * shaping).sum()) == pytest.approx(-0.7, abs=1e-12)
    rewards = torch.tensor(EPISODE_REWARDS, dtype=torch.float64)
    returns = lambda_returns(rewards, potentials, dones, torch.zeros(steps, dtype=torch.float64), gamma, 1.0)
    assert float(returns[0]) == pytest.approx(gamma ** (steps - 1) * 100.0 - 0.7, abs=1e-9)


def test_shaping_stops_at_each_episode_end():
    """Two episodes back to back: the first one's last step does not see the second one's Φ."""
    potentials = torch.tensor([1.0, 2.0, 5.0, 3.0])
    dones = torch.tensor([False, True, False, True])
    shaped = shaped_rewards(torch.tensor([0.0, 100.0, 0.0, -100.0]), potentials, dones, 0.5)
    np.testing.assert_allclose(shaped.numpy(), [0.5 * 2 - 1, 100 - 2, 0.5 * 3 - 5, -100 - 3])


def test_shards_of_another_format_version_are_refused_in_one_line(tmp_path):
    path = write_test_shard(tmp_path, "old")
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files if name != "potential"}
    meta = {key: value for key, value in json.loads(str(arrays.pop("meta")[()])).items() if key != "shard_version"}
    np.savez(path, **arrays, meta=np.array(json.dumps(meta)))  # as the version-1 code wrote it
    message = (f"trajectory shard {path} has format version 1, this code reads version {SHARD_VERSION} "
               "(sparse reward plus a shaping potential); re-collect the trajectories")
    with pytest.raises(UsageError) as error:
        TransitionDataset.from_dirs([tmp_path])
    assert str(error.value) == message


@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0])
def test_sampler_draws_replay_fraction_equal_to_weight(weight):
    collected, replay, batch = 1000, 3000, 16
    sampler = MixedBatchSampler(collected, replay, weight, batch, seed=1)
    batches = np.stack([sampler.sample() for _ in range(2000)])
    replay_fraction = (batches >= collected).mean()
    # binomial std of the mean over 32000 draws is <= 0.003: 0.012 is a 4-sigma band
    assert abs(replay_fraction - weight) <= 0.012
    assert batches.min() >= 0 and batches.max() < collected + replay


def test_sampler_epoch_visits_each_collected_step_once():
    sampler = MixedBatchSampler(collected_size=96, replay_size=0, replay_weight=0.0,
                                batch_size=16, seed=0)
    assert sampler.batches_per_epoch == 6
    seen = np.concatenate(list(sampler))
    assert sorted(seen.tolist()) == list(range(96))


@pytest.mark.parametrize("weight", [-0.1, 1.5, math.nan])
def test_replay_weight_outside_unit_interval_is_a_usage_error(weight):
    with pytest.raises(UsageError, match="outside \\[0, 1\\]"):
        MixedBatchSampler(100, 100, weight, 16, seed=0)


def test_positive_replay_weight_without_replay_data_is_a_usage_error():
    with pytest.raises(UsageError, match="needs replay data"):
        MixedBatchSampler(100, 0, 0.5, 16, seed=0)


def test_resumed_work_folder_drops_half_written_shards_of_a_killed_job(tmp_path):
    """A job killed while writing a shard leaves `.name.npz.XXXX.tmp`; the rerun must not publish it."""
    from pokepsro.core.files import resumable_dir

    final = tmp_path / "br_trajectories"
    work = resumable_dir(final)
    kept = work / "battle000000__a.npz"
    kept.write_bytes(b"a whole shard")
    (work / ".battle000001__a.npz.g5cmuap5.tmp").write_bytes(b"half")
    assert resumable_dir(final) == work
    assert sorted(p.name for p in work.iterdir()) == [kept.name]


def test_sampler_epoch_with_a_mixed_weight_is_as_documented():
    """weight 0.25, 100 collected + 300 replay steps: 40 batches of 10, ~3 passes over collected, 1/3 over replay."""
    collected, replay = 100, 300
    sampler = MixedBatchSampler(collected, replay, 0.25, 10, seed=3)
    assert sampler.batches_per_epoch == 40
    assert sampler.expected_passes == pytest.approx({"collected": 3.0, "replay": 1 / 3})
    draws = np.concatenate(list(sampler))
    assert len(draws) == 400
    from_collected = draws[draws < collected]
    from_replay = draws[draws >= collected]
    # binomial(400, 0.75): sd ≈ 8.7, a 4-sigma band
    assert abs(len(from_collected) - 300) <= 35
    # drawn without replacement in reshuffled passes: no step repeats before its source's pass is complete
    for start in range(0, len(from_collected) - collected + 1, collected):
        assert sorted(from_collected[start:start + collected].tolist()) == list(range(collected))
    assert len(set(from_replay.tolist())) == len(from_replay)  # less than one pass over replay

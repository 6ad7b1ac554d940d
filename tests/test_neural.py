"""NeuralPlayer: checkpoint loading, cross-player batching, and real battles on a real server."""

from __future__ import annotations

import asyncio
import functools
import random
from typing import ClassVar

import numpy as np
import pytest
import torch
from conftest import TINY_MODEL, write_tiny_checkpoint

from pokepsro.battles.api import run_battles
from pokepsro.battles.spec import schedule_matchup
from pokepsro.core.errors import UsageError
from pokepsro.core.seeding import PerBattleRngs
from pokepsro.gen1.baselines import RandomBaseline
from pokepsro.learning.features import NUM_ACTIONS, OBS_DIM
from pokepsro.learning.model import build_model, load_model_config
from pokepsro.learning.neural import BatchedPolicy, NeuralPlayer, seeded_generator, shared_policy
from pokepsro.learning.recording import TrajectoryWriter, make_recording
from pokepsro.learning.trajectories import read_shard, shard_paths

SMALL_MODEL = load_model_config("small")  # the default size, whose float32 rows differ by batch size


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "epoch_0.pt")


class ErrorCountingNeuralPlayer(NeuralPlayer):
    """Counts the server's `|error|` replies (an order it refused) before poke-env handles them."""

    errors: ClassVar[list[str]] = []

    async def _handle_battle_message(self, split_messages):
        for message in split_messages[1:]:
            if len(message) > 1 and message[1] == "error":
                ErrorCountingNeuralPlayer.errors.append("|".join(message))
        await super()._handle_battle_message(split_messages)


def test_feature_version_mismatch_is_refused(tmp_path):
    stale = write_tiny_checkpoint(tmp_path / "stale.pt", feature_version="gen1-v0")
    with pytest.raises(UsageError, match="feature version"):
        shared_policy(stale, device="cpu")


def test_players_of_one_checkpoint_share_one_policy(checkpoint):
    first = NeuralPlayer(checkpoint=checkpoint, device="cpu", battle_format="gen1ou", start_listening=False)
    second = NeuralPlayer(checkpoint=checkpoint, device="cpu", battle_format="gen1ou", start_listening=False)
    assert first.policy is second.policy
    with pytest.raises(ValueError, match="temperature"):
        NeuralPlayer(checkpoint=checkpoint, temperature=0.0, battle_format="gen1ou", start_listening=False)


def random_masks(rng: np.random.Generator, count: int) -> np.ndarray:
    masks = rng.random((count, NUM_ACTIONS)) < 0.5
    masks[np.arange(count), rng.integers(0, NUM_ACTIONS, count)] = True
    return masks


def test_batched_policy_batches_waiting_battles_and_flushes_a_lone_one(checkpoint):
    model = build_model(TINY_MODEL, OBS_DIM)
    policy = BatchedPolicy(model, seed=1, flush_delay_s=0.05)
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(3, OBS_DIM)).astype(np.float32)
    masks = random_masks(rng, 3)

    async def scenario():
        for key in ("x", "y", "z"):
            policy.battle_started(key)
        # Two of three live battles ask: they wait for the third or the delay.
        first = [policy.decide(obs[i], masks[i], 1.0, False) for i in range(2)]
        await asyncio.sleep(0)
        assert not any(future.done() for future in first) and not policy.batch_sizes
        third = policy.decide(obs[2], masks[2], 1.0, False)  # everyone waiting -> one batch of 3, at once
        assert all(future.done() for future in (*first, third)) and dict(policy.batch_sizes) == {3: 1}
        results = [await future for future in (*first, third)]
        policy.battle_finished("z")
        # One of two live battles asks and the other never does: it waits, then the delay flushes it alone.
        lone = policy.decide(obs[0], masks[0], 1.0, True)
        for _ in range(3):
            await asyncio.sleep(0)
        assert not lone.done() and dict(policy.batch_sizes) == {3: 1}
        lone = await asyncio.wait_for(lone, timeout=30)  # a hang guard: the delay is 0.05 s
        return results, lone

    results, lone = asyncio.run(scenario())
    assert dict(policy.batch_sizes) == {3: 1, 1: 1}
    for (action, logp), mask in zip(results, masks, strict=True):
        assert mask[action] and logp <= 0.0
    assert masks[0][lone[0]] and lone[1] == 0.0  # greedy: deterministic, log-prob 0


def test_a_finished_battle_releases_the_decisions_waiting_for_it(checkpoint):
    """No delay to wait out (it is an hour here): the last live battle's end flushes the others' decisions."""
    policy = BatchedPolicy(build_model(TINY_MODEL, OBS_DIM), seed=1, flush_delay_s=3600.0)
    rng = np.random.default_rng(1)
    obs = rng.normal(size=(2, OBS_DIM)).astype(np.float32)
    masks = random_masks(rng, 2)

    async def scenario():
        for key in ("x", "y", "z"):
            policy.battle_started(key)
        waiting = [policy.decide(obs[i], masks[i], 1.0, False) for i in range(2)]
        await asyncio.sleep(0)
        assert not any(future.done() for future in waiting)
        policy.battle_finished("z")  # the battle they waited for will never ask
        assert all(future.done() for future in waiting)
        return [await future for future in waiting]

    results = asyncio.run(scenario())
    assert dict(policy.batch_sizes) == {2: 1}
    assert all(mask[action] for (action, _), mask in zip(results, masks, strict=True))


def test_a_battle_acts_alike_however_its_decisions_are_batched():
    """Per-battle generators and fixed-size forward passes: the same actions and the same behaviour log-probs, bit
    for bit, whether a battle's decision shares its batch or is alone (float32 rows differ by pass size)."""
    torch.manual_seed(3)
    policy = BatchedPolicy(build_model(SMALL_MODEL, OBS_DIM), seed=1)
    rng = np.random.default_rng(5)
    obs = rng.normal(size=(6, OBS_DIM)).astype(np.float32)
    masks = random_masks(rng, 6)

    def draws(order: list[int], batch: int, greedy: bool = False) -> dict[int, list[tuple[int, float]]]:
        generators = {k: seeded_generator(100 + k) for k in range(6)}
        decisions: dict[int, list[tuple[int, float]]] = {k: [] for k in range(6)}
        for _ in range(5):  # five decisions per battle, grouped differently
            for start in range(0, 6, batch):
                rows = order[start:start + batch]
                chosen, logps = policy.act(obs[rows], masks[rows], 1.0, greedy,
                                           generators=[generators[k] for k in rows])
                for k, action, logp in zip(rows, chosen, logps):
                    decisions[k].append((action, logp))
        return decisions

    together = draws(list(range(6)), 6)
    assert draws([5, 3, 1, 0, 2, 4], 2) == together == draws(list(range(6)), 1)
    assert len({tuple(a) for a in together.values()}) > 1
    for k, decisions in together.items():
        assert all(masks[k][action] for action, _ in decisions)
    assert draws([5, 3, 1, 0, 2, 4], 4, greedy=True) == draws(list(range(6)), 1, greedy=True)


def test_every_op_that_picks_actions_runs_on_the_acting_threads(monkeypatch):
    """Sampling too, not only the forward pass: in a thread left at 2 torch threads (a process that plays battles in
    its own loop thread, as the CLI does), a second thread spin-waited after each small op, ~40 ms of CPU a battle."""
    from pokepsro.core.numerics import ACTING_THREADS
    from pokepsro.learning import model as model_module

    seen = []
    for name in ("log_softmax", "multinomial"):
        original = getattr(torch, name)
        monkeypatch.setattr(torch, name, lambda *args, _op=original, **kwargs: (
            seen.append(torch.get_num_threads()), _op(*args, **kwargs))[1])
    torch.manual_seed(0)
    model = build_model(TINY_MODEL, OBS_DIM)
    obs, mask = np.zeros((3, OBS_DIM), dtype=np.float32), np.ones((3, NUM_ACTIONS), dtype=bool)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model_module.policy_act(model, obs, mask, temperature=0.5, generator=seeded_generator(1))
        model_module.policy_act(model, obs, mask, temperature=0.5, row_generators=[seeded_generator(i) for i in range(3)])
        assert torch.get_num_threads() == 2  # the caller's count comes back
    finally:
        torch.set_num_threads(threads)
    assert seen and set(seen) == {ACTING_THREADS}


def test_per_battle_rngs_follow_the_announced_seed_of_each_battle():
    rngs = PerBattleRngs(random.Random)
    assert rngs.get("battle-1") is None  # no seed announced: the player falls back on its own RNG
    rngs.assign("battle-2", 7)
    rngs.assign(None, 9)  # a server lane: the seed of the next battle, whose tag is not known yet
    assert rngs.get("battle-2").random() == random.Random(7).random()
    assert rngs.get("battle-3").random() == random.Random(9).random()
    assert rngs.get("battle-4") is None  # the next-battle seed is used once
    rngs.forget("battle-2")
    assert rngs.get("battle-2") is None


def play_neural_vs_random(showdown_server, team_set, checkpoint, out_dir, battles: int, concurrency: int,
                          **neural_kwargs):
    ErrorCountingNeuralPlayer.errors.clear()
    specs = schedule_matchup("neural", "random", battles, team_set, seed=11)
    players = {"neural": functools.partial(make_recording(ErrorCountingNeuralPlayer), checkpoint=checkpoint,
                                           device="cpu", seed=0, **neural_kwargs),
               "random": RandomBaseline}
    writer = TrajectoryWriter(out_dir, sides="a")
    records = run_battles(specs, players, server=showdown_server, concurrency=concurrency, progress=False,
                          on_battle_end=writer.on_battle_end)
    return records, writer


def test_neural_player_plays_real_battles_with_batched_decisions(showdown_server, team_set, checkpoint, tmp_path):
    policy = shared_policy(checkpoint, device="cpu")
    before = sum(policy.batch_sizes.values())
    records, writer = play_neural_vs_random(showdown_server, team_set, checkpoint, tmp_path, battles=8,
                                            concurrency=4)
    assert ErrorCountingNeuralPlayer.errors == []
    assert all(record["end"] == "normal" for record in records)
    assert sum(policy.batch_sizes.values()) > before
    assert max(policy.batch_sizes) > 1, dict(policy.batch_sizes)  # decisions of several lanes in one pass
    assert writer.shards_written == 8
    for path in shard_paths(tmp_path):
        shard = read_shard(path)
        assert shard.meta["policy"] == "neural" and shard.meta["opponent"] == "random"
        assert np.isfinite(shard.steps.logp).all() and (shard.steps.logp <= 0).all()  # sampled: real behaviour log-probs


def test_unbatched_greedy_player_plays_real_battles(showdown_server, team_set, checkpoint, tmp_path):
    policy = shared_policy(checkpoint, device="cpu")
    flushes = sum(policy.batch_sizes.values())
    _, writer = play_neural_vs_random(showdown_server, team_set, checkpoint, tmp_path, battles=2,
                                      concurrency=2, batched=False, greedy=True)
    assert ErrorCountingNeuralPlayer.errors == []
    assert sum(policy.batch_sizes.values()) == flushes  # never went through the batcher
    assert writer.shards_written == 2
    for path in shard_paths(tmp_path):
        assert (read_shard(path).steps.logp == 0).all()

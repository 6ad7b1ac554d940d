"""Recording real battles (real Showdown server, real arena) into trajectory shards."""

from __future__ import annotations

import numpy as np
import pytest

from pokepsro.battles.api import run_battles
from pokepsro.battles.spec import schedule_matchup
from pokepsro.core.errors import UsageError
from pokepsro.gen1.baselines import MaxBasePowerBaseline, RandomBaseline
from pokepsro.learning.features import FEATURE_VERSION, OBS_DIM
from pokepsro.learning.recording import TrajectoryWriter, make_recording
from pokepsro.learning.trajectories import read_shard, shard_paths

BATTLES = 10


@pytest.fixture(scope="module")
def recorded_run(showdown_server, team_set, tmp_path_factory):
    """10 battles of max base power (recorded) against random (recorded), both sides written."""
    out_dir = tmp_path_factory.mktemp("trajectories")
    specs = schedule_matchup("max_base_power", "random", BATTLES, team_set, seed=7)
    players = {"max_base_power": make_recording(MaxBasePowerBaseline), "random": make_recording(RandomBaseline)}
    writer = TrajectoryWriter(out_dir, sides="both")
    records = run_battles(specs, players, server=showdown_server, concurrency=5, progress=False,
                          on_battle_end=writer.on_battle_end)
    return specs, records, writer, out_dir


def test_one_valid_shard_per_battle_and_side(recorded_run):
    specs, records, writer, out_dir = recorded_run
    paths = shard_paths(out_dir)
    assert writer.shards_written == 2 * BATTLES == len(paths)
    assert writer.missing_recordings == 0
    expected_names = {f"battle{spec.index:06d}__{side}.npz" for spec in specs for side in "ab"}
    assert {path.name for path in paths} == expected_names
    by_index = {record["index"]: record for record in records}
    for path in paths:
        shard = read_shard(path)  # validates dtypes, shapes, legality of actions, done flags
        index = int(path.name[len("battle"):len("battle") + 6])
        side = path.stem[-1]
        record = by_index[index]
        meta = shard.meta
        steps = shard.steps
        assert steps.obs.shape[1] == OBS_DIM == meta["obs_dim"]
        assert meta["feature_version"] == FEATURE_VERSION and meta["format"] == "gen1ou"
        own, other = ("policy_a", "policy_b") if side == "a" else ("policy_b", "policy_a")
        assert (meta["policy"], meta["opponent"]) == (record[own], record[other])
        assert meta["seed"] == record["seed"] and meta["team"] == record[f"team_{side}"]
        flipped = {"win": "loss", "loss": "win", "tie": "tie"}
        assert meta["outcome"] == (record["result_a"] if side == "a" else flipped[record["result_a"]])
        # One decision per turn plus forced switches; unmappable orders are counted, not recorded.
        decisions = len(steps) + meta["unrecorded_steps"]
        assert record["turns"] - 1 <= decisions <= record["turns"] + 6, (decisions, record["turns"])
        assert np.isnan(steps.logp).all()  # heuristics have no behaviour log-prob
        assert np.all(steps.mask.sum(axis=1) >= 1)
        # The reward is sparse, the recorded outcome on the last step; shaping comes from Φ of each decision.
        assert steps.reward[-1] == {"win": 100.0, "loss": -100.0, "tie": 0.0}[meta["outcome"]]
        assert not steps.reward[:-1].any()
        assert np.abs(steps.potential).max() <= 15.0  # a side's harm is at most 2.5 per Pokémon


def test_max_base_power_beats_random_in_the_recorded_outcomes(recorded_run):
    _, _, _, out_dir = recorded_run
    outcomes = [read_shard(path).meta["outcome"] for path in shard_paths(out_dir) if path.stem.endswith("__a")]
    assert outcomes.count("win") >= 7  # measured: MaxBP beats random ~96 % of gen1ou battles


def test_max_base_power_records_its_own_choices(recorded_run):
    """MaxBP attacks with its strongest move when it can: the recorded action is a move slot."""
    _, _, _, out_dir = recorded_run
    actions = np.concatenate([read_shard(path).steps.action for path in shard_paths(out_dir)
                              if read_shard(path).meta["policy"] == "max_base_power"])
    assert (actions < 4).mean() > 0.8


def test_bad_arguments_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="sides"):
        TrajectoryWriter(tmp_path, sides="left")
    with pytest.raises(UsageError, match="Player class"):
        make_recording(int)
    assert make_recording(RandomBaseline) is make_recording(RandomBaseline)

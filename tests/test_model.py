"""Model configs, masked acting, checkpoints and their safety checks."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from pokepsro.core.errors import UsageError
from pokepsro.learning.model import (
    build_model,
    count_parameters,
    load_checkpoint,
    load_model_config,
    pick_device,
    policy_act,
    save_checkpoint,
)

OBS_DIM = 24
GEN1_OBS_DIM = 4725  # pokepsro.learning.features.OBS_DIM for gen1-v2; the configs state sizes for it
TINY = {"architecture": "residual_mlp", "width": 32, "depth": 2, "expansion": 2}


def random_masks(batch: int, generator: torch.Generator) -> torch.Tensor:
    mask = torch.rand(batch, 9, generator=generator) < 0.4
    mask[torch.arange(batch), torch.randint(0, 9, (batch,), generator=generator)] = True
    return mask


def save_tiny(path: Path, model: torch.nn.Module, feature_version: str = "gen1-v1") -> Path:
    return save_checkpoint(path, model, model_config=TINY, obs_dim=OBS_DIM,
                           feature_version=feature_version, train_config={"lr": 1e-3}, epoch=2,
                           metrics={"value_loss": 0.25})


@pytest.mark.parametrize("name, low, high", [("small", 1e5, 1e6), ("base", 20e6, 30e6),
                                             ("large", 180e6, 220e6)])
def test_named_configs_have_their_stated_size(name, low, high):
    with torch.device("meta"):  # counts parameters without allocating 200M floats
        model = build_model(load_model_config(name), obs_dim=GEN1_OBS_DIM)
    assert low <= count_parameters(model) <= high


def test_model_config_from_path_and_errors(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("architecture: residual_mlp\nwidth: 16\ndepth: 1\nexpansion: 2\n")
    assert load_model_config(path) == {"architecture": "residual_mlp", "width": 16, "depth": 1,
                                       "expansion": 2}
    with pytest.raises(UsageError, match="unknown model config 'huge': choose one of base, large, "
                                         "small"):
        load_model_config("huge")
    path.write_text("architecture: residual_mlp\nwidth: 16\ndepth: 1\n")
    with pytest.raises(UsageError, match="lacks keys \\['expansion'\\]"):
        load_model_config(path)
    path.write_text("architecture: residual_mlp\nwidth: -4\ndepth: 1\nexpansion: 2\n")
    with pytest.raises(UsageError, match="width must be a positive integer"):
        load_model_config(path)


def test_masked_actions_are_never_chosen_even_when_their_logits_dominate():
    generator = torch.Generator().manual_seed(0)
    model = build_model(TINY, OBS_DIM)
    with torch.no_grad():
        model.policy_head.bias.copy_(torch.tensor([50.0] * 4 + [0.0] * 5))  # moves look best
    obs = torch.randn(4000, OBS_DIM, generator=generator)
    mask = random_masks(4000, generator)
    mask[:2000, :4] = False  # half the rows may only switch
    mask[:2000, 8] = True
    for greedy, temperature in ((True, 1.0), (False, 1.0), (False, 100.0)):
        actions, logp = policy_act(model, obs, mask, temperature=temperature, greedy=greedy,
                                   generator=generator)
        assert mask[torch.arange(4000), actions].all()
        assert torch.isfinite(logp).all() and (logp <= 0).all()
    high_temperature_actions = actions
    assert len(set(high_temperature_actions[:2000].tolist())) > 1  # sampling really samples


def test_sampled_logp_is_the_tempered_log_probability_and_reproducible():
    model = build_model(TINY, OBS_DIM)
    obs = torch.randn(64, OBS_DIM)
    mask = random_masks(64, torch.Generator().manual_seed(1))
    actions, logp = policy_act(model, obs, mask, temperature=0.5,
                               generator=torch.Generator().manual_seed(5))
    again, _ = policy_act(model, obs, mask, temperature=0.5,
                          generator=torch.Generator().manual_seed(5))
    assert torch.equal(actions, again)
    with torch.no_grad():
        logits, _ = model(obs, mask)
    expected = torch.log_softmax(logits / 0.5, dim=-1).gather(-1, actions[:, None]).squeeze(-1)
    torch.testing.assert_close(logp, expected)
    greedy_actions, greedy_logp = policy_act(model, obs.numpy(), mask.numpy(), greedy=True)
    assert torch.equal(greedy_actions, logits.argmax(-1)) and (greedy_logp == 0).all()
    with pytest.raises(ValueError, match="temperature"):
        policy_act(model, obs, mask, temperature=0.0)
    mask[3] = False
    with pytest.raises(ValueError, match="row 3 has no legal action"):
        policy_act(model, obs, mask, greedy=True)


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path):
    model = build_model(TINY, OBS_DIM)
    path = save_tiny(tmp_path / "ckpts" / "epoch_2.pt", model)
    loaded = load_checkpoint(path, expected_feature_version="gen1-v1", expected_model_config=TINY,
                             expected_obs_dim=OBS_DIM)
    obs, mask = torch.randn(16, OBS_DIM), random_masks(16, torch.Generator().manual_seed(2))
    with torch.no_grad():
        for original, restored in zip(model(obs, mask), loaded.model(obs, mask)):
            assert torch.equal(original, restored)
    assert (loaded.model_config, loaded.obs_dim, loaded.feature_version, loaded.epoch) == \
        (TINY, OBS_DIM, "gen1-v1", 2)
    assert loaded.train_config == {"lr": 1e-3} and loaded.metrics == {"value_loss": 0.25}
    assert [p.name for p in path.parent.iterdir()] == ["epoch_2.pt"]


def test_checkpoint_mismatches_are_usage_errors_naming_both_sides(tmp_path):
    path = save_tiny(tmp_path / "epoch_1.pt", build_model(TINY, OBS_DIM))
    with pytest.raises(UsageError, match=f"feature version mismatch: checkpoint {path} has "
                                         "gen1-v1, this code produces gen1-v2"):
        load_checkpoint(path, expected_feature_version="gen1-v2")
    with pytest.raises(UsageError, match="architecture mismatch.*'width': 32.*'width': 64"):
        load_checkpoint(path, expected_model_config={**TINY, "width": 64})
    with pytest.raises(UsageError, match="obs_dim 24, the data has 30"):
        load_checkpoint(path, expected_obs_dim=30)
    with pytest.raises(UsageError, match=f"checkpoint not found: {tmp_path / 'nope.pt'}"):
        load_checkpoint(tmp_path / "nope.pt")


def plant_marker(path: str) -> None:
    Path(path).write_text("code ran while loading a checkpoint")


class Booby:
    """Unpickling this runs `plant_marker`: only possible if torch.load allows arbitrary objects."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return plant_marker, (str(self.marker),)


def test_loading_uses_weights_only_so_arbitrary_objects_are_refused(tmp_path):
    marker = tmp_path / "marker"
    evil = tmp_path / "evil.pt"
    payload = {"format": "pokepsro-checkpoint-v1", "state_dict": {}, "extra": Booby(marker)}
    torch.save(payload, evil)
    with pytest.raises(UsageError, match=f"checkpoint {evil} is unreadable or holds more than "
                                         "weights"):
        load_checkpoint(evil)
    assert not marker.exists()
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(UsageError, match=f"checkpoint {garbage}"):
        load_checkpoint(garbage)
    foreign = tmp_path / "foreign.pt"
    buffer = io.BytesIO()
    torch.save({"weights": torch.zeros(2)}, buffer)
    foreign.write_bytes(buffer.getvalue())
    with pytest.raises(UsageError, match="not a pokepsro checkpoint"):
        load_checkpoint(foreign)


def test_pick_device_prefers_cuda_when_present():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device().type == expected

"""Clipped PPO on the learner's own decisions (`trajectories.Steps`): the update and its config.

Must not import poke_env: the update runs wherever the model is. Episodes are complete battles, so advantages
are GAE(λ) computed as λ-returns minus the current critic's values, with no bootstrap past a battle's end.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from pokepsro.core.numerics import learner_threads
from pokepsro.learning.model import ActorCritic, load_yaml_config
from pokepsro.learning.trainer import TRAIN_CONFIG_DIR, autocast_context, validate_spec
from pokepsro.learning.trajectories import Steps

# What PPO's ratio is clipped around: the weights that played the round ("behaviour", classic PPO) or the learner's
# weights at the start of the update ("learner", decoupled PPO: the trust region stays one update wide however
# old the round's weights are, and min(1, π_learner/behaviour) corrects for the lag).
CLIP_CENTRES = ("behaviour", "learner")
PPO_CONFIG_SPEC: dict[str, tuple[type, Any, str]] = {
    "lr": (float, lambda v: v > 0, "> 0"),
    "round_battles": (int, lambda v: v >= 1, ">= 1"),
    "epochs": (int, lambda v: v >= 1, ">= 1"),
    "minibatch_size": (int, lambda v: v >= 1, ">= 1"),
    "clip": (float, lambda v: 0 < v < 1, "in (0, 1)"),
    "gamma": (float, lambda v: 0 <= v <= 1, "in [0, 1]"),
    "lambda": (float, lambda v: 0 <= v <= 1, "in [0, 1]"),
    "entropy_coef": (float, lambda v: 0 <= v <= 1, "in [0, 1]"),
    "value_coef": (float, lambda v: v >= 0, ">= 0"),
    "kl_coef": (float, lambda v: v >= 0, ">= 0"),
    "target_kl": (float, lambda v: v >= 0, ">= 0 (0 = no early stop)"),
    "grad_clip": (float, lambda v: v > 0, "> 0"),
    "reward_scale": (float, lambda v: v > 0, "> 0"),
    "temperature": (float, lambda v: 0 < v <= 2, "in (0, 2]"),
    "greedy_eval_every_rounds": (int, lambda v: v >= 0, ">= 0 (0 = no greedy evaluation)"),
    "greedy_eval_battles": (int, lambda v: v >= 1, ">= 1"),
    "policy_lag": (int, lambda v: v >= 0, ">= 0 (0 = every round waits for the update before it)"),
    "clip_around": (str, lambda v: v in CLIP_CENTRES, f"one of {', '.join(CLIP_CENTRES)}"),
    "defer_after_turns": (int, lambda v: v >= 0, ">= 0 (0 = every battle is trained on by its own round's update)"),
}
METRICS = ("policy_loss", "value_loss", "entropy", "approx_kl", "kl_to_init", "clip_fraction")
VALUE_CHUNK = 8192


def validate_ppo_config(config: Mapping[str, Any]) -> dict:
    return validate_spec(config, PPO_CONFIG_SPEC, "ppo")


def load_ppo_config(name_or_path: str | os.PathLike | Mapping[str, Any]) -> dict:
    """`ppo` (config/train/ppo.yaml), a YAML path or a dict, validated."""
    if isinstance(name_or_path, Mapping):
        return validate_ppo_config(name_or_path)
    return validate_ppo_config(load_yaml_config(name_or_path, TRAIN_CONFIG_DIR, "ppo"))


@torch.no_grad()
def _forward_all(model: ActorCritic, obs: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    logits, values = [], []
    with autocast_context(obs.device):
        for start in range(0, len(obs), VALUE_CHUNK):
            chunk_logits, chunk_values = model(obs[start:start + VALUE_CHUNK], mask[start:start + VALUE_CHUNK])
            logits.append(chunk_logits.float())
            values.append(chunk_values.float())
    return torch.cat(logits), torch.cat(values)


def ppo_update(model: ActorCritic, optimizer: torch.optim.Optimizer, batch: Steps, config: Mapping[str, Any],
               *, generator: torch.Generator, reference: ActorCritic | None = None) -> dict[str, float]:
    """`epochs` passes of clipped PPO over `batch` (a round's steps: complete battles, in battle order) in shuffled
    minibatches; returns mean metrics.

    Loss = −w·min(ρA, clip(ρ)A) + value_coef·(V − G^λ)² − entropy_coef·H + kl_coef·KL(π‖π_init), with
    ρ = π(a|s) / centre(a|s) and A the per-round normalised GAE(λ) of the potential-shaped reward (shaped with
    the config's γ inside `lambda_returns`). With `clip_around: behaviour` the centre is the behaviour policy
    (the recorded log-probs) and w = 1; with `learner` (decoupled PPO, Hilton et al. 2022) the centre is the
    learner before this update and w = min(1, centre(a|s) / behaviour(a|s)), truncated as V-trace's ρ̄. π is the
    policy at the learner's sampling `temperature` (softmax of logits / T), the one that chose the actions.
    Stops early when the approximate KL to the centre passes `target_kl` (0 = never). Runs on
    `learner_threads()`, so the new weights are the same bits on any machine.
    """
    with learner_threads():
        return _ppo_update(model, optimizer, batch, config, generator, reference)


def _ppo_update(model: ActorCritic, optimizer: torch.optim.Optimizer, batch: Steps, config: Mapping[str, Any],
                generator: torch.Generator, reference: ActorCritic | None) -> dict[str, float]:
    data = batch.to(next(model.parameters()).device)
    obs, mask, action, old_logp = data.obs, data.mask, data.action, data.logp
    device = obs.device
    model.eval()
    logits, values = _forward_all(model, obs, mask)
    learner_log_probs = torch.log_softmax(logits / config["temperature"], dim=-1)
    behaviour_kl = _approx_kl(learner_log_probs, action, old_logp)
    centre_logp, weight = old_logp, torch.ones_like(old_logp)
    if config["clip_around"] == "learner":
        centre_logp = learner_log_probs.gather(-1, action.unsqueeze(-1)).squeeze(-1)
        weight = (centre_logp - old_logp).exp().clamp(max=1.0)
    returns = data.lambda_returns(values, config["reward_scale"], config["gamma"], config["lambda"])
    advantage = returns - values
    advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
    reference_logp = None
    if reference is not None and config["kl_coef"] > 0:
        reference_logp = torch.log_softmax(_forward_all(reference, obs, mask)[0] / config["temperature"], dim=-1)
    model.train()
    totals = torch.zeros(len(METRICS), device=device)
    steps = 0
    size = min(config["minibatch_size"], len(batch))
    for _ in range(config["epochs"]):
        order = torch.randperm(len(batch), generator=generator).to(device)
        epoch_kl = torch.zeros((), device=device)
        epoch_steps = 0
        for start in range(0, len(order) - size + 1, size):
            index = order[start:start + size]
            metrics = _minibatch_step(model, optimizer, config, obs[index], mask[index], action[index],
                                      centre_logp[index], weight[index], advantage[index], returns[index],
                                      None if reference_logp is None else reference_logp[index])
            totals += metrics
            epoch_kl += metrics[METRICS.index("approx_kl")]
            steps += 1
            epoch_steps += 1
        if config["target_kl"] > 0 and (epoch_kl / max(epoch_steps, 1)).item() > config["target_kl"]:
            break
    means = (totals / max(steps, 1)).tolist()
    return {**dict(zip(METRICS, means)), "updates": steps, "samples": len(batch), "processed": steps * size,
            "explained_variance": _explained_variance(values, returns), "behaviour_kl": behaviour_kl}


def _minibatch_step(model: ActorCritic, optimizer: torch.optim.Optimizer, config: Mapping[str, Any],
                    obs, mask, action, centre_logp, weight, advantage, returns, reference_logp) -> torch.Tensor:
    with autocast_context(obs.device):
        logits, value = model(obs, mask)
    log_probs = torch.log_softmax(logits / config["temperature"], dim=-1)
    probs = log_probs.exp()
    new_logp = log_probs.gather(-1, action.unsqueeze(-1)).squeeze(-1)
    log_ratio = new_logp - centre_logp
    ratio = log_ratio.exp()
    clip = config["clip"]
    policy_loss = -(weight * torch.min(ratio * advantage, ratio.clamp(1 - clip, 1 + clip) * advantage)).mean()
    value_loss = nn.functional.mse_loss(value, returns)
    entropy = -(probs * log_probs).sum(-1).mean()  # masked actions: p = 0, log p finite, so they add 0
    kl_to_init = ((probs * (log_probs - reference_logp)).sum(-1).mean() if reference_logp is not None
                  else torch.zeros((), device=obs.device))
    loss = (policy_loss + config["value_coef"] * value_loss - config["entropy_coef"] * entropy
            + config["kl_coef"] * kl_to_init)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), config["grad_clip"])
    optimizer.step()
    with torch.no_grad():
        approx_kl = ((ratio - 1) - log_ratio).mean()
        clip_fraction = ((ratio - 1).abs() > clip).float().mean()
    return torch.stack([policy_loss.detach(), value_loss.detach(), entropy.detach(), approx_kl,
                        kl_to_init.detach(), clip_fraction])


def _approx_kl(log_probs: torch.Tensor, action: torch.Tensor, old_logp: torch.Tensor) -> float:
    """KL(behaviour ‖ π) estimated on the taken actions, (ρ − 1) − log ρ: before the first step, how far the
    weights that played the round lag behind the learner's."""
    log_ratio = log_probs.gather(-1, action.unsqueeze(-1)).squeeze(-1) - old_logp
    return float(((log_ratio.exp() - 1) - log_ratio).mean())


def _explained_variance(values: torch.Tensor, returns: torch.Tensor) -> float:
    """1 − Var(G − V)/Var(G): how much of the return the critic predicted before the update."""
    variance = returns.var()
    return float(1 - (returns - values).var() / variance) if variance > 0 else float("nan")


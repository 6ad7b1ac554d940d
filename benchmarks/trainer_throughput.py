"""Train-step throughput of a model config on this machine's device.

Runs the trainer's own `train_step` (bf16 autocast on CUDA) on a synthetic device-resident dataset,
gathering random batches exactly as `pokepsro.learning.trainer.train` does, and prints samples/s per batch
size; on CUDA also achieved TFLOP/s, model-FLOPs utilisation (FLOPs ~ 6 x params x samples for
forward + backward of an MLP) and peak memory. Needs torch, numpy, pyyaml and tqdm; no simulator.

    python benchmarks/trainer_throughput.py --model base --batch-sizes 256 1024 4096
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a bare checkout too

from pokepsro.core.files import atomic_write_json
from pokepsro.learning.model import build_model, count_parameters, load_model_config, pick_device
from pokepsro.learning.trainer import Batch, load_train_config, make_optimizer, train_step

MIN_DATASET_STEPS = 16384  # random gathers from more rows than fit in cache, like real data


def synthetic_data(steps: int, obs_dim: int, device: torch.device,
                   generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Random observations, masks with at least one legal action, legal actions, return targets."""
    mask = torch.rand(steps, 9, generator=generator) < 0.5
    action = torch.multinomial(mask.float() + 1e-6 * (~mask).float(), 1, generator=generator)
    mask[torch.arange(steps), action.squeeze(-1)] = True
    data = {"obs": torch.randn(steps, obs_dim, generator=generator), "mask": mask,
            "action": action.squeeze(-1), "target": torch.randn(steps, generator=generator)}
    return {name: tensor.to(device) for name, tensor in data.items()}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(model_config: dict, train_config: dict, obs_dim: int, batch_size: int,
            device: torch.device, warmup_steps: int, timed_steps: int) -> dict:
    torch.manual_seed(0)
    model = build_model(model_config, obs_dim).to(device)
    optimizer, scheduler = make_optimizer(model, train_config)
    data = synthetic_data(max(MIN_DATASET_STEPS, 4 * batch_size), obs_dim, device,
                          torch.Generator().manual_seed(0))
    rng = np.random.default_rng(0)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def step() -> torch.Tensor:
        index = torch.from_numpy(rng.integers(0, len(data["action"]), batch_size)).to(device)
        batch = Batch(obs=data["obs"][index], mask=data["mask"][index],
                      action=data["action"][index], target=data["target"][index])
        return train_step(model, optimizer, scheduler, batch,
                          policy_loss=train_config["policy_loss"],
                          value_loss_weight=train_config["value_loss_weight"],
                          grad_clip=train_config["grad_clip"])

    for _ in range(warmup_steps):
        step()
    synchronize(device)
    started = time.perf_counter()
    for _ in range(timed_steps):
        metrics = step()
    synchronize(device)
    seconds = time.perf_counter() - started
    if not torch.isfinite(metrics).all():
        raise RuntimeError(f"non-finite training metrics at batch size {batch_size}: {metrics}")
    params = count_parameters(model)
    samples_per_s = timed_steps * batch_size / seconds
    result = {"batch_size": batch_size, "params": params, "ms_per_step": 1000 * seconds / timed_steps,
              "samples_per_s": samples_per_s, "tflops": 6 * params * samples_per_s / 1e12}
    if device.type == "cuda":
        result["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return result


def format_table(results: list[dict], peak_tflops: float | None) -> str:
    header = f"{'batch':>7} {'ms/step':>9} {'samples/s':>12} {'TFLOP/s':>9}"
    header += f" {'MFU':>7} {'peak GiB':>9}" if peak_tflops else ""
    lines = [header]
    for row in results:
        line = (f"{row['batch_size']:>7} {row['ms_per_step']:>9.2f} {row['samples_per_s']:>12.0f} "
                f"{row['tflops']:>9.2f}")
        if peak_tflops:
            line += f" {row['tflops'] / peak_tflops:>7.1%} {row['peak_memory_gib']:>9.2f}"
        lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base", help="model config name or YAML path")
    parser.add_argument("--train-config", default="bootstrap",
                        help="train config (optimizer, loss); name or YAML path")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--obs-dim", type=int, default=4725,
                        help="observation size (gen1-v2 features: 4725)")
    parser.add_argument("--warmup-steps", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per batch size")
    parser.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    parser.add_argument("--peak-tflops", type=float, default=989.0,
                        help="device peak for MFU (bf16 dense: 989 for H100 SXM and H200, same GH100 compute)")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args(argv)

    device = torch.device(args.device) if args.device else pick_device()
    model_config = load_model_config(args.model)
    train_config = load_train_config(args.train_config)
    on_cuda = device.type == "cuda"
    name = torch.cuda.get_device_name(device) if on_cuda else "cpu"
    print(f"model {args.model} {model_config}, obs_dim {args.obs_dim}, device {name}, "
          f"{'bf16 autocast' if on_cuda else 'fp32'}, torch {torch.__version__}")
    results = [measure(model_config, train_config, args.obs_dim, batch_size, device,
                       args.warmup_steps, args.steps) for batch_size in args.batch_sizes]
    print(f"params {results[0]['params']:,}")
    print(format_table(results, args.peak_tflops if on_cuda else None))
    if args.json:
        atomic_write_json(args.json, {"model": args.model, "model_config": model_config,
                                      "obs_dim": args.obs_dim, "device": name,
                                      "peak_tflops": args.peak_tflops if on_cuda else None,
                                      "results": results})


if __name__ == "__main__":
    main()

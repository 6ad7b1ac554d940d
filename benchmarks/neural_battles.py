"""Neural player vs a heuristic: battles/s and decisions per forward pass, on this machine, in one run.

Default: batched inference (one forward pass for all pending decisions of a process) against one forward pass
per decision, in this process, on this machine's device (cuda if there is one):

    python benchmarks/neural_battles.py [--checkpoint CKPT] [--model small] [--battles 200] [--concurrency 16]

Sweep: battle worker processes x inference device, batched (how a tournament plays a neural member): every
worker process loads its own copy of the policy on --devices and batches its own battles' decisions.

    python benchmarks/neural_battles.py --workers 1 4 8 14 --devices cuda cpu --battles-per-worker 40 \
        --concurrency-per-worker 16 --json out.json

Each row reports battles/s over the whole call (worker start-up, CUDA initialisation and the ragged end
included) and in steady state (between the 10th and 90th percentile of battle end times), decisions per forward
pass (every process's passes counted), CPU cores used (CPU seconds of this process and every worker and
simulator over wall seconds) and, where nvidia-smi answers, GPU utilisation (mean, max) and memory used (max)
sampled every 0.25 s. Without --checkpoint a freshly initialised model of --model is used (speed does not
depend on the weights).
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pokepsro.battles.api import run_battles  # noqa: E402
from pokepsro.battles.spec import schedule_matchup  # noqa: E402
from pokepsro.core.files import atomic_write_json  # noqa: E402
from pokepsro.gen1.baselines import BASELINES  # noqa: E402
from pokepsro.gen1.teams import load_team_set  # noqa: E402
from pokepsro.learning.features import FEATURE_VERSION, OBS_DIM  # noqa: E402
from pokepsro.learning.model import build_model, load_model_config, save_checkpoint  # noqa: E402
from pokepsro.learning.neural import _SHARED_POLICIES, NeuralPlayer  # noqa: E402


def fresh_checkpoint(model_name: str, folder: Path) -> Path:
    config = load_model_config(model_name)
    path = folder / f"{Path(model_name).stem}_epoch_0.pt"
    save_checkpoint(path, build_model(config, OBS_DIM), model_config=config, obs_dim=OBS_DIM,
                    feature_version=FEATURE_VERSION, train_config={}, epoch=0, metrics={})
    return path


def policy_counts() -> tuple[int, int]:
    """(forward passes, decisions) of every batched policy of this process so far."""
    passes = decisions = 0
    for policy in list(_SHARED_POLICIES.values()):
        passes += sum(policy.batch_sizes.values())
        decisions += sum(size * count for size, count in policy.batch_sizes.items())
    return passes, decisions


class StampCounts:
    """Battle-end callback (runs in the process that played the battle): stamps the record with that process's
    id, its policies' cumulative forward passes and decisions, and the end time. Module-level, so worker
    processes can receive it (this file is imported as the module `neural_battles` there)."""

    def __call__(self, spec, side_a, side_b, record: dict) -> None:
        passes, decisions = policy_counts()
        record["bench"] = {"pid": os.getpid(), "passes": passes, "decisions": decisions, "t": time.time()}


class GpuSampler:
    """nvidia-smi every `interval` s in a thread: utilisation % and memory MiB of GPU 0 (nothing without it)."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                line = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
                                       "--format=csv,noheader,nounits", "-i", "0"], capture_output=True,
                                      text=True, timeout=5).stdout.strip()
                util, memory = (float(x) for x in line.split(","))
                self.samples.append((util, memory))
            except (OSError, ValueError, subprocess.TimeoutExpired):
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> GpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        if not self.samples:
            return {}
        utils = [u for u, _ in self.samples]
        return {"gpu_util_mean": sum(utils) / len(utils), "gpu_util_max": max(utils),
                "gpu_memory_max_mib": max(m for _, m in self.samples), "gpu_samples": len(self.samples)}


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # workers and simulators, once reaped
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def steady_rate(times: list[float]) -> float | None:
    """Battles/s between the 10th and the 90th percentile of battle end times (start-up and tail left out)."""
    times = sorted(times)
    low, high = len(times) // 10, (9 * len(times)) // 10
    if high - low < 2 or times[high] <= times[low]:
        return None
    return (high - low) / (times[high] - times[low])


def measure(checkpoint: Path, opponent: str, *, batched: bool, battles: int, concurrency: int, backend: str,
            seed: int, workers: int = 1, device: str | None = None, label: str = "") -> dict:
    specs = schedule_matchup("neural", opponent, battles, load_team_set("competitive"), seed)
    players = {"neural": functools.partial(NeuralPlayer, checkpoint=checkpoint, batched=batched, device=device),
               opponent: BASELINES[opponent]}
    before = policy_counts()
    cpu_before = cpu_seconds()
    with GpuSampler() as gpu:
        start = time.perf_counter()
        records = run_battles(specs, players, concurrency=concurrency, backend=backend, progress=False,
                              workers=workers, on_battle_end=StampCounts())
        seconds = time.perf_counter() - start
    cpu = cpu_seconds() - cpu_before
    last: dict[int, dict] = {}  # per process: its last stamp (the counts are cumulative)
    for record in records:
        stamp = record["bench"]
        if stamp["passes"] >= last.get(stamp["pid"], {"passes": -1})["passes"]:
            last[stamp["pid"]] = stamp
    passes = decisions = 0
    for pid, stamp in last.items():
        base = before if pid == os.getpid() else (0, 0)
        passes += stamp["passes"] - base[0]
        decisions += stamp["decisions"] - base[1]
    turns = sum(r["turns"] for r in records)
    steady = steady_rate([r["bench"]["t"] for r in records])
    return {"label": label, "mode": "batched" if batched else "one at a time", "backend": backend,
            "device": device or str(torch.device("cuda" if torch.cuda.is_available() else "cpu")),
            "checkpoint": checkpoint.name, "workers": workers, "concurrency": concurrency,
            "battles": len(records), "seconds": seconds, "battles_per_s": len(records) / seconds,
            "steady_battles_per_s": steady, "turns_per_s": turns / seconds,
            "decisions": decisions, "forward_passes": passes,
            "decisions_per_s": decisions / seconds if passes else None,
            "mean_batch": decisions / passes if passes else 1.0, "processes_with_policy": len(last),
            "cpu_cores_used": cpu / seconds, **gpu.summary(),
            "win_rate": sum(r["result_a"] == "win" for r in records) / len(records)}


def compare_batching(checkpoint: Path, args) -> list[dict]:
    """The original comparison: batched, one forward pass per decision, batched again; one process."""
    return [measure(checkpoint, args.opponent, batched=batched, battles=args.battles, concurrency=args.concurrency,
                    backend=args.backend, seed=seed, device=args.devices[0] if args.devices else None,
                    label=args.label)
            for seed, batched in ((1, True), (2, False), (3, True))]


def sweep(checkpoint: Path, args) -> list[dict]:
    rows = []
    for device in args.devices or [None]:
        for seed, workers in enumerate(args.workers, start=10):
            battles = max(args.battles, args.battles_per_worker * workers)
            row = measure(checkpoint, args.opponent, batched=True, battles=battles,
                          concurrency=args.concurrency_per_worker * workers, backend="direct", seed=seed,
                          workers=workers, device=device, label=args.label)
            print(format_rows([row], header=False), flush=True)
            rows.append(row)
    return rows


def format_rows(rows: list[dict], header: bool = True) -> str:
    lines = []
    if header:
        lines += ["| model | device | mode | workers | battles | battles/s | steady battles/s | decisions/pass "
                  "| decisions/s | CPU cores | GPU util mean/max % | GPU MiB max |",
                  "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in rows:
        steady = f"{r['steady_battles_per_s']:.1f}" if r["steady_battles_per_s"] else "–"
        per_s = f"{r['decisions_per_s']:.0f}" if r["decisions_per_s"] else "–"
        gpu = (f"{r['gpu_util_mean']:.0f} / {r['gpu_util_max']:.0f}" if "gpu_util_mean" in r else "–")
        memory = f"{r['gpu_memory_max_mib']:.0f}" if "gpu_memory_max_mib" in r else "–"
        lines.append(f"| {r['label'] or r['checkpoint']} | {r['device']} | {r['mode']} | {r['workers']} "
                     f"| {r['battles']} | {r['battles_per_s']:.1f} | {steady} | {r['mean_batch']:.1f} | {per_s} "
                     f"| {r['cpu_cores_used']:.1f} | {gpu} | {memory} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--model", default="small", help="model config when no checkpoint is given")
    parser.add_argument("--label", default="", help="row label (default: the checkpoint's file name)")
    parser.add_argument("--opponent", default="max_base_power", choices=sorted(BASELINES))
    parser.add_argument("--battles", type=int, default=200, help="battles per row (sweep: the least per row)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--backend", default="direct", choices=["direct", "server"])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest for inference)")
    parser.add_argument("--workers", type=int, nargs="+", default=None,
                        help="sweep over these numbers of battle worker processes (direct backend)")
    parser.add_argument("--devices", nargs="+", default=None, help="inference devices (default: cuda if available)")
    parser.add_argument("--battles-per-worker", type=int, default=40, help="sweep: battles per worker process")
    parser.add_argument("--concurrency-per-worker", type=int, default=16, help="sweep: battles in flight per worker")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"nproc {os.cpu_count()}, load average {os.getloadavg()}, torch {torch.__version__}, "
          f"cuda {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}, threads {args.threads}, "
          f"backend {args.backend}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = args.checkpoint or fresh_checkpoint(args.model, Path(folder))
        args.label = args.label or (args.model if args.checkpoint is None else checkpoint.name)
        rows = sweep(checkpoint, args) if args.workers else compare_batching(checkpoint, args)
    print(f"\nneural vs {args.opponent}\n" + format_rows(rows))
    if not args.workers:
        batched = [r["battles_per_s"] for r in rows if r["mode"] == "batched"]
        single = [r["battles_per_s"] for r in rows if r["mode"] != "batched"][0]
        print(f"\nbatched / one-at-a-time: {sum(batched) / len(batched) / single:.2f}x")
    if args.json:
        atomic_write_json(args.json, {"opponent": args.opponent, "rows": rows})
    return 0


if __name__ == "__main__":
    # Run through the module `neural_battles` (this file's folder is sys.path[0]), so the battle-end callback
    # pickles under a name that worker processes can import.
    import neural_battles

    sys.exit(neural_battles.main())

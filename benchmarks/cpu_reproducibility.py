"""Do the learner's numbers depend on the CPU's code path, and what does pinning one path cost?

Each variant runs in a fresh process (kernels are picked once per process) with its own environment: the
machine's own choice (`POKEPSRO_CPU_KERNELS=native`), forced other paths (`ATEN_CPU_CAPABILITY`,
`MKL_ENABLE_INSTRUCTIONS`, thread counts), and the same under the default portable pin (pokepsro/core/numerics.py).
Each prints a digest of the acting logits and of the weights after a few PPO updates on one synthetic rollout, and
the seconds per update. Equal digests = the same bits.

    python benchmarks/cpu_reproducibility.py [--updates 3] [--samples 4500]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NATIVE_FORCINGS = {
    "machine's choice": {},
    "ATEN avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "ATEN default (no SIMD)": {"ATEN_CPU_CAPABILITY": "default"},
    "MKL limited to AVX2": {"MKL_ENABLE_INSTRUCTIONS": "AVX2"},
}
THREADS = (1, 2, 4)

PROBE = r"""
import hashlib, json, sys, time
import numpy as np, torch
torch.set_num_threads(int(sys.argv[1]))  # the job's own thread count: updates run on learner_threads() anyway
from pokepsro.core.numerics import kernel_report
from pokepsro.learning.model import acting_logits, build_model
from pokepsro.learning.oracle.ppo import load_ppo_config, ppo_update
from pokepsro.learning.trajectories import Steps
samples, updates, obs_dim = int(sys.argv[2]), int(sys.argv[3]), 4725
torch.manual_seed(0)
model = build_model({"architecture": "residual_mlp", "width": 128, "depth": 3, "expansion": 2}, obs_dim)
rng = np.random.default_rng(0)
done = np.zeros(samples, bool); done[39::40] = True; done[-1] = True
rollout = Steps(obs=rng.standard_normal((samples, obs_dim)).astype(np.float32), mask=np.ones((samples, 9), bool),
                action=rng.integers(0, 9, samples), logp=np.full(samples, -2.2, np.float32),
                reward=rng.standard_normal(samples).astype(np.float32),
                potential=rng.standard_normal(samples).astype(np.float32), done=done)
digest = lambda tensors: hashlib.sha256(b"".join(t.detach().cpu().numpy().tobytes() for t in tensors)).hexdigest()[:12]
with torch.no_grad():
    acting = digest([acting_logits(model, torch.from_numpy(rollout.obs[:64]), torch.from_numpy(rollout.mask[:64]))])
optimizer = torch.optim.Adam(model.parameters(), lr=3e-4)
started = time.perf_counter()
for number in range(updates):
    ppo_update(model, optimizer, rollout, load_ppo_config("ppo"), generator=torch.Generator().manual_seed(number))
seconds = (time.perf_counter() - started) / updates
print(json.dumps({"acting": acting, "weights": digest(model.state_dict().values()), "update_s": seconds,
                  **kernel_report()}))
"""


def run_variant(kernels: str, forcing: dict, threads: int, samples: int, updates: int) -> dict:
    env = {**os.environ, **forcing, "POKEPSRO_CPU_KERNELS": kernels, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", PROBE, str(threads), str(samples), str(updates)], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=3)
    parser.add_argument("--samples", type=int, default=4500)
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {_cpu_name()}; python {platform.python_version()}")
    rows = []
    for kernels in ("native", "portable"):
        for name, forcing in NATIVE_FORCINGS.items():
            for threads in THREADS:
                result = run_variant(kernels, forcing, threads, args.samples, args.updates)
                rows.append((kernels, name, threads, result))
                print(f"{kernels:8} | {name:22} | job threads {threads} | kernels {result['cpu_capability']:7} | "
                      f"acting {result['acting']} | weights {result['weights']} | {result['update_s']:.3f} s/update",
                      flush=True)
    for kernels in ("native", "portable"):
        digests = {(row[3]["acting"], row[3]["weights"]) for row in rows if row[0] == kernels}
        seconds = [row[3]["update_s"] for row in rows if row[0] == kernels and row[1] == "machine's choice"]
        print(f"{kernels}: {len(digests)} distinct results over {len(NATIVE_FORCINGS) * len(THREADS)} variants; "
              f"update {min(seconds):.3f}-{max(seconds):.3f} s on the machine's choice")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()

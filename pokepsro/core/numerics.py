"""One floating-point code path on every x86-64 CPU, so a rerun on another machine gives the same bits.

torch and MKL pick their kernels by CPU: torch's vectorised kernels (reductions, layer norm, softmax, Adam) use
AVX-512 where the CPU has it and AVX2 elsewhere, and MKL's matrix products pick per instruction set and per
thread count. Each path rounds differently (~1e-7), and one flipped near-tie changes the rest of a run. Pinned:

- torch's kernels to AVX2 (`ATEN_CPU_CAPABILITY=avx2`), which every AVX-512 and AMX CPU also runs;
- MKL to its conditional numerical reproducibility mode for AVX2, strict (`MKL_CBWR=AVX2,STRICT`): the same
  bits on any AVX2 CPU, whatever the thread count;
- every pass that changes weights to LEARNER_THREADS threads (`learner_threads()`), and every pass that picks
  actions to one (`acting_threads()`): a reduction split over threads adds in another order with another
  thread count, and even MKL's strict mode gave other acting logits on 4 threads than on 1 or 2.

Both variables are read when torch runs its first kernel, so `pokepsro/__init__.py` sets them on import. Set
`POKEPSRO_CPU_KERNELS=native` to let each machine pick its own kernels (faster on some CPUs; reruns then
reproduce only on the same CPU). CUDA runs are outside this: they reproduce on the same GPU model and software.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from collections.abc import Iterator
from pathlib import Path

KERNELS_ENV = "POKEPSRO_CPU_KERNELS"  # portable (default) | native
PORTABLE_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2,STRICT"}
LEARNER_THREADS = 2  # torch threads of every weight update, on any machine (see learner_threads)
ACTING_THREADS = 1  # small batched forward passes: a second thread only fights the simulator for its core


def cpu_has_avx2() -> bool:
    try:
        return " avx2 " in f" {Path('/proc/cpuinfo').read_text()} ".replace("\t", " ").replace("\n", " ")
    except OSError:
        return False


def pin_cpu_kernels() -> bool:
    """Pin the portable code path unless the user chose `native`; True when pinned.

    Only on x86-64 CPUs with AVX2: elsewhere there is no common path to pin (and forcing AVX2 on a CPU without it
    would crash), so results reproduce per architecture only.
    """
    choice = os.environ.get(KERNELS_ENV, "portable")
    if choice not in ("portable", "native"):
        sys.stderr.write(f"error: {KERNELS_ENV}={choice!r}: use portable (the default) or native\n")
        raise SystemExit(2)
    if choice == "native" or platform.machine().lower() not in ("x86_64", "amd64") or not cpu_has_avx2():
        return False
    os.environ.update(PORTABLE_ENV)
    return True


def kernel_report() -> dict:
    """What the numbers of this process were computed with, for logs and checkpoints."""
    import torch

    return {"cpu_capability": torch.backends.cpu.get_cpu_capability(), "mkl_cbwr": os.environ.get("MKL_CBWR"),
            "kernels": os.environ.get(KERNELS_ENV, "portable"), "learner_threads": LEARNER_THREADS}


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block on `count` torch threads of the calling thread, then restore its count.

    Reductions split their input into one chunk per thread, so the thread count decides the order of additions;
    a fixed count makes the bits the same on a 2-core laptop and a 64-core server. Set in the thread that computes:
    OpenMP keeps one count per thread, so a count set in the main thread does not reach poke-env's loop thread.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def learner_threads() -> contextlib.AbstractContextManager[None]:
    """The thread count of every weight update."""
    return torch_threads(LEARNER_THREADS)


def acting_threads() -> contextlib.AbstractContextManager[None]:
    """The thread count of every forward pass that picks actions."""
    return torch_threads(ACTING_THREADS)

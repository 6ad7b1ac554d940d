"""One floating-point code path on every x86-64 CPU (pokepsro/core/numerics.py): the acting logits and the weights
after PPO updates are the same bits whatever kernels the machine or the environment would pick, while the same
forcing without the pin does change them (so the comparison can fail). Each variant runs in a fresh process,
because kernels are picked once per process."""

from __future__ import annotations

import importlib.util
import os
import platform
from pathlib import Path

import pytest

from pokepsro.core.numerics import cpu_has_avx2

SPEC = importlib.util.spec_from_file_location(
    "cpu_reproducibility", Path(__file__).resolve().parents[1] / "benchmarks" / "cpu_reproducibility.py")
benchmark = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(benchmark)

# Other code paths a machine of this kind could take, forced on this one: torch's kernels without SIMD (another
# vector width than this CPU's), MKL held to AVX2 (what it runs on AVX2-only CPUs), more threads than cores.
OTHER_PATH = {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}

pytestmark = pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64") or not cpu_has_avx2(),
                                reason="the portable path is pinned on x86-64 CPUs with AVX2 only")


def variant(kernels: str, forcing: dict, threads: int) -> tuple[str, str]:
    result = benchmark.run_variant(kernels, forcing, threads, samples=600, updates=2)
    return result["acting"], result["weights"]


def test_a_forced_other_cpu_path_changes_the_bits_without_the_pin():
    """The forcing is real: without the pin, torch's kernels without SIMD give other logits and other weights."""
    assert variant("native", {}, 2) != variant("native", OTHER_PATH, 2)


def test_the_pinned_path_gives_the_same_bits_under_every_forced_path_and_thread_count():
    reference = variant("portable", {}, 2)
    assert variant("portable", OTHER_PATH, 2) == reference
    assert variant("portable", {}, 1) == reference
    assert variant("portable", OTHER_PATH, 4) == reference


def test_the_pin_is_in_force_in_this_process_and_a_bad_choice_is_refused(monkeypatch, capsys):
    import torch

    from pokepsro.core.numerics import pin_cpu_kernels

    assert os.environ.get("POKEPSRO_CPU_KERNELS", "portable") != "portable" or \
        torch.backends.cpu.get_cpu_capability() == "AVX2"
    monkeypatch.setenv("POKEPSRO_CPU_KERNELS", "fast")
    with pytest.raises(SystemExit) as exit_info:
        pin_cpu_kernels()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: POKEPSRO_CPU_KERNELS='fast': use portable (the default) or native\n"

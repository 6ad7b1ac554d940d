"""pokepsro: PSRO for Pokémon Showdown (Gen 1 OU) as a file-driven Snakemake pipeline."""

from pokepsro.core.numerics import pin_cpu_kernels

__version__ = "0.1.0"

pin_cpu_kernels()  # before torch runs its first kernel: one code path on every x86-64 CPU (core/numerics.py)

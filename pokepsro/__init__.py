"""pokepsro: PSRO for Pokémon Showdown (Gen 1 OU) as a file-driven Snakemake pipeline."""

__version__ = "0.1.0"

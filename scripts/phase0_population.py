from pathlib import Path

from pokepsro.workflow.populations import write_phase0_population
from pokepsro.workflow.snakemake_job import run_job

run_job(snakemake, write_phase0_population, baselines=Path(snakemake.input.baselines),
        checkpoint=Path(snakemake.input.checkpoint), out=Path(snakemake.output[0]),
        acting=snakemake.params.acting)

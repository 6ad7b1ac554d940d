from pathlib import Path

from pokepsro.workflow.populations import grow_population
from pokepsro.workflow.snakemake_job import run_job

run_job(snakemake, grow_population, previous=Path(snakemake.input.population),
        checkpoint=Path(snakemake.input.checkpoint), iteration=int(snakemake.wildcards.i),
        out=Path(snakemake.output[0]), acting=snakemake.params.acting)

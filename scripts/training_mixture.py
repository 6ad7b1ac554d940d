from pathlib import Path

from pokepsro.workflow.snakemake_job import run_job
from pokepsro.workflow.training import training_mixture_stage

run_job(snakemake, training_mixture_stage, population=Path(snakemake.input.population),
        strategy=Path(snakemake.input.strategy), matrix=Path(snakemake.input.matrix),
        start_name=snakemake.params.start_name, selection=snakemake.params.selection, out=Path(snakemake.output[0]))

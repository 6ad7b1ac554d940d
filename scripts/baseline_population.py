from pathlib import Path

from pokepsro.workflow.populations import write_baseline_population
from pokepsro.workflow.snakemake_job import run_job

run_job(snakemake, write_baseline_population, out=Path(snakemake.output[0]),
        baselines=snakemake.params.baselines, extra_policies=snakemake.params.extra_policies)

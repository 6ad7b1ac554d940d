from pathlib import Path

from pokepsro.workflow.snakemake_job import run_job
from pokepsro.workflow.jobs import write_baseline_population

run_job(snakemake, write_baseline_population, out=Path(snakemake.output[0]),
        baselines=snakemake.params.baselines, extra_policies=snakemake.params.extra_policies)

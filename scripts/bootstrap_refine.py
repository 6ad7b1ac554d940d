from pathlib import Path

from pokepsro.core.run_logger import workflow_logger
from pokepsro.workflow.snakemake_job import job_runtime, run_job
from pokepsro.workflow.training import refine_bootstrap_stage

run_job(snakemake, refine_bootstrap_stage, init=Path(snakemake.input.init), opponents=snakemake.params.opponents,
        out_checkpoint=Path(snakemake.output.checkpoint), training_out=Path(snakemake.output.training),
        seed=snakemake.params.seed, team_set=snakemake.params.team_set, battle=snakemake.params.battle,
        runtime=job_runtime(snakemake.config, rollouts=True),
        options=snakemake.params.options, logger=workflow_logger(snakemake.config))

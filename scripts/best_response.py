from pathlib import Path

from pokepsro.core.run_logger import workflow_logger
from pokepsro.workflow.snakemake_job import job_runtime, run_job
from pokepsro.workflow.training import best_response_stage

run_job(snakemake, best_response_stage, oracle=snakemake.params.oracle, learner_name=snakemake.params.learner_name,
        init=Path(snakemake.input.init), population=Path(snakemake.input.population),
        mixture=Path(snakemake.input.mixture), out_checkpoint=Path(snakemake.output.checkpoint),
        training_out=Path(snakemake.output.training), seed=snakemake.params.seed, team_set=snakemake.params.team_set,
        battle=snakemake.params.battle, runtime=job_runtime(snakemake.config, rollouts=True),
        options=snakemake.params.options, inputs=dict(snakemake.input.items()),
        logger=workflow_logger(snakemake.config))

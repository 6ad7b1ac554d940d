from pathlib import Path

from pokepsro.core.run_logger import workflow_logger
from pokepsro.workflow.snakemake_job import run_job
from pokepsro.workflow.training import best_response_stage

options = dict(snakemake.params.options)
if snakemake.params.oracle == "offline":  # the offline oracle trains on what rule collect recorded
    options.update(collected=[snakemake.input.collected], replay=list(snakemake.input.replay))
run_job(snakemake, best_response_stage, oracle=snakemake.params.oracle, learner_name=snakemake.params.learner_name,
        init=Path(snakemake.input.init), population=Path(snakemake.input.population),
        mixture=Path(snakemake.input.mixture), out_checkpoint=Path(snakemake.output.checkpoint),
        training_out=Path(snakemake.output.training), seed=snakemake.params.seed, team_set=snakemake.params.team_set,
        battle=snakemake.params.battle, runtime=snakemake.params.runtime, options=options,
        logger=workflow_logger(snakemake.config))

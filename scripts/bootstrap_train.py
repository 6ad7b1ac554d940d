from pathlib import Path

from pokepsro.core.run_logger import workflow_logger
from pokepsro.workflow.snakemake_job import run_job
from pokepsro.workflow.training import train_stage

run_job(snakemake, train_stage, out_checkpoint=Path(snakemake.output.checkpoint),
        collected=[Path(snakemake.input.replay)], replay=[], init=None, replay_weight=0.0,
        model_config=snakemake.params.model_config, train_config=snakemake.params.train_config,
        epochs=snakemake.params.epochs, batch_size=snakemake.params.batch_size, seed=snakemake.params.seed,
        policies=snakemake.params.imitate, logger=workflow_logger(snakemake.config))

from pathlib import Path

from pokepsro.core.run_logger import workflow_logger
from pokepsro.workflow.meta_game import solve_stage
from pokepsro.workflow.snakemake_job import run_job

run_job(snakemake, solve_stage, matrix=Path(snakemake.input.matrix), population=Path(snakemake.input.population),
        strategy_out=Path(snakemake.output.strategy), analysis_out=Path(snakemake.output.analysis),
        solver=snakemake.params.solver, support_threshold=snakemake.params.support_threshold,
        previous_strategy=Path(snakemake.input.previous_strategy[0]) if snakemake.input.previous_strategy else None,
        br_eval=Path(snakemake.input.br_eval[0]) if snakemake.input.br_eval else None,
        logger=workflow_logger(snakemake.config))

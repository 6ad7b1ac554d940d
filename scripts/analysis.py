from pathlib import Path

from pokepsro.core.run_logger import workflow_logger
from pokepsro.workflow.analysis import analysis_stage
from pokepsro.workflow.snakemake_job import run_job

run_job(snakemake, analysis_stage, stages=snakemake.params.stages,
        analyses=[Path(p) for p in snakemake.input.analyses], strategies=[Path(p) for p in snakemake.input.strategies],
        br_evals=[Path(p) for p in snakemake.input.br_evals], exploiter_eval=Path(snakemake.input.exploiter_eval),
        matrix=Path(snakemake.input.matrix),
        population=Path(snakemake.input.population), initial_population=Path(snakemake.input.initial_population),
        bootstrap_eval=Path(snakemake.input.bootstrap_eval),
        mixture_vs_baselines=Path(snakemake.input.mixture_vs_baselines), seed=snakemake.params.seed,
        out={key: Path(getattr(snakemake.output, key)) for key in
             ["exploitability", "nash_mixture", "matrix", "br_winrate", "ratings", "summary", "success"]},
        logger=workflow_logger(snakemake.config))

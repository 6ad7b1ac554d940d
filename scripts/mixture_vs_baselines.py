from pathlib import Path

from pokepsro.workflow.evaluations import mixture_vs_baselines_stage
from pokepsro.workflow.snakemake_job import job_runtime, run_job, server_log

run_job(snakemake, mixture_vs_baselines_stage, torch_threads=1, population=Path(snakemake.input.population),
        strategy=Path(snakemake.input.strategy), baselines=snakemake.params.baselines, out=Path(snakemake.output[0]),
        battles=snakemake.params.battles, team_set=snakemake.params.team_set,
        eval_team_set=snakemake.params.eval_team_set, seed=snakemake.params.seed,
        battle=snakemake.params.battle, runtime=job_runtime(snakemake.config), server_log=server_log(snakemake))

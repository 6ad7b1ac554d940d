from pathlib import Path

from pokepsro.workflow.snakemake_job import job_runtime, run_job, server_log
from pokepsro.workflow.training import collect_stage

run_job(snakemake, collect_stage, torch_threads=1, learner_checkpoint=Path(snakemake.input.learner),
        learner_name=snakemake.params.learner_name, population=Path(snakemake.input.population),
        mixture=Path(snakemake.input.mixture), out=Path(snakemake.output.trajectories),
        battles=snakemake.params.battles, team_set=snakemake.params.team_set, seed=snakemake.params.seed,
        battle=snakemake.params.battle, runtime=job_runtime(snakemake.config), server_log=server_log(snakemake))

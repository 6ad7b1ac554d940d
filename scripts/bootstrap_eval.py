from pathlib import Path

from pokepsro.workflow.evaluations import bootstrap_eval_stage
from pokepsro.workflow.snakemake_job import job_runtime, run_job, server_log

run_job(snakemake, bootstrap_eval_stage, torch_threads=1, checkpoint=Path(snakemake.input.checkpoint),
        opponents=snakemake.params.opponents, out=Path(snakemake.output[0]), battles=snakemake.params.battles,
        team_set=snakemake.params.team_set,
        eval_team_set=snakemake.params.eval_team_set, seed=snakemake.params.seed, battle=snakemake.params.battle,
        runtime=job_runtime(snakemake.config), server_log=server_log(snakemake), acting=snakemake.params.acting)

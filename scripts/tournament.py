from pathlib import Path

from pokepsro.workflow.meta_game import tournament_stage
from pokepsro.workflow.snakemake_job import job_runtime, run_job, server_log

run_job(snakemake, tournament_stage, torch_threads=1, population=Path(snakemake.input.population),
        previous=Path(snakemake.input.previous[0]) if snakemake.input.previous else None,
        matrix_out=Path(snakemake.output.matrix), battles_out=Path(snakemake.output.battles),
        trajectories_out=Path(snakemake.output.trajectories),
        battles_per_matchup=snakemake.params.battles_per_matchup, team_set=snakemake.params.team_set,
        seed=snakemake.params.seed, battle=snakemake.params.battle, runtime=job_runtime(snakemake.config),
        server_log=server_log(snakemake), stage=snakemake.wildcards.stage)

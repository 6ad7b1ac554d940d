from pathlib import Path

from pokepsro.workflow.evaluations import evaluate_best_response_stage
from pokepsro.workflow.snakemake_job import job_runtime, run_job, server_log

# BR_i plays σ_{i-1} on the team set of the matrix it is compared with (named in br_eval.json), not on a
# team_set param: one comparison, one team distribution; and again on eval_team_set (its held_out block).
run_job(snakemake, evaluate_best_response_stage, torch_threads=1, checkpoint=Path(snakemake.input.checkpoint),
        start_name=snakemake.params.start_name, start=Path(snakemake.input.start),
        iteration=int(snakemake.wildcards.i), population=Path(snakemake.input.population),
        strategy=Path(snakemake.input.strategy), matrix=Path(snakemake.input.matrix), out=Path(snakemake.output[0]),
        battles=snakemake.params.battles, seed=snakemake.params.seed, battle=snakemake.params.battle,
        runtime=job_runtime(snakemake.config), server_log=server_log(snakemake), acting=snakemake.params.acting,
        eval_team_set=snakemake.params.eval_team_set)

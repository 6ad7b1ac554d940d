from pathlib import Path

from pokepsro.workflow.meta_game import stage_figures
from pokepsro.workflow.snakemake_job import run_job

run_job(snakemake, stage_figures, matrix=Path(snakemake.input.matrix), strategy=Path(snakemake.input.strategy),
        matrix_png=Path(snakemake.output.matrix), strategy_png=Path(snakemake.output.strategy),
        stage=snakemake.wildcards.stage)

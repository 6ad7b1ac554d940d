"""The PSRO workflow: the job behind each Snakemake rule, grouped by stage, and the glue to Snakemake.

Each job reads its input files, computes, and writes its outputs atomically; `scripts/` only translate
Snakemake's inputs, outputs and params into these calls.
May import: every other package.
"""

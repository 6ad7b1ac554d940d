"""The PSRO workflow: the job behind each Snakemake rule, grouped by stage, and the glue to Snakemake.

Owns: `layout` (stage folders, policy names, each best response's learner), `populations`, `meta_game`
(tournament, solve, figures), `training` (bootstrap, best responses, collection), `evaluations`, `analysis`,
`criteria` (the success criteria and their thresholds), `plots`, `config` (the validated workflow config),
`snakemake_job` (the `script:` glue). Each job reads its input files, computes, and writes its outputs
atomically; `scripts/` only translate Snakemake's inputs, outputs and params into these calls.
May import: `pokepsro.metagame`, `pokepsro.learning`, `pokepsro.battles`, `pokepsro.gen1`, `pokepsro.core`.
"""

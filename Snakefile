# PSRO for Pokémon Showdown (Gen 1 OU) as file targets: phase 0, then one iteration after another.
# `snakemake --cores all` builds everything; see README.md for the step-by-step targets.
import sys

from pokepsro.workflow.config import MIN_ROLLOUT_WORKERS, resolve_workers, validate_config
from pokepsro.core.errors import UsageError

sys.setrecursionlimit(20000)  # deep iteration chains recurse in DAG building


configfile: f"{workflow.basedir}/config/config.yaml"


try:
    ORACLES = validate_config(config)  # the oracles' options, checked once: rules/common.smk passes them to the jobs
except UsageError as error:
    sys.stderr.write(f"error: {error}\n")
    sys.exit(2)
config["workers"] = resolve_workers(config["workers"], config["backend"], sys.stderr)  # `auto`: half the cores
config["oracle"]["ppo"]["workers"] = resolve_workers(config["oracle"]["ppo"]["workers"], "direct", sys.stderr,
                                                     key="oracle.ppo.workers", at_least=MIN_ROLLOUT_WORKERS)


include: "rules/common.smk"
include: "rules/metagame.smk"
include: "rules/phase0.smk"
include: "rules/psro.smk"
include: "rules/analysis.smk"


rule all:
    input:
        final_targets(),
    default_target: True

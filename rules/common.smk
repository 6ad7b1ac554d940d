# Helpers shared by the rules: the artifact layout (pokepsro.workflow.layout), the config that triggers reruns,
# and the block every battling rule shares.
from dataclasses import asdict

from pokepsro.learning.oracle import oracle_module
from pokepsro.workflow.layout import (
    BASELINES,
    EXPLOITER,
    PHASE0,
    best_response_job,
    bootstrap_checkpoint,
    br_checkpoint,
    collected_dir,
    final_stage,
    imitation_checkpoint,
    iteration_dir,
    oracle_inputs,
    previous_dir,
    previous_stage,
)


NUM_ITERATIONS = config["num_iterations"]
STAGES = [PHASE0] + [iteration_dir(i) for i in range(NUM_ITERATIONS)]
FINAL = final_stage(NUM_ITERATIONS)  # the last stage's σ, answered by the exploiter
IMITATION = imitation_checkpoint(config["phase0"]["bootstrap_epochs"])
BOOTSTRAP = bootstrap_checkpoint(config["phase0"]["bootstrap_epochs"], config["phase0"]["bootstrap_refine_battles"])
ROLLOUT_WORKERS = config["oracle"]["ppo"]["workers"]  # the PPO oracle's rollout processes, beside its learner
SOFTWARE = "../envs/pokepsro.yaml"  # every rule's software, for --sdm conda (`make setup` builds the same in .venv)


wildcard_constraints:
    stage=r"phase0/baselines|phase0|iteration_\d+",
    i=r"\d+",
    brdir=r"iteration_\d+|analysis/exploiter",


def br_job(wildcards):
    """The best response of folder results/{brdir}: its name, learner and the stage whose σ it answers."""
    return br_job_of(wildcards.brdir)


def br_job_of(brdir):
    """The best response of folder results/{brdir} ("iteration_i" or EXPLOITER), started as config `br_init` says;
    its evaluation also plays its start (learner_checkpoint, learner_name) on the same battles."""
    return best_response_job(brdir, NUM_ITERATIONS, BOOTSTRAP, config["br_init"])


def best_response_inputs(wildcards):
    """The start, whom it trains against, and the datasets its oracle trains on (the module's INPUTS)."""
    job = br_job(wildcards)
    inputs = {"init": job.learner_checkpoint, "population": f"{job.opponents_stage}/population.json",
              "mixture": f"results/{wildcards.brdir}/training_mixture.json"}
    return {**inputs, **oracle_inputs(wildcards.brdir, oracle_module(ORACLES.kind).INPUTS)}


def opponent_selection():
    """Config `opponent_selection` and, for pfsp only, its parameters: a changed pfsp_mix reruns only PFSP runs."""
    if config["opponent_selection"] == "pfsp":
        return {"kind": "pfsp", "mix": config["pfsp_mix"], "power": config["pfsp_power"]}
    return {"kind": config["opponent_selection"]}


def battle_params():
    """The params of every battling rule: the seed and the config that changes battle outcomes (`battle`), so a
    change reruns the battles. How fast they are played (concurrency, workers, ...) is no param: the job reads it
    from the config (pokepsro.workflow.snakemake_job.job_runtime), so a change of it reruns nothing."""
    return {
        "seed": config["seed"],
        "battle": {key: config[key] for key in ("battle_format", "max_turns", "battle_timeout_s")},
    }


def battle_threads(workers=config["workers"]):
    """Cores a battling job keeps busy: one for each worker's Python process and one for its simulator."""
    return 2 * workers


def job_resources(runtime, mem_mb=4000, gpu=1):
    """What a job asks a cluster for: memory, wall minutes, and a GPU when it runs neural policies."""
    return {"gpu": gpu, "mem_mb": mem_mb, "runtime": runtime}


def stage_figures(stage):
    return [f"results/{stage}/interaction_matrix.png", f"results/{stage}/meta_strategy.png"]


def final_targets():
    targets = [f"{PHASE0}/bootstrap_eval.json"]
    for stage in STAGES:
        targets += [f"{stage}/meta_game_analysis.json", f"{stage}/meta_strategy.json"]
        targets += stage_figures(stage.removeprefix("results/"))
    targets += [f"{iteration_dir(i)}/br_eval.json" for i in range(NUM_ITERATIONS)]
    targets += analysis_targets()
    return targets


def analysis_targets():
    names = ["exploitability.png", "nash_mixture.png", "interaction_matrix.png", "br_winrate.png", "ratings.png",
             "summary.json", "success.json", "mixture_vs_baselines.json"]
    return [f"results/analysis/{name}" for name in names]

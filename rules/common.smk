# Helpers shared by the rules: the artifact layout (pokepsro.workflow.layout), the config that triggers reruns,
# and the block every battling rule shares.
from pokepsro.learning.oracle.ppo import load_ppo_config
from pokepsro.workflow.layout import (
    BASELINES,
    EXPLOITER,
    PHASE0,
    best_response_job,
    bootstrap_checkpoint,
    br_checkpoint,
    final_stage,
    imitation_checkpoint,
    iteration_dir,
    previous_dir,
    previous_stage,
)


NUM_ITERATIONS = config["num_iterations"]
STAGES = [PHASE0] + [iteration_dir(i) for i in range(NUM_ITERATIONS)]
FINAL = final_stage(NUM_ITERATIONS)  # the last stage's σ, answered by the exploiter
IMITATION = imitation_checkpoint(config["phase0"]["bootstrap_epochs"])
BOOTSTRAP = bootstrap_checkpoint(config["phase0"]["bootstrap_epochs"], config["phase0"]["bootstrap_refine_battles"])
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
    job = br_job(wildcards)
    inputs = {"init": job.learner_checkpoint, "population": f"{job.opponents_stage}/population.json",
              "mixture": f"results/{wildcards.brdir}/training_mixture.json"}
    if config["oracle"] == "offline":
        inputs.update(collected=f"results/{wildcards.brdir}/br_trajectories", replay=replay_dirs())
    return inputs


def opponent_selection():
    """Config `opponent_selection` and, for pfsp only, its parameters: a changed pfsp_mix reruns only PFSP runs."""
    if config["opponent_selection"] == "pfsp":
        return {"kind": "pfsp", "mix": config["pfsp_mix"], "power": config["pfsp_power"]}
    return {"kind": config["opponent_selection"]}


def oracle_options():
    """The oracle's settings that change its result (so a change retrains): budget and hyper-parameters."""
    if config["oracle"] == "ppo":
        return ppo_options(config["oracle_battles"])
    return {"replay_weight": config["custom_replay_sample_weight"], "model_config": config["oracle_model_config"],
            "train_config": config["oracle_train_config"], "epochs": config["oracle_epochs"],
            "batch_size": config["oracle_batch_size"]}


def ppo_options(battles):
    """The PPO oracle's budget and its validated hyper-parameters (so a changed value retrains)."""
    return {"oracle_battles": battles, "ppo_config": load_ppo_config(config["oracle_ppo_config"])}


def replay_dirs():
    """The "replay" dataset: every battle of the phase-0 tournaments, recorded from both seats."""
    return [f"{BASELINES}/trajectories", f"{PHASE0}/trajectories"]


def battle_params(workers_key="workers"):
    """The params of every battling rule: the seed and the config that changes battle outcomes (`battle`, so a
    change reruns the battles), and how fast they are played (`runtime`, no rerun when it changes)."""
    runtime = {key: config[key] for key in ("concurrency", "parallel_matchups", "backend")}
    return {
        "seed": config["seed"],
        "battle": {key: config[key] for key in ("battle_format", "max_turns", "battle_timeout_s")},
        "runtime": {**runtime, "workers": config[workers_key]},
    }


def battle_threads(workers_key="workers"):
    """Cores a battling job keeps busy: one for each worker's Python process and one for its simulator."""
    return 2 * config[workers_key]


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

# Helpers shared by the rules: stage paths, the learner of each iteration, and the config that triggers reruns.
from pokepsro.learning.oracle.ppo import load_ppo_config


PHASE0 = "results/phase0"
BASELINES = "results/phase0/baselines"
NUM_ITERATIONS = config["num_iterations"]


wildcard_constraints:
    stage=r"phase0/baselines|phase0|iteration_\d+",
    i=r"\d+",
    brdir=r"iteration_\d+|analysis/exploiter",


def iteration_dir(i):
    return f"results/iteration_{i}"


def previous_stage(stage):
    """The stage whose matrix a stage extends: baselines <- phase0 <- iteration_0 <- iteration_1 ..."""
    if stage == "phase0":
        return BASELINES
    if stage.startswith("iteration_"):
        i = int(stage.split("_")[1])
        return PHASE0 if i == 0 else iteration_dir(i - 1)
    return None


def previous_dir(i):
    return PHASE0 if int(i) == 0 else iteration_dir(int(i) - 1)


def imitation_checkpoint():
    return f"{PHASE0}/bootstrap/ckpts/epoch_{config['phase0']['bootstrap_epochs']}.pt"


def bootstrap_checkpoint():
    """The bootstrap that joins the population: imitation, then PPO refinement unless that is switched off."""
    if config["phase0"]["bootstrap_refine_battles"] == 0:
        return imitation_checkpoint()
    return f"{PHASE0}/bootstrap/refined.pt"


FINAL = PHASE0 if NUM_ITERATIONS == 0 else iteration_dir(NUM_ITERATIONS - 1)  # the last stage's σ
EXPLOITER = "analysis/exploiter"  # one more best response, against the final σ: its exploitability


def br_checkpoint(i):
    return f"{iteration_dir(i)}/best_response.pt"


def learner_checkpoint(i):
    """The policy that iteration i starts from: the previous BR, the bootstrap at i = 0."""
    return bootstrap_checkpoint() if int(i) == 0 else br_checkpoint(int(i) - 1)


def learner_name(i):
    return "bootstrap" if int(i) == 0 else f"PSRO_BR{int(i) - 1}"


def best_response_job(brdir):
    """(name, initial checkpoint, its name, stage whose σ it answers) of a best-response folder."""
    if brdir == EXPLOITER:
        return "exploiter", learner_checkpoint(NUM_ITERATIONS), learner_name(NUM_ITERATIONS), FINAL
    i = int(brdir.removeprefix("iteration_"))
    return f"PSRO_BR{i}", learner_checkpoint(i), learner_name(i), previous_dir(i)


def best_response_inputs(wildcards):
    _, init, _, opponents = best_response_job(wildcards.brdir)
    inputs = {"init": init, "population": f"{opponents}/population.json",
              "strategy": f"{opponents}/meta_strategy.json"}
    if config["oracle"] == "offline":
        inputs.update(collected=f"results/{wildcards.brdir}/br_trajectories", replay=replay_dirs())
    return inputs


def oracle_options():
    """The oracle's settings that change its result (so a change retrains): budget and hyper-parameters."""
    if config["oracle"] == "ppo":
        return {"oracle_battles": config["oracle_battles"], "ppo_config": load_ppo_config(config["oracle_ppo_config"])}
    return {"replay_weight": config["custom_replay_sample_weight"], "model_config": config["oracle_model_config"],
            "train_config": config["oracle_train_config"], "epochs": config["oracle_epochs"],
            "batch_size": config["oracle_batch_size"]}


def replay_dirs():
    """The "replay" dataset: every battle of the phase-0 tournaments, recorded from both seats."""
    return [f"{BASELINES}/trajectories", f"{PHASE0}/trajectories"]


def battle_params():
    """Config that changes battle outcomes, so a change reruns the battles (concurrency does not)."""
    return {
        "battle_format": config["battle_format"],
        "max_turns": config["max_turns"],
        "battle_timeout_s": config["battle_timeout_s"],
    }


def battle_threads():
    """Cores a battling job keeps busy: one for each worker's Python process and one for its simulator."""
    return 2 * config["workers"]


def runtime_options():
    """How fast, not what: no rerun when these change."""
    return {key: config[key] for key in ("concurrency", "parallel_matchups", "backend", "workers")}


def oracle_runtime():
    """The PPO oracle plays its rounds over `oracle_workers` processes (1: in the job's own process)."""
    return {**runtime_options(), "workers": config["oracle_workers"]}


def oracle_threads():
    return 2 * config["oracle_workers"]


def stage_figures(stage):
    return [f"results/{stage}/interaction_matrix.png", f"results/{stage}/meta_strategy.png"]


def final_targets():
    stages = [PHASE0] + [iteration_dir(i) for i in range(NUM_ITERATIONS)]
    targets = [f"{PHASE0}/bootstrap_eval.json"]
    for stage in stages:
        targets += [f"{stage}/meta_game_analysis.json", f"{stage}/meta_strategy.json"]
        targets += stage_figures(stage.removeprefix("results/"))
    targets += [f"{iteration_dir(i)}/br_eval.json" for i in range(NUM_ITERATIONS)]
    targets += analysis_targets()
    return targets


def analysis_targets():
    names = ["exploitability.png", "nash_mixture.png", "interaction_matrix.png", "br_winrate.png",
             "summary.json", "success.json", "mixture_vs_baselines.json"]
    return [f"results/analysis/{name}" for name in names]

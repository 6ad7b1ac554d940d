# Helpers shared by the rules: stage paths, the learner of each iteration, and the config that triggers reruns.

PHASE0 = "results/phase0"
BASELINES = "results/phase0/baselines"
NUM_ITERATIONS = config["num_iterations"]


wildcard_constraints:
    stage=r"phase0/baselines|phase0|iteration_\d+",
    i=r"\d+",


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


def bootstrap_checkpoint():
    return f"{PHASE0}/bootstrap/ckpts/epoch_{config['phase0']['bootstrap_epochs']}.pt"


def br_checkpoint(i):
    return f"{iteration_dir(i)}/br_training/ckpts/epoch_{config['oracle_epochs']}.pt"


def learner_checkpoint(i):
    """The learner that collects iteration i's battles: the previous BR, the bootstrap at i = 0."""
    return bootstrap_checkpoint() if int(i) == 0 else br_checkpoint(int(i) - 1)


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

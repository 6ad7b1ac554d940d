# PSRO iteration i: the oracle trains BR_i against σ_{i-1}, or σ_{i-1} mixed with PFSP weights (config
# opponent_selection; the offline oracle collects first) -> grow the population -> play BR_i's row -> evaluate BR_i
# against σ_{i-1} itself -> re-solve σ_i (rule solve_meta_game in metagame.smk). The same rules train the exploiter
# of the final σ (results/analysis/exploiter).


rule training_mixture:
    """Whom the oracle draws opponents from: σ, or σ mixed with PFSP weights from the start policy's matrix row."""
    input:
        population=lambda wc: f"{br_job(wc).opponents_stage}/population.json",
        strategy=lambda wc: f"{br_job(wc).opponents_stage}/meta_strategy.json",
        matrix=lambda wc: f"{br_job(wc).opponents_stage}/interaction_matrix.json",
    output:
        "results/{brdir}/training_mixture.json",
    params:
        start_name=lambda wc: br_job(wc).learner_name,
        selection=opponent_selection(),
    conda: SOFTWARE
    log:
        "logs/{brdir}/training_mixture.log",
    script:
        "../scripts/training_mixture.py"


rule collect:
    """Offline oracle only: the initial policy against opponents drawn per battle from the training mixture (σ
    unless PFSP); its decisions recorded."""
    input:
        learner=lambda wc: br_job(wc).learner_checkpoint,
        population=lambda wc: f"{br_job(wc).opponents_stage}/population.json",
        mixture="results/{brdir}/training_mixture.json",
    output:
        trajectories=directory(collected_dir("{brdir}")),
    params:
        learner_name=lambda wc: br_job(wc).learner_name,
        battles=lambda wc: config["oracle"]["offline"]["collection_battles"],  # set where its oracle asks for them
        team_set=config["team_set"],
        **battle_params(),
    threads: battle_threads()
    resources:
        **job_resources(runtime=120),
    conda: SOFTWARE
    log:
        "logs/{brdir}/collect.log",
    benchmark:
        "logs/{brdir}/collect.benchmark.tsv"
    script:
        "../scripts/collect.py"


rule best_response:
    """The oracle (config `oracle.kind`) trains a best response to the training mixture (σ unless PFSP) from the
    start policy (config `br_init`); resumes when rerun."""
    input:
        unpack(best_response_inputs),
    output:
        checkpoint="results/{brdir}/best_response.pt",
        training=directory("results/{brdir}/br_training"),
    params:
        oracle=ORACLES.kind,
        options=asdict(ORACLES.options),  # a changed budget or hyper-parameter value retrains
        learner_name=lambda wc: br_job(wc).name,
        team_set=config["team_set"],
        **battle_params(),
    threads: battle_threads(ROLLOUT_WORKERS)
    resources:
        **job_resources(runtime=240, mem_mb=8000),
    conda: SOFTWARE
    log:
        "logs/{brdir}/best_response.log",
    benchmark:
        "logs/{brdir}/best_response.benchmark.tsv"
    script:
        "../scripts/best_response.py"


rule grow_population:
    """The previous population plus PSRO_BR{i}, appended at the end."""
    input:
        population=lambda wc: f"{previous_dir(int(wc.i))}/population.json",
        checkpoint=lambda wc: br_checkpoint(int(wc.i)),
    output:
        "results/iteration_{i}/population.json",
    params:
        acting=config["acting"],
    conda: SOFTWARE
    log:
        "logs/iteration_{i}/population.log",
    script:
        "../scripts/grow_population.py"


rule evaluate_best_response:
    """BR_i against σ_{i-1} (opponent sampled per battle) and, from the matrix row, each member; BR_i's start on
    the same battles (how much BR_i itself gained); against σ_{i-1} again on the held-out eval_team_set."""
    input:
        checkpoint=lambda wc: br_checkpoint(int(wc.i)),
        start=lambda wc: br_job_of(f"iteration_{wc.i}").learner_checkpoint,
        population=lambda wc: f"{previous_dir(int(wc.i))}/population.json",
        strategy=lambda wc: f"{previous_dir(int(wc.i))}/meta_strategy.json",
        matrix="results/iteration_{i}/interaction_matrix.json",
    output:
        "results/iteration_{i}/br_eval.json",
    params:
        start_name=lambda wc: br_job_of(f"iteration_{wc.i}").learner_name,
        battles=config["eval_battles"],
        acting=config["acting"],
        eval_team_set=config["eval_team_set"],
        **battle_params(),
    threads: battle_threads()
    resources:
        **job_resources(runtime=60),
    conda: SOFTWARE
    log:
        "logs/iteration_{i}/br_eval.log",
    benchmark:
        "logs/iteration_{i}/br_eval.benchmark.tsv"
    script:
        "../scripts/evaluate_best_response.py"

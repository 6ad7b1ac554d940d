# PSRO iteration i: the oracle trains BR_i against σ_{i-1} (the offline oracle collects first) -> grow the
# population -> play BR_i's row -> evaluate BR_i against σ_{i-1} -> re-solve σ_i (rule solve_meta_game in
# metagame.smk). The same two rules train the exploiter of the final σ (results/analysis/exploiter).


rule collect:
    """Offline oracle only: the initial policy against opponents drawn per battle from σ; its decisions recorded."""
    input:
        learner=lambda wc: best_response_job(wc.brdir)[1],
        population=lambda wc: f"{best_response_job(wc.brdir)[3]}/population.json",
        strategy=lambda wc: f"{best_response_job(wc.brdir)[3]}/meta_strategy.json",
    output:
        trajectories=directory("results/{brdir}/br_trajectories"),
    params:
        learner_name=lambda wc: best_response_job(wc.brdir)[2],
        battles=config["collection_battles"],
        team_set=config["team_set"],
        seed=config["seed"],
        battle=battle_params(),
        runtime=runtime_options(),
    threads: battle_threads()
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=120,
    log:
        "logs/{brdir}/collect.log",
    benchmark:
        "logs/{brdir}/collect.benchmark.tsv"
    script:
        "../scripts/collect.py"


rule best_response:
    """The oracle (config `oracle`) trains a best response to σ from the initial policy; resumes when rerun."""
    input:
        unpack(best_response_inputs),
    output:
        checkpoint="results/{brdir}/best_response.pt",
        training=directory("results/{brdir}/br_training"),
    params:
        oracle=config["oracle"],
        options=oracle_options(),
        learner_name=lambda wc: best_response_job(wc.brdir)[0],
        team_set=config["team_set"],
        seed=config["seed"],
        battle=battle_params(),
        runtime=oracle_runtime(),
    threads: oracle_threads()
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=240,
    log:
        "logs/{brdir}/best_response.log",
    benchmark:
        "logs/{brdir}/best_response.benchmark.tsv"
    script:
        "../scripts/best_response.py"


rule grow_population:
    """The previous population plus PSRO_BR{i}, appended at the end."""
    input:
        population=lambda wc: f"{previous_dir(wc.i)}/population.json",
        checkpoint=lambda wc: br_checkpoint(wc.i),
    output:
        "results/iteration_{i}/population.json",
    params:
        acting=config["acting"],
    log:
        "logs/iteration_{i}/population.log",
    script:
        "../scripts/grow_population.py"


rule evaluate_best_response:
    """BR_i against σ_{i-1} (opponent sampled per battle) and, from the matrix row, each member."""
    input:
        checkpoint=lambda wc: br_checkpoint(wc.i),
        population=lambda wc: f"{previous_dir(wc.i)}/population.json",
        strategy=lambda wc: f"{previous_dir(wc.i)}/meta_strategy.json",
        matrix="results/iteration_{i}/interaction_matrix.json",
    output:
        "results/iteration_{i}/br_eval.json",
    params:
        battles=config["eval_battles"],
        acting=config["acting"],
        seed=config["seed"],
        battle=battle_params(),
        runtime=runtime_options(),
    threads: battle_threads()
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=60,
    log:
        "logs/iteration_{i}/br_eval.log",
    benchmark:
        "logs/iteration_{i}/br_eval.benchmark.tsv"
    script:
        "../scripts/evaluate_best_response.py"

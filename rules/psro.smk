# PSRO iteration i: collect against σ_{i-1} -> train BR_i -> grow the population -> play BR_i's row ->
# evaluate BR_i against σ_{i-1} -> re-solve σ_i (rule solve_meta_game in metagame.smk).


rule collect:
    """The learner (previous BR; the bootstrap at i = 0) against opponents sampled per battle from σ_{i-1}."""
    input:
        learner=lambda wc: learner_checkpoint(wc.i),
        population=lambda wc: f"{previous_dir(wc.i)}/population.json",
        strategy=lambda wc: f"{previous_dir(wc.i)}/meta_strategy.json",
    output:
        trajectories=directory("results/iteration_{i}/br_trajectories"),
    params:
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
        "logs/iteration_{i}/collect.log",
    benchmark:
        "logs/iteration_{i}/collect.benchmark.tsv"
    script:
        "../scripts/collect.py"


rule train_best_response:
    """BR_i fine-tuned from the learner on collected + replay data."""
    input:
        collected="results/iteration_{i}/br_trajectories",
        replay=replay_dirs(),
        init=lambda wc: learner_checkpoint(wc.i),
    output:
        checkpoint=f"results/iteration_{{i}}/br_training/ckpts/epoch_{config['oracle_epochs']}.pt",
    params:
        model_config=config["oracle_model_config"],
        train_config=config["oracle_train_config"],
        epochs=config["oracle_epochs"],
        batch_size=config["oracle_batch_size"],
        replay_weight=config["custom_replay_sample_weight"],
        seed=config["seed"],
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=240,
    log:
        "logs/iteration_{i}/train.log",
    benchmark:
        "logs/iteration_{i}/train.benchmark.tsv"
    script:
        "../scripts/train_best_response.py"


rule grow_population:
    """The previous population plus PSRO_BR{i}, appended at the end."""
    input:
        population=lambda wc: f"{previous_dir(wc.i)}/population.json",
        checkpoint=lambda wc: br_checkpoint(wc.i),
    output:
        "results/iteration_{i}/population.json",
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
        team_set=config["eval_team_set"],
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
    script:
        "../scripts/evaluate_best_response.py"

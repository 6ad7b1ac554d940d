# Phase 0: heuristic baselines play a round robin whose battles train the bootstrap policy, which then joins
# the population; the phase-0 matrix and Nash mixture include it.


rule baseline_population:
    output:
        f"{BASELINES}/population.json",
    params:
        baselines=config["phase0"]["baselines"],
        extra_policies=config["phase0"]["extra_policies"],
    log:
        "logs/phase0/baseline_population.log",
    script:
        "../scripts/baseline_population.py"


rule bootstrap_train:
    """Imitation of the strongest baselines' decisions (advantage-filtered), from the phase-0 round robin."""
    input:
        replay=f"{BASELINES}/trajectories",
    output:
        checkpoint=imitation_checkpoint(),
    params:
        model_config=config["oracle_model_config"],
        train_config=config["bootstrap_train_config"],
        epochs=config["phase0"]["bootstrap_epochs"],
        batch_size=config["phase0"]["bootstrap_batch_size"],
        imitate=config["phase0"]["bootstrap_imitate"],
        seed=config["seed"],
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=120,
    log:
        "logs/phase0/bootstrap_train.log",
    benchmark:
        "logs/phase0/bootstrap_train.benchmark.tsv"
    script:
        "../scripts/bootstrap_train.py"


rule bootstrap_refine:
    """Our stand-in for the guide's RL-trained SyntheticRLV2: the imitation policy refined by the PPO oracle
    against a uniform mix of heuristic baselines (phase0.bootstrap_refine_battles battles)."""
    input:
        init=imitation_checkpoint(),
    output:
        checkpoint=f"{PHASE0}/bootstrap/refined.pt",
        training=directory(f"{PHASE0}/bootstrap/refine_training"),
    params:
        opponents=config["phase0"]["bootstrap_refine_opponents"],
        options={"oracle_battles": config["phase0"]["bootstrap_refine_battles"],
                 "ppo_config": load_ppo_config(config["oracle_ppo_config"])},
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
        "logs/phase0/bootstrap_refine.log",
    benchmark:
        "logs/phase0/bootstrap_refine.benchmark.tsv"
    script:
        "../scripts/bootstrap_refine.py"


rule phase0_population:
    input:
        baselines=f"{BASELINES}/population.json",
        checkpoint=bootstrap_checkpoint(),
    output:
        f"{PHASE0}/population.json",
    params:
        acting=config["acting"],
    log:
        "logs/phase0/population.log",
    script:
        "../scripts/phase0_population.py"


rule bootstrap_eval:
    """The bootstrap against random, max_base_power and gym_leader, each over bootstrap_eval_battles battles."""
    input:
        checkpoint=bootstrap_checkpoint(),
    output:
        f"{PHASE0}/bootstrap_eval.json",
    params:
        battles=config["phase0"]["bootstrap_eval_battles"],
        opponents=["random", "max_base_power", "gym_leader"],
        team_set=config["eval_team_set"],
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
        "logs/phase0/bootstrap_eval.log",
    benchmark:
        "logs/phase0/bootstrap_eval.benchmark.tsv"
    script:
        "../scripts/bootstrap_eval.py"

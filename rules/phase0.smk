# Phase 0: heuristic baselines play a round robin whose battles train the bootstrap policy, which then joins
# the population; the phase-0 matrix and Nash mixture include it.


rule baseline_population:
    output:
        f"{BASELINES}/population.json",
    params:
        baselines=config["phase0"]["baselines"],
        extra_policies=config["phase0"]["extra_policies"],
    conda: SOFTWARE
    log:
        "logs/phase0/baseline_population.log",
    script:
        "../scripts/baseline_population.py"


rule bootstrap_train:
    """Imitation of the strongest baselines' decisions (advantage-filtered), from the phase-0 round robin."""
    input:
        replay=f"{BASELINES}/trajectories",
    output:
        checkpoint=IMITATION,
    params:
        model_config=config["oracle_model_config"],
        train_config=config["bootstrap_train_config"],
        epochs=config["phase0"]["bootstrap_epochs"],
        batch_size=config["phase0"]["bootstrap_batch_size"],
        imitate=config["phase0"]["bootstrap_imitate"],
        seed=config["seed"],
    threads: 2
    resources:
        **job_resources(runtime=120, mem_mb=8000),
    conda: SOFTWARE
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
        init=IMITATION,
    output:
        checkpoint=f"{PHASE0}/bootstrap/refined.pt",
        training=directory(f"{PHASE0}/bootstrap/refine_training"),
    params:
        opponents=config["phase0"]["bootstrap_refine_opponents"],
        options=asdict(ORACLES.refine),  # the PPO oracle's: a changed budget or hyper-parameter value retrains
        team_set=config["team_set"],
        **battle_params(),
    threads: battle_threads(ROLLOUT_WORKERS)
    resources:
        **job_resources(runtime=240, mem_mb=8000),
    conda: SOFTWARE
    log:
        "logs/phase0/bootstrap_refine.log",
    benchmark:
        "logs/phase0/bootstrap_refine.benchmark.tsv"
    script:
        "../scripts/bootstrap_refine.py"


rule phase0_population:
    input:
        baselines=f"{BASELINES}/population.json",
        checkpoint=BOOTSTRAP,
    output:
        f"{PHASE0}/population.json",
    params:
        acting=config["acting"],
    conda: SOFTWARE
    log:
        "logs/phase0/population.log",
    script:
        "../scripts/phase0_population.py"


rule bootstrap_eval:
    """The bootstrap against random, max_base_power and gym_leader, each over bootstrap_eval_battles battles on
    the training team set and as many on the held-out eval_team_set."""
    input:
        checkpoint=BOOTSTRAP,
    output:
        f"{PHASE0}/bootstrap_eval.json",
    params:
        battles=config["phase0"]["bootstrap_eval_battles"],
        opponents=["random", "max_base_power", "gym_leader"],
        team_set=config["team_set"],
        eval_team_set=config["eval_team_set"],
        acting=config["acting"],
        **battle_params(),
    threads: battle_threads()
    resources:
        **job_resources(runtime=60),
    conda: SOFTWARE
    log:
        "logs/phase0/bootstrap_eval.log",
    benchmark:
        "logs/phase0/bootstrap_eval.benchmark.tsv"
    script:
        "../scripts/bootstrap_eval.py"

# Analysis over all iterations: progress curves, success criteria, and the final Nash mixture's strength.

FINAL = PHASE0 if NUM_ITERATIONS == 0 else iteration_dir(NUM_ITERATIONS - 1)
STAGES = [PHASE0] + [iteration_dir(i) for i in range(NUM_ITERATIONS)]


rule analysis:
    input:
        analyses=[f"{stage}/meta_game_analysis.json" for stage in STAGES],
        strategies=[f"{stage}/meta_strategy.json" for stage in STAGES],
        br_evals=[f"{iteration_dir(i)}/br_eval.json" for i in range(NUM_ITERATIONS)],
        # The final σ's exploitability: a best response trained against it, evaluated like br_eval.json.
        exploiter_eval="results/analysis/exploiter_eval.json",
        matrix=f"{FINAL}/interaction_matrix.json",
        population=f"{FINAL}/population.json",
        initial_population=f"{PHASE0}/population.json",
    output:
        exploitability=report("results/analysis/exploitability.png", category="PSRO progress"),
        nash_mixture=report("results/analysis/nash_mixture.png", category="PSRO progress"),
        matrix=report("results/analysis/interaction_matrix.png", category="Final population"),
        br_winrate=report("results/analysis/br_winrate.png", category="PSRO progress"),
        summary=report("results/analysis/summary.json", category="Summary"),
        success=report("results/analysis/success.json", category="Summary"),
    params:
        stages=STAGES,
    log:
        "logs/analysis/analysis.log",
    script:
        "../scripts/analysis.py"


rule evaluate_exploiter:
    """The exploiter against the final σ (opponent drawn per battle), on the final matrix's team set.

    TEMPORARY input: until the exploiter training rule of issue 11 exists, the "exploiter" is the last BR's
    checkpoint, a member of the final population, so its measurement reads as not informative. That rule
    replaces the `checkpoint` input below with the exploiter's own checkpoint (or this whole rule, writing the
    same file with the same schema as br_eval.json: pokepsro.workflow.evaluate_exploiter_stage).
    """
    input:
        checkpoint=br_checkpoint(NUM_ITERATIONS - 1),
        population=f"{FINAL}/population.json",
        strategy=f"{FINAL}/meta_strategy.json",
        matrix=f"{FINAL}/interaction_matrix.json",
    output:
        "results/analysis/exploiter_eval.json",
    params:
        battles=config["eval_battles"],
        seed=config["seed"],
        battle=battle_params(),
        runtime=runtime_options(),
    threads: battle_threads()
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=60,
    log:
        "logs/analysis/exploiter_eval.log",
    script:
        "../scripts/evaluate_exploiter.py"


rule mixture_vs_baselines:
    """The final Nash mixture (member sampled per battle from σ) against every heuristic baseline."""
    input:
        population=f"{FINAL}/population.json",
        strategy=f"{FINAL}/meta_strategy.json",
    output:
        report("results/analysis/mixture_vs_baselines.json", category="Final population"),
    params:
        battles=config["mixture_eval_battles"],
        baselines=["random", "max_base_power", "simple_heuristics", "gym_leader", "gen1_boss_ai"],
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
        "logs/analysis/mixture_vs_baselines.log",
    script:
        "../scripts/mixture_vs_baselines.py"

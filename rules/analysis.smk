# Analysis over all iterations: progress curves, success criteria, and the final Nash mixture's strength.


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
        # More battles between members, for the ratings (on the matrix's team set; held-out blocks left out).
        bootstrap_eval=f"{PHASE0}/bootstrap_eval.json",
        mixture_vs_baselines="results/analysis/mixture_vs_baselines.json",
    output:
        exploitability=report("results/analysis/exploitability.png",
                              caption="../report/exploitability.rst", category="PSRO progress"),
        nash_mixture=report("results/analysis/nash_mixture.png",
                            caption="../report/nash_mixture.rst", category="PSRO progress"),
        matrix=report("results/analysis/interaction_matrix.png",
                      caption="../report/final_interaction_matrix.rst", category="Final population"),
        br_winrate=report("results/analysis/br_winrate.png",
                          caption="../report/br_winrate.rst", category="PSRO progress"),
        ratings=report("results/analysis/ratings.png",
                       caption="../report/ratings.rst", category="Final population"),
        summary=report("results/analysis/summary.json",
                       caption="../report/summary.rst", category="Summary"),
        success=report("results/analysis/success.json",
                       caption="../report/success.rst", category="Summary"),
    params:
        stages=STAGES,
        seed=config["seed"],
    conda: SOFTWARE
    log:
        "logs/analysis/analysis.log",
    script:
        "../scripts/analysis.py"


rule evaluate_exploiter:
    """The exploiter (rule best_response, trained against the final σ from the bootstrap) against that σ, opponent
    drawn per battle, on the final matrix's team set, and the bootstrap on the same battles: the final σ's
    exploitability, and whether the exploiter trained; again on eval_team_set (held out)."""
    input:
        checkpoint=f"results/{EXPLOITER}/best_response.pt",
        start=br_job_of(EXPLOITER).learner_checkpoint,
        population=f"{FINAL}/population.json",
        strategy=f"{FINAL}/meta_strategy.json",
        matrix=f"{FINAL}/interaction_matrix.json",
    output:
        "results/analysis/exploiter_eval.json",
    params:
        start_name=br_job_of(EXPLOITER).learner_name,
        battles=config["eval_battles"],
        acting=config["acting"],
        eval_team_set=config["eval_team_set"],
        **battle_params(),
    threads: battle_threads()
    resources:
        **job_resources(runtime=60),
    conda: SOFTWARE
    log:
        "logs/analysis/exploiter_eval.log",
    benchmark:
        "logs/analysis/exploiter_eval.benchmark.tsv"
    script:
        "../scripts/evaluate_exploiter.py"


rule mixture_vs_baselines:
    """The final Nash mixture (member sampled per battle from σ) against every heuristic baseline, on the
    training team set and on the held-out eval_team_set."""
    input:
        population=f"{FINAL}/population.json",
        strategy=f"{FINAL}/meta_strategy.json",
    output:
        report("results/analysis/mixture_vs_baselines.json",
               caption="../report/mixture_vs_baselines.rst", category="Final population"),
    params:
        battles=config["mixture_eval_battles"],
        baselines=["random", "max_base_power", "simple_heuristics", "gym_leader", "gen1_boss_ai"],
        team_set=config["team_set"],
        eval_team_set=config["eval_team_set"],
        **battle_params(),
    threads: battle_threads()
    resources:
        **job_resources(runtime=60),
    conda: SOFTWARE
    log:
        "logs/analysis/mixture_vs_baselines.log",
    benchmark:
        "logs/analysis/mixture_vs_baselines.benchmark.tsv"
    script:
        "../scripts/mixture_vs_baselines.py"

# Rules shared by every stage (phase0/baselines, phase0, iteration_i): tournament, meta-solver, figures.


rule tournament:
    """Play the pairs missing from the previous stage's matrix (incremental) and merge them."""
    input:
        population="results/{stage}/population.json",
        previous=lambda wc: [f"{previous_stage(wc.stage)}/interaction_matrix.json"] if previous_stage(wc.stage) else [],
    output:
        matrix="results/{stage}/interaction_matrix.json",
        battles="results/{stage}/battles.jsonl",
        trajectories=directory("results/{stage}/trajectories"),
    params:
        battles_per_matchup=config["battles_per_matchup"],
        team_set=config["team_set"],
        **battle_params(),
    threads: battle_threads()
    resources:
        **job_resources(runtime=120, gpu=lambda wc: 0 if wc.stage == "phase0/baselines" else 1),
    conda: SOFTWARE
    log:
        "logs/{stage}/tournament.log",
    benchmark:
        "logs/{stage}/tournament.benchmark.tsv"
    script:
        "../scripts/tournament.py"


rule solve_meta_game:
    """Nash mixture σ of the stage's matrix; for iterations also the previous σ's exploitability."""
    input:
        matrix="results/{stage}/interaction_matrix.json",
        population="results/{stage}/population.json",
        previous_strategy=lambda wc: [f"{previous_stage(wc.stage)}/meta_strategy.json"] if wc.stage.startswith("iteration_") else [],
        br_eval=lambda wc: [f"results/{wc.stage}/br_eval.json"] if wc.stage.startswith("iteration_") else [],
    output:
        strategy="results/{stage}/meta_strategy.json",
        analysis="results/{stage}/meta_game_analysis.json",
    params:
        solver=config["meta_solver"],
        support_threshold=config["support_threshold"],
    conda: SOFTWARE
    log:
        "logs/{stage}/solve.log",
    script:
        "../scripts/solve.py"


rule stage_figures:
    input:
        matrix="results/{stage}/interaction_matrix.json",
        strategy="results/{stage}/meta_strategy.json",
    output:
        matrix=report("results/{stage}/interaction_matrix.png", caption="../report/stage_interaction_matrix.rst",
                      category="Stages", subcategory="{stage}"),
        strategy=report("results/{stage}/meta_strategy.png", caption="../report/stage_meta_strategy.rst",
                        category="Stages", subcategory="{stage}"),
    conda: SOFTWARE
    log:
        "logs/{stage}/figures.log",
    script:
        "../scripts/stage_figures.py"

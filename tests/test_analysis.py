"""The analysis and the meta-game artifacts of a synthetic PSRO run: honest criteria, one team set, clear errors.

The run's files are made by the real `solve_stage` from hand-made matrices, so every number is known:
phase 0 is a rock-paper-scissors cycle of A, B, C (σ uniform); PSRO_BR0 loses to every member (its gain
tells nothing); PSRO_BR1 beats every member and becomes σ_1. Every best response rose over its start
(`TRAINED`) unless a test says otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from pokepsro.battles.records import paired_score_difference
from pokepsro.core.errors import UsageError
from pokepsro.metagame.matrix import InteractionMatrix, PairCounts
from pokepsro.metagame.population import PolicyEntry, Population
from pokepsro.metagame.solver import measured_exploitability
from pokepsro.workflow.analysis import analysis_stage
from pokepsro.workflow.meta_game import solve_stage
from pokepsro.workflow.snakemake_job import run_job

NAMES = ["A", "B", "C"]
CYCLE = {("A", "B"): PairCounts(70, 30), ("B", "C"): PairCounts(70, 30), ("A", "C"): PairCounts(30, 70)}
TEAM_SET = "competitive"
EVAL_TEAM_SET = "heldout"
OUT_KEYS = ["exploitability", "nash_mixture", "matrix", "br_winrate", "ratings", "summary", "success"]
ACTING = {"greedy": True}
TRAINED = (0.10, [0.04, 0.16])  # a best response's rise over its start: mean and 95 % interval, above 0
MIRROR = (0.0, [0.0, 0.0])  # a copy of σ's member playing σ's battles: the same results, no rise


def member(name: str) -> PolicyEntry:
    """A best response is a checkpoint (never opened here) acting greedily; the others heuristics named as such."""
    if name.startswith("PSRO_BR"):
        return PolicyEntry(name=name, kind="checkpoint", spec=f"{name}.pt", options=dict(ACTING))
    return PolicyEntry(name=name, kind="heuristic", spec=name)


def write_stage(stage: Path, names: list[str], counts: dict, team_set: str = TEAM_SET) -> None:
    stage.mkdir(parents=True, exist_ok=True)
    Population(tuple(member(n) for n in names)).save(stage / "population.json")
    InteractionMatrix(names, counts, {"team_set": team_set}).save(stage / "interaction_matrix.json")


def records(side_a: str, opponent: str, wins: int, battles: int = 100) -> list[dict]:
    """`battles` battle records of `side_a` (as an evaluation names it) against `opponent`, the first `wins` won."""
    return [{"index": k, "policy_a": f"{side_a}@learner", "policy_b": opponent,
             "result_a": "win" if k < wins else "loss"} for k in range(battles)]


def write_evaluation(path: Path, policy: str, win_rate: float, ci95: list[float], against: Path,
                     team_set: str = TEAM_SET, rise: tuple[float, list[float]] = TRAINED,
                     eval_team_set: str = EVAL_TEAM_SET) -> Path:
    """A br_eval.json / exploiter_eval.json with the fields the analysis reads; its start won `rise` less often;
    held out 0.1 below. Its 100 battles are all against A (a member of every σ's population)."""
    mean, rise_ci95 = rise
    start = {"win_rate": win_rate - mean, "ci95": [ci95[0] - mean, ci95[1] - mean], "battles": 100}
    held_out_ci95 = [ci95[0] - 0.1, ci95[1] - 0.1]
    path.write_text(json.dumps({
        "policy": policy, "checkpoint": f"{policy}.pt", "acting": ACTING, "against": str(against),
        "team_set": team_set, "records": records(policy, "A", round(100 * win_rate)),
        "vs_previous_nash": {"win_rate": win_rate, "ci95": ci95, "battles": 100},
        "start": {"policy": "bootstrap", "vs_previous_nash": start},
        "rise_over_start": {"mean": mean, "ci95": rise_ci95, "battles": 100},
        "gain_vs_previous_nash": win_rate - 0.5, "gain_ci95": [ci95[0] - 0.5, ci95[1] - 0.5],
        "held_out": {"team_set": eval_team_set,
                     "vs_previous_nash": {"win_rate": win_rate - 0.1, "ci95": held_out_ci95, "battles": 80}}}))
    return path


def solve(stage: Path, previous: Path | None = None, **options) -> None:
    solve_stage(matrix=stage / "interaction_matrix.json", population=stage / "population.json",
                strategy_out=stage / "meta_strategy.json", analysis_out=stage / "meta_game_analysis.json",
                solver="nash", support_threshold=0.01, previous_strategy=previous and previous / "meta_strategy.json",
                br_eval=previous and stage / "br_eval.json", **options)


@pytest.fixture(autouse=True)
def torch_threads():
    """run_job sets torch's thread count for its job; give the other tests theirs back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "results")


def write_run(results: Path) -> Path:
    """phase0 (A, B, C cycle), iteration_0 (+ PSRO_BR0, loses to all), iteration_1 (+ PSRO_BR1, beats all)."""
    phase0, it0, it1 = results / "phase0", results / "iteration_0", results / "iteration_1"
    write_stage(phase0, NAMES, CYCLE)
    solve(phase0)
    write_stage(it0, NAMES + ["PSRO_BR0"], {**CYCLE, **{(n, "PSRO_BR0"): PairCounts(70, 30) for n in NAMES}})
    write_evaluation(it0 / "br_eval.json", "PSRO_BR0", 0.30, [0.22, 0.40], phase0 / "meta_strategy.json")
    solve(it0, phase0)
    names = NAMES + ["PSRO_BR0", "PSRO_BR1"]
    write_stage(it1, names, {**CYCLE, **{(n, "PSRO_BR0"): PairCounts(70, 30) for n in NAMES},
                             **{(n, "PSRO_BR1"): PairCounts(35, 65) for n in names[:-1]}})
    # The guide's 60 % on the point estimate; the interval's lower end stays below 0.5.
    write_evaluation(it1 / "br_eval.json", "PSRO_BR1", 0.61, [0.48, 0.72], it0 / "meta_strategy.json")
    solve(it1, it0)
    return results


SEED = 11


def write_member_evaluations(results: Path) -> tuple[Path, Path]:
    """bootstrap_eval.json (the bootstrap is no member here: not rated) and mixture_vs_baselines.json (baseline A
    against PSRO_BR1, drawn from the final σ: 40 battles between members), with held-out blocks the ratings skip."""
    bootstrap_eval = results / "phase0/bootstrap_eval.json"
    if not bootstrap_eval.exists():
        bootstrap_eval.write_text(json.dumps({
            "policy": "bootstrap", "checkpoint": "bootstrap.pt", "acting": ACTING, "team_set": TEAM_SET,
            "opponents": {"A": {"records": records("bootstrap", "A", 50)}},
            "held_out": {"team_set": EVAL_TEAM_SET, "opponents": {"A": {"records": records("bootstrap", "A", 50)}}}}))
    mixture = results / "analysis/mixture_vs_baselines.json"
    if not mixture.exists():
        mixture.parent.mkdir(parents=True, exist_ok=True)
        mixture.write_text(json.dumps({
            "team_set": TEAM_SET, "opponents": {"A": {"records": records("A", "PSRO_BR1", 10, battles=40)}},
            "held_out": {"team_set": EVAL_TEAM_SET,
                         "opponents": {"A": {"records": records("A", "PSRO_BR1", 10, battles=40)}}}}))
    return bootstrap_eval, mixture


def analyse(results: Path, exploiter: tuple[float, list[float]] = (0.30, [0.22, 0.40]),
            rise: tuple[float, list[float]] = TRAINED, **options) -> tuple[dict, dict]:
    stages = [results / "phase0", results / "iteration_0", results / "iteration_1"]
    exploiter_eval = write_evaluation(results / "exploiter_eval.json", "exploiter", *exploiter,
                                      stages[-1] / "meta_strategy.json", rise=rise)
    out = {key: results / "analysis" / f"{key}.{'json' if key in ('summary', 'success') else 'png'}"
           for key in OUT_KEYS}
    bootstrap_eval, mixture_vs_baselines = write_member_evaluations(results)
    success = analysis_stage(stages=[str(s) for s in stages],
                             analyses=[s / "meta_game_analysis.json" for s in stages],
                             strategies=[s / "meta_strategy.json" for s in stages],
                             br_evals=[s / "br_eval.json" for s in stages[1:]], exploiter_eval=exploiter_eval,
                             matrix=stages[-1] / "interaction_matrix.json", population=stages[-1] / "population.json",
                             initial_population=stages[0] / "population.json", bootstrap_eval=bootstrap_eval,
                             mixture_vs_baselines=mixture_vs_baselines, seed=SEED, out=out, **options)
    assert success == json.loads(out["success"].read_text())
    return success, json.loads(out["summary"].read_text())


@pytest.mark.parametrize("win_rate, ci95, exploitability, informative", [
    (0.30, [0.22, 0.40], None, False),    # lost to σ: a lower bound of nothing, never "0"
    (0.45, [0.36, 0.55], 0.0, True),      # even with σ: no exploit found
    (0.62, [0.55, 0.69], 0.12, True),
])
def test_a_best_response_that_lost_measures_nothing(win_rate, ci95, exploitability, informative):
    measurement = measured_exploitability(win_rate, ci95, *TRAINED)
    assert measurement["informative"] is informative
    assert measurement["exploitability"] == (None if exploitability is None else pytest.approx(exploitability))
    assert measurement["gain"] == pytest.approx(win_rate - 0.5)
    assert measurement["gain_ci95"] == pytest.approx([ci95[0] - 0.5, ci95[1] - 0.5])
    assert measurement["trained"] is True and measurement["rise_ci95"] == TRAINED[1]


def battle(index: int, result: str, opponent: str = "A", seat: str = "p1") -> dict:
    return {"index": index, "result_a": result, "policy_b": opponent, "a_seat": seat}


def test_the_paired_interval_is_the_normal_interval_of_the_per_battle_differences():
    trained = [battle(0, "win"), battle(1, "win"), battle(2, "tie"), battle(3, "loss")]
    start = [battle(3, "loss"), battle(0, "loss"), battle(1, "win"), battle(2, "loss")]  # any order: paired by index
    # differences 1, 0, ½, 0: mean ⅜, sample sd √(11/48)
    rise = paired_score_difference(trained, start)
    half = 1.959963984540054 * (11 / 48) ** 0.5 / 2
    assert rise["mean"] == pytest.approx(0.375) and rise["battles"] == 4
    assert rise["ci95"] == pytest.approx([0.375 - half, 0.375 + half])
    assert "paired normal" in rise["interval"]
    mirror = paired_score_difference(trained, trained)
    assert mirror["mean"] == 0.0 and mirror["ci95"] == [0.0, 0.0]  # the same battles, the same results
    assert paired_score_difference([battle(0, "win")], [battle(0, "loss")])["ci95"] == [-1.0, 1.0]  # no spread


@pytest.mark.parametrize("start, message", [
    ([battle(0, "win")], "differ in their battles"),
    ([battle(0, "win"), battle(1, "win", opponent="B")], "battle 1 was played against another opponent"),
    ([battle(0, "win"), battle(1, "win", seat="p2")], "battle 1 was played against another opponent or seat"),
    ([battle(0, "win"), battle(1, "win"), battle(1, "loss")], "recorded twice"),
])
def test_the_paired_interval_refuses_battles_that_do_not_pair(start, message):
    with pytest.raises(UsageError, match=message):
        paired_score_difference([battle(0, "win"), battle(1, "loss")], start)


def test_a_mirror_match_exploiter_shows_nothing(run):
    """The exploiter that starts as σ's only member plays σ's own battles: even, with no rise. Not a PASS."""
    success, _ = analyse(run, exploiter=(0.50, [0.43, 0.57]), rise=MIRROR)
    criterion = success["criteria"]["exploitability_below_0.15"]
    assert criterion["verdict"] == "not shown" and criterion["pass"] is False and criterion["trained"] is False
    assert criterion["exploitability"] == 0.0 and criterion["value"] == pytest.approx(0.07)  # bounds alone pass
    assert success["all_pass"] is False


def test_a_trained_exploiter_that_finds_no_exploit_passes(run):
    success, _ = analyse(run, exploiter=(0.55, [0.48, 0.62]), rise=(0.20, [0.12, 0.28]))
    criterion = success["criteria"]["exploitability_below_0.15"]
    assert criterion["verdict"] == "pass" and criterion["pass"] is True
    assert criterion["value"] == pytest.approx(0.12) and criterion["rise_ci95"] == [0.12, 0.28]
    assert criterion["started_from"] == "bootstrap" and criterion["measured_with"] == "exploiter"


@pytest.mark.parametrize("rise", [TRAINED, MIRROR])
def test_a_large_gain_fails_whether_or_not_the_exploiter_trained(run, rise):
    success, _ = analyse(run, exploiter=(0.80, [0.70, 0.88]), rise=rise)
    criterion = success["criteria"]["exploitability_below_0.15"]
    assert criterion["verdict"] == "fail" and criterion["pass"] is False


def test_a_gain_interval_across_the_threshold_is_not_shown(run):
    success, _ = analyse(run, exploiter=(0.60, [0.52, 0.68]))  # trained; the gain's interval holds 0.15
    criterion = success["criteria"]["exploitability_below_0.15"]
    assert criterion["verdict"] == "not shown" and criterion["pass"] is False


def test_every_sigma_is_read_alike_and_reported_with_its_gain_and_rise(run):
    success, summary = analyse(run, exploiter=(0.30, [0.22, 0.40]), rise=MIRROR)
    criterion = success["criteria"]["exploitability_below_0.15"]
    assert criterion["measured_on"] == "iteration_1" and criterion["measured_with"] == "exploiter"
    assert criterion["exploitability"] is None and criterion["informative"] is False
    assert criterion["verdict"] == "not shown"
    assert criterion["gain"] == pytest.approx(-0.2) and criterion["gain_ci95"] == pytest.approx([-0.28, -0.1])
    per_sigma = {m["sigma_of"]: m for m in criterion["per_iteration"]}
    # BR_0 lost to σ_0 but rose over its start: it tried, and σ_0 held (upper end -0.10 < 0.15).
    assert per_sigma["phase0"]["informative"] is False and per_sigma["phase0"]["verdict"] == "pass"
    # BR_1's gain interval (-0.02 to +0.22) holds the threshold: not shown, though its point estimate is 0.11.
    assert per_sigma["iteration_0"]["exploitability"] == pytest.approx(0.11)
    assert per_sigma["iteration_0"]["verdict"] == "not shown" and per_sigma["iteration_0"]["pass"] is False
    assert success["all_pass"] is False
    # Every exploitability value has its gain, interval and rise beside it, the final σ's included.
    progress = summary["exploitability_progress"]
    assert [m["sigma_of"] for m in progress] == ["phase0", "iteration_0", "iteration_1"]
    for m in progress:
        assert {"exploitability", "gain", "gain_ci95", "informative", "reading", "rise", "rise_ci95", "trained",
                "verdict", "started_from", "start_winrate", "start_winrate_ci95"} <= m.keys()
    assert progress[-1]["start_winrate"] == pytest.approx(0.30)  # no rise: the start won as often
    assert summary["final_sigma"]["measured_with"] == "exploiter"
    assert summary["team_set"] == TEAM_SET


def test_summary_shows_held_out_win_rates_beside_in_distribution_ones(run):
    _, summary = analyse(run, exploiter=(0.55, [0.45, 0.65]))
    assert summary["eval_team_set"] == EVAL_TEAM_SET
    for m in summary["exploitability_progress"]:
        assert m["held_out"] == {"team_set": EVAL_TEAM_SET, "br_winrate": pytest.approx(m["br_winrate"] - 0.1),
                                 "br_winrate_ci95": pytest.approx([low - 0.1 for low in m["br_winrate_ci95"]]),
                                 "battles": 80}


def test_analysis_refuses_held_out_numbers_from_different_team_sets(run):
    write_evaluation(run / "iteration_1/br_eval.json", "PSRO_BR1", 0.61, [0.48, 0.72],
                     run / "iteration_0/meta_strategy.json", eval_team_set="variety")
    with pytest.raises(UsageError, match="different team sets .*'variety'"):
        analyse(run)


def test_meta_game_analysis_shows_the_gain_beside_the_exploitability(run):
    analysis = json.loads((run / "iteration_0/meta_game_analysis.json").read_text())
    assert analysis["exploitability"] == pytest.approx(0.0)  # in the matrix: an old member attains it
    measured = analysis["exploitability_measured"]
    assert measured["measured_with"] == "PSRO_BR0"
    assert measured["exploitability"] is None and measured["informative"] is False
    assert measured["gain_ci95"] == pytest.approx([-0.28, -0.10])
    assert analysis["team_set"] == TEAM_SET
    assert "nash_value" not in analysis
    assert analysis["nash_winrate_vs_member"]["PSRO_BR0"] == pytest.approx(0.7)


def test_best_responder_names_the_policy_that_attains_the_exploitability(run):
    _, summary = analyse(run)
    progress = {m["sigma_of"]: m for m in summary["exploitability_progress"]}
    assert progress["iteration_0"]["best_responder"] == "PSRO_BR1"
    assert progress["iteration_0"]["exploitability_in_matrix"] == pytest.approx(0.15)
    analysis = json.loads((run / "iteration_0/meta_game_analysis.json").read_text())
    assert progress["phase0"]["best_responder"] == analysis["exploitability_of_previous"]["best_response"]
    assert progress["phase0"]["best_responder"] in NAMES  # σ_phase0 is a Nash: only its own members reach 0.5
    assert progress["iteration_1"]["best_responder"] is None  # the final σ: measured by the exploiter only


def test_sixty_percent_is_judged_on_the_point_estimate_with_the_interval_reported(run):
    success, _ = analyse(run)
    criterion = success["criteria"]["each_br_beats_previous_nash_60pct"]
    br0, br1 = criterion["per_br"]["PSRO_BR0"], criterion["per_br"]["PSRO_BR1"]
    assert br1 == {"win_rate": 0.61, "ci95": [0.48, 0.72], "battles": 100, "lower_end_above_0.5": False,
                   "pass": True}
    assert br0["pass"] is False and br0["lower_end_above_0.5"] is False
    assert criterion["pass"] is False
    assert "exploiter" not in criterion["per_br"]


def test_br_eval_on_another_team_set_than_its_matrix_is_refused(run):
    stage = run / "iteration_1"
    write_evaluation(stage / "br_eval.json", "PSRO_BR1", 0.61, [0.48, 0.72], run / "iteration_0/meta_strategy.json",
                     team_set="variety")
    with pytest.raises(UsageError, match="team set 'variety'.*'competitive'"):
        solve(stage, run / "iteration_0")


def test_analysis_refuses_an_exploiter_measured_against_another_sigma(run):
    write_evaluation(run / "iteration_1/br_eval.json", "PSRO_BR1", 0.61, [0.48, 0.72],
                     run / "phase0/meta_strategy.json")
    with pytest.raises(UsageError, match="br_eval.json measured σ of .*phase0/meta_strategy.json"):
        analyse(run)


@pytest.mark.parametrize("damage, message", [
    (lambda path: path.write_text("{not json"), "not valid JSON"),
    (lambda path: path.unlink(), "file not found"),
    (lambda path: path.write_text(json.dumps({"policy": "PSRO_BR1", "team_set": TEAM_SET})),
     "missing key 'vs_previous_nash.win_rate'"),
    (lambda path: path.write_text(json.dumps({**json.loads(path.read_text()), "held_out": {"team_set": "heldout"}})),
     "missing key 'held_out.vs_previous_nash.win_rate'"),
])
def test_a_corrupt_or_missing_input_is_one_line_naming_the_file(run, damage, message):
    br_eval = run / "iteration_1/br_eval.json"
    damage(br_eval)
    with pytest.raises(UsageError, match=message) as caught:
        solve(run / "iteration_1", run / "iteration_0")
    assert str(br_eval) in str(caught.value)
    with pytest.raises(UsageError, match=message):
        analyse(run)


def test_a_workflow_job_with_a_bad_input_exits_2_with_one_line(run, tmp_path, capfd):
    (run / "iteration_1/br_eval.json").write_text("[]")
    job = SimpleNamespace(log=[str(tmp_path / "logs/solve.log")], threads=1)
    with pytest.raises(SystemExit) as caught:
        run_job(job, solve, stage=run / "iteration_1", previous=run / "iteration_0")
    assert caught.value.code == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "br_eval.json" in err[0] and "JSON object" in err[0], err


def test_a_solver_failure_is_one_line_naming_the_matrix(run, tmp_path, capfd, monkeypatch):
    import pokepsro.metagame.solver

    monkeypatch.setattr(pokepsro.metagame.solver, "linprog",
                        lambda *args, **kwargs: SimpleNamespace(success=False, message="numerical trouble"))
    job = SimpleNamespace(log=[str(tmp_path / "logs/solve.log")], threads=1)
    with pytest.raises(SystemExit) as caught:
        run_job(job, solve, stage=run / "phase0")
    assert caught.value.code == 1
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "phase0/interaction_matrix.json: Nash LP failed: numerical trouble" in err[0], err

    from pokepsro.cli import main

    assert main(["solve", str(run / "phase0/interaction_matrix.json"), "--out", str(tmp_path / "cli")]) == 1
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Nash LP failed" in err[0]
    assert not (tmp_path / "cli" / "meta_strategy.json").exists()


def test_make_run_prints_the_honest_criteria(run, capsys):
    from pokepsro.cli import main

    analyse(run, exploiter=(0.50, [0.43, 0.57]), rise=MIRROR)
    assert main(["criteria", str(run / "analysis/success.json")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("NOT SHOWN exploitability_below_0.15: final σ (iteration_1, measured with exploiter): "
                        "gain +0.000 (95 % CI -0.070 to +0.070, upper end < 0.15); rise over bootstrap +0.000 "
                        "(95 % CI +0.000 to +0.000: not shown to have trained)"), lines[0]
    assert any("σ of iteration_0 (measured with PSRO_BR1): NOT SHOWN, gain +0.110 (95 % CI -0.020 to +0.220, "
               "upper end ≥ 0.15); rise over bootstrap +0.100 (95 % CI +0.040 to +0.160: trained)" in line
               for line in lines)
    assert any("PSRO_BR1: 0.610 (95 % CI 0.480-0.720, 100 battles; lower end not above 0.5)" in line
               for line in lines)
    assert lines[-1] == "not every criterion passes"
    analyse(run, exploiter=(0.55, [0.48, 0.62]), rise=(0.20, [0.12, 0.28]))  # it trained, and found no exploit
    assert main(["criteria", str(run / "analysis/success.json")]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == ("PASS exploitability_below_0.15: final σ (iteration_1, measured with exploiter): gain +0.050 "
                     "(95 % CI -0.020 to +0.120, upper end < 0.15); rise over bootstrap +0.200 (95 % CI +0.120 to "
                     "+0.280: trained)"), first
    analyse(run, exploiter=(0.80, [0.70, 0.88]))
    assert main(["criteria", str(run / "analysis/success.json")]) == 0
    assert capsys.readouterr().out.startswith("FAIL exploitability_below_0.15: ")
    (run / "analysis/success.json").write_text("{}")
    assert main(["criteria", str(run / "analysis/success.json")]) == 2
    assert "rerun the analysis" in capsys.readouterr().err


def test_summary_rates_every_member_over_every_battle_between_members_once(run):
    _, summary = analyse(run)
    ratings = summary["ratings"]
    members = ratings["members"]
    assert list(members) == NAMES + ["PSRO_BR0", "PSRO_BR1"]
    # The matrix's 10 cells of 100, each best response's 100 against A, the mixture's 40 (A against PSRO_BR1);
    # nothing from the bootstrap (no member here), the exploiter, the starts or the held-out blocks.
    assert ratings["battles_by_file"] == {
        str(run / "iteration_1/interaction_matrix.json"): 1000, str(run / "iteration_0/br_eval.json"): 100,
        str(run / "iteration_1/br_eval.json"): 100, str(run / "phase0/bootstrap_eval.json"): 0,
        str(run / "analysis/mixture_vs_baselines.json"): 40}
    assert members["A"]["battles"] == 400 + 200 + 40 and members["PSRO_BR1"]["battles"] == 400 + 100 + 40
    assert members["PSRO_BR1"]["ci95"][0] > max(members[name]["ci95"][1] for name in NAMES)  # it beats everyone
    assert members["PSRO_BR0"]["ci95"][1] < min(members[name]["ci95"][0] for name in NAMES)  # it loses to everyone
    assert members["PSRO_BR0"]["gxe"] < 0.35 < 0.6 < members["PSRO_BR1"]["gxe"]
    assert ratings == analyse(run)[1]["ratings"]  # seeded from the run's seed


def test_ratings_refuse_a_battle_counted_twice_or_played_by_another_checkpoint(run):
    path = run / "iteration_1/br_eval.json"
    evaluation = json.loads(path.read_text())
    path.write_text(json.dumps({**evaluation, "records": evaluation["records"] + evaluation["records"][:1]}))
    with pytest.raises(UsageError, match="br_eval.json: battle index 0 appears twice"):
        analyse(run)
    path.write_text(json.dumps({**evaluation, "checkpoint": "elsewhere.pt"}))
    with pytest.raises(UsageError, match="PSRO_BR1 played as checkpoint elsewhere.pt .*, but the population.s member is checkpoint PSRO_BR1.pt"):
        analyse(run)

"""Bad input on the command line: one clear line on stderr, exit code 2, nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pokepsro.cli import main
from pokepsro.metagame.matrix import InteractionMatrix, PairCounts


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pokepsro.cli", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("args, message", [
    (["battle", "max_base_power", "nosuchbot", "-n", "5"], "unknown policy 'nosuchbot'"),
    (["battle", "max_base_power", "random", "-n", "5", "--team-set", "nosuchset"], "nosuchset"),
    (["battle", "max_base_power", "random", "-n", "5", "--format", "gen9ou"], "unsupported format 'gen9ou'"),
    (["battle", "max_base_power", "random", "-n", "5", "--out", "/nonexistent/dir/x.jsonl"], "does not exist"),
    (["battle", "max_base_power", "random", "-n", "5", "--out", "/tmp"], "is a directory"),
    (["battle", "max_base_power", "random", "-n", "5", "--out", "/etc/os-release"], "not a JSONL battle record"),
    (["battle", "max_base_power", "random", "-n", "5", "--temperature", "0"], "--temperature must be a number > 0"),
    (["evaluate", "random", "--opponent", "random", "--temperature", "warm"], "--temperature must be a number > 0"),
    (["battle", "max_base_power", "random", "-n", "5", "--greedy", "--temperature", "1"], "exclude each other"),
])
def test_battle_bad_input_exits_2_and_names_the_problem(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_unknown_policy_lists_valid_baselines(capsys):
    assert main(["battle", "nosuchbot", "random", "-n", "5"]) == 2
    err = capsys.readouterr().err
    for name in ["random", "max_base_power", "simple_heuristics", "gym_leader", "gen1_boss_ai"]:
        assert name in err


@pytest.mark.parametrize("n", ["0", "-3"])
def test_non_positive_battle_count_is_a_usage_error(n):
    result = run_cli("battle", "max_base_power", "random", "-n", n)
    assert result.returncode == 2
    assert "must be a positive integer" in result.stderr


def test_bad_team_file_in_user_folder_is_named(tmp_path, capsys):
    folder = tmp_path / "teams"
    folder.mkdir()
    (folder / "ubers.txt").write_text("Mewtwo\n- Psychic\n- Recover\n- Amnesia\n- Thunderbolt\n"
                                      "EVs: 252 HP / 252 Atk / 252 Def / 252 SpA / 252 Spe\n")
    out = tmp_path / "records.jsonl"
    assert main(["battle", "max_base_power", "random", "-n", "2", "--team-set", str(folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "ubers" in err and "Mewtwo" in err
    assert not out.exists()


def test_solve_rejects_non_square_matrix(tmp_path, capsys):
    matrix = tmp_path / "interaction_matrix.json"
    matrix.write_text(json.dumps({"policy_names": ["a", "b"], "pairs": [], "matrix": [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]}))
    out = tmp_path / "out"
    assert main(["solve", str(matrix), "--out", str(out)]) == 2
    assert "square" in capsys.readouterr().err
    assert not (out / "meta_strategy.json").exists()


def test_solve_counts_the_support_from_the_given_weight(tmp_path, capsys):
    matrix = tmp_path / "interaction_matrix.json"
    InteractionMatrix(["a", "b"], {("a", "b"): PairCounts(99, 1)}).save(matrix)  # a beats b: σ is pure a
    assert main(["solve", str(matrix), "--out", str(tmp_path), "--support-threshold", "0.5"]) == 0
    analysis = json.loads((tmp_path / "meta_game_analysis.json").read_text())
    assert analysis["support_size"] == 1 and analysis["support_threshold"] == 0.5
    with pytest.raises(SystemExit) as caught:
        main(["solve", str(matrix), "--out", str(tmp_path), "--support-threshold", "0"])
    assert caught.value.code == 2 and "must be in (0, 1]" in capsys.readouterr().err


def test_tournament_rejects_empty_population(tmp_path, capsys):
    population = tmp_path / "population.json"
    population.write_text(json.dumps({"policies": []}))
    assert main(["tournament", "--population", str(population), "--battles-per-matchup", "2",
                 "--out", str(tmp_path / "out")]) == 2
    assert "empty" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_train_rejects_replay_weight_outside_unit_interval(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    assert main(["train", "--out", str(tmp_path / "run"), "--data", str(data), "--replay-weight", "1.5"]) == 2
    assert "replay" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, message", [
    (["/nonexistent/init.pt", "--opponent", "gym_leader"], "checkpoint not found: /nonexistent/init.pt"),
    (["INIT", "--opponent", "nosuchbot"], "unknown policy 'nosuchbot'"),
    (["INIT", "--opponent", "gym_leader", "--ppo-config", "nosuchppo"], "unknown ppo config 'nosuchppo'"),
])
def test_best_response_bad_input_exits_2_and_writes_nothing(args, message, tmp_path, capsys):
    from conftest import write_tiny_checkpoint

    init = write_tiny_checkpoint(tmp_path / "init.pt")
    out = tmp_path / "br"
    argv = ["best-response", *[str(init) if arg == "INIT" else arg for arg in args], "--out", str(out),
            "--battles", "8"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (out / "br_training").exists() and not (out / ".br_training.partial").exists()


def checkpoint_vs_workflow(tmp_path: Path, *cli_flags: str) -> tuple[list[tuple], list[tuple], str]:
    """The bootstrap checkpoint against `random`: battles of the workflow's evaluation (acting from the config),
    and the same battles from `pokepsro evaluate` with `cli_flags`; plus what the CLI printed."""
    from conftest import write_tiny_checkpoint

    from pokepsro.core.files import REPO_ROOT, read_jsonl, read_yaml
    from pokepsro.core.seeding import derive_seed
    from pokepsro.metagame.population import Population, heuristic_entry
    from pokepsro.workflow.config import validate_config
    from pokepsro.workflow.evaluations import bootstrap_eval_stage

    config = read_yaml(REPO_ROOT / "config" / "config.yaml")
    validate_config(config)
    checkpoint = write_tiny_checkpoint(tmp_path / "bootstrap.pt")
    workflow = bootstrap_eval_stage(
        checkpoint=checkpoint, opponents=["random"], out=tmp_path / "bootstrap_eval.json", battles=6,
        team_set="competitive", seed=5, battle={key: config[key] for key in ("battle_format", "max_turns",
                                                                          "battle_timeout_s")},
        runtime={"concurrency": 4, "backend": "direct", "workers": 1}, server_log=tmp_path / "server.log",
        eval_team_set="heldout", acting=config["acting"])["opponents"]["random"]["records"]
    Population((heuristic_entry("random"),)).save(tmp_path / "population.json")
    (tmp_path / "sigma.json").write_text(json.dumps({"policy_names": ["random"], "meta_strategy": [1.0]}))
    out = tmp_path / "cli.jsonl"
    result = run_cli("evaluate", str(checkpoint), "--opponent", f"mixture:{tmp_path / 'population.json'}:"
                     f"{tmp_path / 'sigma.json'}", "-n", "6", "--seed", str(derive_seed(5, "bootstrap_eval", "random")),
                     "--workers", "1", "--concurrency", "4", "--out", str(out), *cli_flags)
    assert result.returncode == 0, result.stderr[-2000:]

    def battles(records: list[dict]) -> list[tuple]:
        return [(r["index"], r["policy_b"], r["team_a"], r["team_b"], r["winner"], r["turns"])
                for r in sorted(records, key=lambda r: r["index"])]

    return battles(workflow), battles(read_jsonl(out)), result.stdout


@pytest.mark.slow
def test_the_cli_plays_a_checkpoint_as_the_workflow_does_and_samples_when_asked(tmp_path):
    """Same seed, same battles: by default the CLI's checkpoint acts as the workflow's (greedy), and says so;
    --temperature makes it sample, which changes the battles of an untrained policy."""
    workflow, cli, printed = checkpoint_vs_workflow(tmp_path)
    assert cli == workflow
    assert "bootstrap acts: greedy" in printed
    (tmp_path / "cli.jsonl").unlink()
    workflow, sampled, printed = checkpoint_vs_workflow(tmp_path, "--temperature", "1")
    assert "bootstrap acts: temperature=1.0" in printed
    assert [battle[:4] for battle in sampled] == [battle[:4] for battle in workflow]  # the same schedule
    assert sampled != workflow

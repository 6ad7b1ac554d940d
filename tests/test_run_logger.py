"""The logger setting: wandb in offline mode (read back from the files it writes), a missing wandb package, none."""

from __future__ import annotations

import json
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from conftest import write_tiny_checkpoint
from test_analysis import (
    CYCLE,
    NAMES,
    analyse,
    solve,
    write_evaluation,
    write_run,
    write_stage,
)
from test_oracle import ppo_task

from pokepsro.cli import main
from pokepsro.core.errors import UsageError
from pokepsro.core.files import read_yaml
from pokepsro.core.run_logger import LoggerSettings, default_run_group, workflow_logger
from pokepsro.learning.oracle import train_best_response
from pokepsro.metagame.matrix import PairCounts
from pokepsro.workflow.config import validate_config

REPO = Path(__file__).resolve().parents[1]
BLOCK = 32768        # the .wandb file is a LevelDB-style log: 32 KiB blocks of chunks, each with a 7-byte header
FULL, LAST = 1, 4


def wandb_records(path: Path) -> list:
    """Every record of a `.wandb` run file (protobuf `Record`s in LevelDB log chunks after a 7-byte header)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a wandb run file"
    records, chunk, offset = [], b"", 7
    while offset + 7 <= len(data):
        if BLOCK - offset % BLOCK < 7:  # a block's tail too short for a header is padding
            offset += BLOCK - offset % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[offset:offset + 7])
        chunk += data[offset + 7:offset + 7 + length]
        offset += 7 + length
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunk)
            records.append(record)
            chunk = b""
    return records


def offline_runs(wandb_dir: Path) -> dict[str, dict]:
    """display name -> {group, job_type, history: [{key: value}]} of every offline run under `wandb_dir`, read once
    wandb's service has stopped: it writes run files in the background, and a finished run's file was seen
    without its run record while the service still ran (wandb 0.31)."""
    import wandb

    wandb.teardown()
    runs = {}
    for path in sorted(wandb_dir.glob("wandb/offline-run-*/run-*.wandb")):
        records = wandb_records(path)
        (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
        history = [{"/".join(item.nested_key) or item.key: json.loads(item.value_json) for item in r.history.item}
                   for r in records if r.WhichOneof("record_type") == "history"]
        runs[run.display_name] = {"group": run.run_group, "job_type": run.job_type, "history": history}
    return runs


@pytest.fixture
def wandb_offline(tmp_path, monkeypatch) -> Iterator[Path]:
    """wandb with no network: runs are written under the returned folder and nowhere else."""
    folder = tmp_path / "wandb_dir"
    folder.mkdir()
    for name, value in {"WANDB_MODE": "offline", "WANDB_DIR": str(folder), "WANDB_SILENT": "true",
                        "WANDB_CONFIG_DIR": str(tmp_path / "wandb_config"),
                        "WANDB_CACHE_DIR": str(tmp_path / "wandb_cache")}.items():
        monkeypatch.setenv(name, value)
    yield folder
    import wandb

    wandb.teardown()  # wandb keeps its settings (WANDB_DIR...) process-wide: the next test starts afresh


@pytest.fixture(autouse=True)
def torch_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_oracle_rounds_and_stage_numbers_land_in_one_wandb_group(tmp_path, wandb_offline):
    logger = LoggerSettings(kind="wandb", group=default_run_group(tmp_path / "results", 7))
    init = write_tiny_checkpoint(tmp_path / "init.pt")
    result = train_best_response("ppo", ppo_task(tmp_path, init, battles=8, round_battles=4, logger=logger))
    results = tmp_path / "results"
    phase0, iteration = results / "phase0", results / "iteration_0"
    write_stage(phase0, NAMES, CYCLE)
    solve(phase0, logger=logger)
    write_stage(iteration, NAMES + ["PSRO_BR0"], {**CYCLE, **{(n, "PSRO_BR0"): PairCounts(70, 30) for n in NAMES}})
    write_evaluation(iteration / "br_eval.json", "PSRO_BR0", 0.62, [0.55, 0.69], phase0 / "meta_strategy.json")
    solve(iteration, phase0, logger=logger)

    runs = offline_runs(wandb_offline)
    assert set(runs) == {"br", "meta_game phase0", "meta_game iteration_0"}
    assert {run["group"] for run in runs.values()} == {logger.group}
    assert not (tmp_path / "work" / "tensorboard").exists()  # wandb replaces TensorBoard, not adds to it

    oracle = runs["br"]
    assert oracle["job_type"] == "oracle"
    rounds = [row for row in oracle["history"] if "ppo/win_rate" in row]
    assert [row["ppo/battles"] for row in rounds] == [4, 8]
    for name in ("win_rate", "policy_loss", "value_loss", "entropy", "approx_kl", "samples_per_s"):
        assert [row[f"ppo/{name}"] for row in rounds] == pytest.approx([m[name] for m in result.metrics])

    (phase0_point,) = runs["meta_game phase0"]["history"]
    assert phase0_point["meta/stage"] == 0
    sigma = json.loads((phase0 / "meta_strategy.json").read_text())["meta_strategy"]
    assert [phase0_point[f"meta/sigma/{name}"] for name in NAMES] == pytest.approx(sigma)
    assert "meta/exploitability" not in phase0_point  # phase 0 has no previous σ to measure
    (point,) = runs["meta_game iteration_0"]["history"]
    analysis = json.loads((iteration / "meta_game_analysis.json").read_text())
    assert point["meta/stage"] == 1
    assert point["meta/exploitability"] == pytest.approx(analysis["exploitability"])
    assert point["meta/br_gain_vs_previous_nash"] == pytest.approx(0.12)
    assert point["meta/support_size"] == analysis["support_size"]


def test_analysis_logs_every_sigmas_measured_exploitability_the_final_one_included(tmp_path, wandb_offline):
    logger = LoggerSettings(kind="wandb", group="analysis-test")
    analyse(write_run(tmp_path / "results"), exploiter=(0.62, [0.55, 0.69]), logger=logger)

    (analysis,) = [entry for name, entry in offline_runs(wandb_offline).items() if name == "analysis"]
    assert analysis["group"] == "analysis-test"
    points = {row["measured/stage"]: row for row in analysis["history"]}
    assert sorted(points) == [0, 1, 2]  # σ of phase0, iteration_0 and the final σ (iteration_1)
    assert "measured/exploitability" not in points[0]  # BR_0 lost to σ_0: not informative, never logged as 0
    assert points[0]["measured/br_winrate"] == pytest.approx(0.30)
    assert points[2]["measured/exploitability"] == pytest.approx(0.12)  # the exploiter's gain on the final σ
    assert points[2]["measured/gain_ci_low"] == pytest.approx(0.05)


def test_workflow_run_group_is_stable_per_results_folder_and_seed(tmp_path):
    config = {"seed": 5, "logger": "wandb"}
    first = workflow_logger(config, tmp_path / "a" / "results")
    assert first == workflow_logger(config, tmp_path / "a" / "results")  # a resumed run rejoins its group
    assert first.group != workflow_logger(config, tmp_path / "b" / "results").group
    assert first.group != workflow_logger({**config, "seed": 6}, tmp_path / "a" / "results").group
    assert workflow_logger({**config, "run_group": "mine"}).group == "mine"
    assert workflow_logger({"seed": 5}).kind == "tensorboard"


def test_logger_none_writes_no_event_files(tmp_path):
    init = write_tiny_checkpoint(tmp_path / "init.pt")
    train_best_response("ppo", ppo_task(tmp_path, init, battles=4, round_battles=4, logger=LoggerSettings("none")))
    assert (tmp_path / "work" / "metrics.csv").is_file()
    assert not (tmp_path / "work" / "tensorboard").exists()


@pytest.fixture
def no_wandb(monkeypatch):
    """As if the wandb package were not installed."""
    monkeypatch.setitem(sys.modules, "wandb", None)


def test_config_with_wandb_but_no_package_says_how_to_install_it(no_wandb):
    config = {**read_yaml(REPO / "config" / "config.yaml"), "logger": "wandb"}
    with pytest.raises(UsageError, match=r"config key logger: .*wandb.*not installed.*pip install -e '\.\[wandb\]'"):
        validate_config(config)


def test_cli_with_wandb_but_no_package_is_one_line_before_any_work(tmp_path, capsys, no_wandb):
    init = write_tiny_checkpoint(tmp_path / "init.pt")
    code = main(["best-response", str(init), "--opponent", "random", "--out", str(tmp_path / "br"), "--battles", "4",
                 "--logger", "wandb"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "pip install -e '.[wandb]'" in err
    assert not (tmp_path / "br").exists()


def test_unknown_logger_is_refused_naming_the_key():
    config = {**read_yaml(REPO / "config" / "config.yaml"), "logger": "mlflow"}
    with pytest.raises(UsageError, match="config key logger"):
        validate_config(config)

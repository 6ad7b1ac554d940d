"""Which result files of two runs differ, run-specific figures left out: the check that a rerun reproduced.

    python -m pokepsro.workflow.rerun_diff RUN_A RUN_B

compares every `.json`, `.jsonl`, `.csv`, `.npz` and `.pt` file under `RUN_A/results` and `RUN_B/results` (weights
and arrays bit for bit) and prints the files that differ or exist in one run only; exit code 1 when any does.
Left out: wall-clock figures, the worker count and Showdown's room tags, which no seed decides.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import torch

from pokepsro.core.files import read_jsonl

RUN_SPECIFIC = {"wall_s", "finished_at", "battle_id", "showdown_battle", "workers", "seconds", "play_s", "update_s",
                "round_s", "battles_per_s", "samples_per_s", "update_samples_per_s", "eval_s", "learner_idle_s",
                "battles_bytes"}  # battles_bytes: the length of battles.jsonl, whose records hold run-specific fields
COMPARED = (".json", ".jsonl", ".csv", ".npz", ".pt")


def without_run_specifics(value):
    """`value` with every run-specific field dropped, JSON strings inside checkpoints (`*_json`) and shards (`meta`)
    parsed, arrays as bytes."""
    if isinstance(value, dict):
        return {key: without_run_specifics(json.loads(item) if _holds_json(key) else item)
                for key, item in value.items() if key not in RUN_SPECIFIC}
    if isinstance(value, list | tuple):
        return [without_run_specifics(item) for item in value]
    if isinstance(value, torch.Tensor | np.ndarray):
        return np.asarray(value).tobytes()  # bit for bit (NaN included)
    return value


def _holds_json(key) -> bool:
    """A field that holds JSON text (optimizer states have integer keys)."""
    return isinstance(key, str) and (key == "meta" or key.endswith("_json"))


def artifact_content(path: Path):
    """A result file's content, run-specific figures left out."""
    if path.suffix == ".json":
        return without_run_specifics(json.loads(path.read_text()))
    if path.suffix == ".jsonl":
        return without_run_specifics(read_jsonl(path))
    if path.suffix == ".csv":
        with open(path, newline="") as handle:
            return without_run_specifics(list(csv.DictReader(handle)))
    if path.suffix == ".npz":
        with np.load(path) as shard:
            return without_run_specifics({key: str(shard[key]) if key == "meta" else shard[key]
                                          for key in shard.files})
    return without_run_specifics(torch.load(path, weights_only=True))


def compared_files(run: Path) -> list[Path]:
    """The result files of a run folder, relative to it."""
    return sorted(path.relative_to(run) for path in (run / "results").rglob("*") if path.suffix in COMPARED)


def differing_files(run_a: Path, run_b: Path) -> tuple[list[Path], list[str]]:
    """(the files compared, those that differ or exist in one run only)."""
    files_a, files_b = compared_files(run_a), compared_files(run_b)
    only = [f"{path} (only in {run_a if path in files_a else run_b})" for path in sorted(set(files_a) ^ set(files_b))]
    common = sorted(set(files_a) & set(files_b))
    return common, only + [str(path) for path in common
                           if artifact_content(run_a / path) != artifact_content(run_b / path)]


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not all((Path(run) / "results").is_dir() for run in argv):
        sys.stderr.write("usage: python -m pokepsro.workflow.rerun_diff RUN_A RUN_B (two folders holding results/)\n")
        return 2
    compared, differing = differing_files(Path(argv[0]), Path(argv[1]))
    print(f"{len(compared)} result files compared ({sum(p.suffix == '.pt' for p in compared)} checkpoints), "
          f"{len(differing)} differ")
    for name in differing:
        print(f"differs: {name}")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

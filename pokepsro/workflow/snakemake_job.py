"""Glue for `script:` wrappers: per-job log file, thread count, one-line errors for bad input, and the rules'
battle params and the config's runtime as run options."""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from pathlib import Path
from typing import Callable

from pokepsro.core.errors import SOLVER_FAILURE_EXIT, SetupError, SolverError, UsageError


def run_job(snakemake, job: Callable, *, torch_threads: int | None = None, **kwargs):
    """Run `job(**kwargs)` with stdout/stderr going to the rule's log file.

    torch uses the rule's threads for training; battle jobs pass `torch_threads=1`, since small batched
    forward passes are fastest on one thread (the other core runs the simulator).
    """
    log_path = Path(snakemake.log[0])
    log_path.parent.mkdir(parents=True, exist_ok=True)
    threads = str(getattr(snakemake, "threads", 1))
    os.environ.setdefault("OMP_NUM_THREADS", threads)
    with open(log_path, "w", buffering=1) as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        print(f"job start: SLURM_JOB_ID={os.environ.get('SLURM_JOB_ID', 'none')} "
              f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}")  # where and on what it ran
        try:
            import torch

            torch.set_num_threads(torch_threads or int(threads))
            return job(**kwargs)
        except (UsageError, SetupError, SolverError) as error:
            print(f"error: {error}", file=log)
            print(f"error: {error}", file=sys.__stderr__)
            raise SystemExit(SOLVER_FAILURE_EXIT if isinstance(error, SolverError) else 2) from None
        except BaseException:
            traceback.print_exc(file=log)
            raise


def server_log(snakemake) -> Path:
    """The Showdown server of a battling job logs next to the job's own log."""
    log_path = Path(snakemake.log[0])
    return log_path.with_name(log_path.stem + ".showdown.log")


def job_runtime(config: dict, *, rollouts: bool = False) -> dict:
    """How fast a battling job plays, as the Snakefile resolved it: concurrency, parallel matchups, backend and
    workers (the battle workers, or with `rollouts` the PPO oracle's rollout workers, oracle.ppo.workers). The job
    reads it from the config rather than from a rule param, so changing it reruns nothing."""
    runtime = {key: config[key] for key in ("concurrency", "parallel_matchups", "backend")}
    return {**runtime, "workers": config["oracle"]["ppo"]["workers"] if rollouts else config["workers"]}


def run_options(battle: dict, runtime: dict) -> dict:
    """A battling rule's `battle` params (what changes outcomes) and `runtime` (how fast) as `run_battles` options."""
    return {"battle_format": battle["battle_format"], "max_turns": battle["max_turns"],
            "battle_timeout_s": battle["battle_timeout_s"], "concurrency": runtime["concurrency"],
            "backend": runtime["backend"], "workers": runtime["workers"]}

"""Glue for `script:` wrappers: per-job log file, thread count, and one-line errors for bad input."""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from pathlib import Path
from typing import Callable

from .errors import SetupError, UsageError


def run_job(snakemake, job: Callable, **kwargs):
    """Run `job(**kwargs)` with stdout/stderr going to the rule's log file and torch using the rule's threads."""
    log_path = Path(snakemake.log[0])
    log_path.parent.mkdir(parents=True, exist_ok=True)
    threads = str(getattr(snakemake, "threads", 1))
    os.environ.setdefault("OMP_NUM_THREADS", threads)
    with open(log_path, "w", buffering=1) as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        try:
            import torch

            torch.set_num_threads(int(threads))
            return job(**kwargs)
        except (UsageError, SetupError) as error:
            print(f"error: {error}", file=log)
            print(f"error: {error}", file=sys.__stderr__)
            raise SystemExit(2) from None
        except BaseException:
            traceback.print_exc(file=log)
            raise


def server_log(snakemake) -> Path:
    """The Showdown server of a battling job logs next to the job's own log."""
    log_path = Path(snakemake.log[0])
    return log_path.with_name(log_path.stem + ".showdown.log")

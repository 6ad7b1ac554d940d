"""How long Snakemake takes to find that a built workflow has nothing to do (its DAG, input functions, mtimes).

    python benchmarks/workflow_noop.py [--directory .] [--configfile config/config.yaml] [--repeats 3] [-- ARGS]

Runs `snakemake -n` on an already built workflow `--repeats` times and prints each run's wall seconds, their
median, and the number of jobs it planned (0 for an up-to-date workflow; the benchmark says so when it is not).
Arguments after `--` go to snakemake as they are (`--config key=value`, say). The end-to-end test checks that a
rerun of a built workflow plans no job and touches no file; this prints what that planning costs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def planned_jobs(output: str) -> int:
    """The 'total' of a dry run's 'Job stats' table (0 when there is none: nothing to be done)."""
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "total" and parts[1].isdigit():
            return int(parts[1])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory", type=Path, default=Path("."), help="the built workflow's folder")
    parser.add_argument("--configfile", type=Path, default=None, help="as the workflow was built with")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("extra", nargs="*", help="after --: more snakemake arguments")
    args = parser.parse_args(argv)
    command = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(args.directory), "-n",
               *(["--configfile", str(args.configfile)] if args.configfile is not None else []), *args.extra]
    seconds, jobs = [], set()
    for repeat in range(args.repeats):
        started = time.perf_counter()
        completed = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)
        seconds.append(time.perf_counter() - started)
        if completed.returncode != 0:
            print(f"error: snakemake -n failed (exit {completed.returncode}):\n{completed.stderr[-2000:]}",
                  file=sys.stderr)
            return 1
        jobs.add(planned_jobs(completed.stdout))
        print(f"  run {repeat + 1}: {seconds[-1]:.2f} s", flush=True)
    print(f"snakemake -n on {args.directory}: median {statistics.median(seconds):.2f} s over {args.repeats} runs "
          f"(min {min(seconds):.2f}, max {max(seconds):.2f}); jobs planned: {', '.join(map(str, sorted(jobs)))}"
          + ("" if jobs == {0} else " (not up to date: this timed planning work, not a no-op)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""CPU seconds of a command, split by the kind of process that spent them: where a battle's cost per core goes.

    python benchmarks/cpu_by_process.py [--battles N] -- COMMAND ...

Runs COMMAND and samples /proc every 0.3 s: COMMAND's process and every process under it (children, theirs, ...;
one whose parent ended stays counted) is charged, at its last sample, with its user + system CPU time to one kind:
`simulator` (node), `worker` (a `python -m` worker: rollout or battle worker), `main` (the command's own process) or
`other`. Processes are told apart by pid and start time, so a pid the kernel hands out again is another process, and
other programs on the machine are not counted. With --battles, the seconds per battle of each kind are printed too.
A process that lives less than one sample interval is missed, so the split is a lower bound for short-lived ones;
the oracle's and the tournaments' processes live for the whole job. Linux only.

Example (the PPO oracle on this machine's 2 cores, 512 battles against gym_leader):

    python benchmarks/cpu_by_process.py --battles 512 -- python benchmarks/oracle_scaling.py --init CKPT \
        --workers 2 --battles-per-worker 256
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import time
from typing import NamedTuple

TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_S = 0.3


class Process(NamedTuple):
    """One process as /proc shows it now."""

    parent: int
    started: int  # clock ticks after boot: with the pid, tells a reused pid from the process that had it
    command: str
    cpu_s: float  # user + system so far


def process_table() -> dict[int, Process]:
    """pid -> Process, for every process readable now."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat, open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                fields = stat.read().rsplit(")", 1)[1].split()
                command = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        found[int(entry)] = Process(int(fields[1]), int(fields[19]), command,
                                    (int(fields[11]) + int(fields[12])) / TICKS)
    return found


def members(table: dict[int, Process], root: int, known: set[tuple[int, int]]) -> set[int]:
    """Live pids of `root`'s tree: `root`, the processes already `known` as members (by pid and start time, so
    one whose parent ended stays in), and every process below any of them."""
    tree = {root} | {pid for pid, process in table.items() if (pid, process.started) in known}
    grown = True
    while grown:
        below = {pid for pid, process in table.items() if process.parent in tree} - tree
        tree |= below
        grown = bool(below)
    return tree & table.keys()


def kind_of(pid: int, command: str, main_pid: int) -> str:
    program = os.path.basename(command.split(" ", 1)[0])
    if pid == main_pid:
        return "main"
    if program.startswith("node"):
        return "simulator"
    if " -m " in command and "python" in program:
        return "worker"
    return "other"


def measure(command: list[str]) -> tuple[float, dict[str, float]]:
    started = time.monotonic()
    process = subprocess.Popen(command)
    last: dict[tuple[int, int], Process] = {}  # (pid, start) -> the process at its last sample
    while process.poll() is None:
        table = process_table()
        for pid in members(table, process.pid, set(last)):
            key, now = (pid, table[pid].started), table[pid]
            if key in last and not now.command:  # a zombie has no command line any more: keep the one it had
                now = now._replace(command=last[key].command)
            last[key] = now
        time.sleep(SAMPLE_S)
    wall = time.monotonic() - started
    if process.returncode:
        sys.exit(f"error: the command exited with {process.returncode}")
    by_kind: collections.Counter[str] = collections.Counter()
    for (pid, _), seen in last.items():
        by_kind[kind_of(pid, seen.command, process.pid)] += seen.cpu_s
    return wall, dict(by_kind)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--battles", type=int, help="battles the command plays: also print CPU ms per battle")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ...")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given: put it after --")
    wall, by_kind = measure(command)
    total = sum(by_kind.values())
    print(f"\nwall {wall:.1f} s, CPU {total:.1f} s ({total / wall:.2f} cores busy)")
    print("| process kind | CPU s | share |" + (" CPU ms per battle |" if args.battles else ""))
    print("|---|---|---|" + ("---|" if args.battles else ""))
    for kind, seconds in sorted(by_kind.items(), key=lambda item: -item[1]):
        per_battle = f" {1000 * seconds / args.battles:.0f} |" if args.battles else ""
        print(f"| {kind} | {seconds:.1f} | {seconds / total:.0%} |{per_battle}")


if __name__ == "__main__":
    main()

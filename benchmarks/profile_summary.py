"""Where a profiled oracle run spent its Python time: py-spy's collapsed stacks, summed by process and by stage.

    python benchmarks/profile_summary.py PROFILE.txt [--top 15]

PROFILE.txt is `py-spy record --subprocesses --format raw` output (tools/device/oracle_profile.sh); with py-spy's
`--gil`, only threads holding the GIL are sampled, so the shares are of Python's CPU time (idle threads blocked in
a system call can otherwise show up as busy). Each sample is
charged to one stage: the first frame, from the leaf up, whose file belongs to a stage below (so time inside
torch called from the feature encoder counts as inference, and the encoder's own lines as encoding). A process
is the learner (the benchmark's main process) or a rollout worker. Samples taken while a module is being imported
count as start-up, whatever the import runs. Printed: each process kind's share of the
samples, its stages, and its functions with the most samples of their own.
"""

from __future__ import annotations

import argparse
import collections
import re
from pathlib import Path

# (stage, pattern on a frame's "function (file:line)"), tried in order for each frame from the leaf up.
STAGES = (
    ("waiting (select/epoll, locks)", re.compile(r"\((?:.*/)?(selectors|threading|queue)\.py|\bselect\b|\bpoll\b")),
    ("inference (torch forward)", re.compile(r"torch/|pokepsro/learning/model\.py")),
    ("feature encoding", re.compile(r"pokepsro/learning/features")),
    ("heuristic players (gen1 baselines)", re.compile(r"pokepsro/gen1/baselines")),
    ("poke-env battle state", re.compile(r"poke_env/(environment|data)/")),
    ("poke-env protocol and player", re.compile(r"poke_env/")),
    ("our battle backend", re.compile(r"pokepsro/battles/")),
    ("IPC (pipes, pickling)", re.compile(r"multiprocessing/|pickle|copyreg")),
    ("asyncio loop", re.compile(r"asyncio/")),
    ("json", re.compile(r"json/|orjson")),
)
IMPORTING = re.compile(r"<frozen importlib\._bootstrap")  # a module being loaded: start-up, whatever it runs
PROCESS = re.compile(r'^process \d+:"(?P<cmd>[^"]*)"')


def process_kind(command: str) -> str:
    if "pokepsro.learning.oracle.rollouts" in command:
        return "rollout worker"
    if "battle_worker" in command:
        return "battle worker"
    return "learner (main process)"


def stage_of(frames: list[str]) -> str:
    if any(IMPORTING.search(frame) for frame in frames):
        return "start-up (imports)"
    for frame in reversed(frames):
        for stage, pattern in STAGES:
            if pattern.search(frame):
                return stage
    return "other Python"


def summarise(path: Path) -> tuple[collections.Counter, dict, dict, set]:
    """Samples per process kind, per (kind, stage) and per (kind, leaf function)."""
    per_kind: collections.Counter = collections.Counter()
    per_stage: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    per_leaf: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    processes: dict[str, set] = collections.defaultdict(set)
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        # py-spy nests a child's stacks under its parents' process frames: the last one is the sampled process.
        owner = max((i for i, frame in enumerate(frames) if PROCESS.match(frame)), default=None)
        kind = "unknown process" if owner is None else process_kind(PROCESS.match(frames[owner])["cmd"])
        if owner is not None:
            processes[kind].add(frames[owner].split(":")[0])
            frames = frames[owner + 1:]
        frames = [frame for frame in frames if not frame.startswith("thread ")]
        samples = int(count)
        per_kind[kind] += samples
        per_stage[kind][stage_of(frames)] += samples
        per_leaf[kind][frames[-1] if frames else "?"] += samples
    return per_kind, per_stage, per_leaf, processes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    per_kind, per_stage, per_leaf, processes = summarise(args.profile)
    total = sum(per_kind.values())
    for kind, samples in per_kind.most_common():
        count = len(processes[kind]) or 1
        print(f"\n## {kind}: {samples / total:.0%} of all samples, {count} process(es), "
              f"{samples / count:.0f} samples per process")
        print("| stage | share of its samples |\n|---|---|")
        for stage, stage_samples in per_stage[kind].most_common():
            print(f"| {stage} | {stage_samples / samples:.1%} |")
        print(f"\nfunctions with the most samples of their own ({kind}):")
        for leaf, leaf_samples in per_leaf[kind].most_common(args.top):
            print(f"  {leaf_samples / samples:6.1%}  {leaf}")


if __name__ == "__main__":
    main()

r"""Where the simulator's Node time goes: V8 CPU profiles (`node --cpu-prof`) summed by stage and by function.

    printf '#!/bin/sh\nexec %s --cpu-prof --cpu-prof-dir=DIR "$@"\n' "$(command -v node)" > SHIM/node
    chmod +x SHIM/node; PATH=SHIM:$PATH python benchmarks/oracle_scaling.py ...   (each node child writes one)
    python benchmarks/node_profile_summary.py DIR/*.cpuprofile [--top 15]

Node 20 refuses `--cpu-prof` in NODE_OPTIONS, so a `node` shim first on PATH passes it. Only profiles of
`battle_host.js` (the direct backend's simulator) are counted; others (the team validator) are skipped. Each sample's
time goes to the stage of its leaf frame ("self" time; a builtin such as JSON.stringify, which has no file, to the
stage of the nearest caller that has one), or to start-up when the sample is inside Node's module loader, whatever it
runs; the idle samples, where the host waited for its next command, are left out of the shares and reported apart.
Also printed: the functions with the most self time, and the inclusive share of a few of the simulator's entry points,
to tell Showdown's own battle engine from the plumbing around it.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
from pathlib import Path

# (stage, pattern on a frame's "function url"), tried in order on the leaf frame of each sample.
STAGES = (
    ("garbage collection", re.compile(r"^\(garbage collector\)")),
    ("V8 outside JavaScript (compiler, runtime)", re.compile(r"^\(program\)")),
    ("our battle host (JSON lines, buffering)", re.compile(r"battle_host\.js|seed\.js")),
    ("BattleStream and its streams", re.compile(r"dist/sim/battle-stream\.js|dist/lib/streams\.js")),
    ("simulator engine (sim/, lib/)", re.compile(r"dist/(sim|lib)/")),
    ("format data (data/, mods)", re.compile(r"dist/data/")),
    ("Node internals (stdin/stdout, events)", re.compile(r"node:")),
)
# Functions whose inclusive time tells the engine from the plumbing (matched by name in a Showdown file).
ENTRY_POINTS = ("extractChannelMessages", "makeRequest", "getRequest", "sendUpdates", "runAction", "choose",
                "start", "setPlayer")
IDLE = "(idle)"
START_UP = "start-up (loading modules)"


def frame_label(call_frame: dict) -> str:
    name = call_frame.get("functionName") or "(anonymous)"
    url = call_frame.get("url", "")
    return f"{name} {url.split('pokemon-showdown/')[-1]}:{call_frame.get('lineNumber', -1) + 1}" if url else name


def stage_of(call_frame: dict) -> str:
    text = f"{call_frame.get('functionName', '')} {call_frame.get('url', '')}"
    for stage, pattern in STAGES:
        if pattern.search(text):
            return stage
    return "other JavaScript"


def is_battle_host(profile: dict) -> bool:
    return any("battle_host.js" in node["callFrame"].get("url", "") for node in profile["nodes"])


def summarise(profile: dict, per_stage: collections.Counter, per_function: collections.Counter,
              inclusive: collections.Counter) -> float:
    """Add one profile's microseconds to the counters; returns its idle microseconds."""
    nodes = {node["id"]: node for node in profile["nodes"]}
    parent = {child: node["id"] for node in profile["nodes"] for child in node.get("children", ())}
    idle = 0.0
    for node_id, delta in zip(profile["samples"], profile["timeDeltas"]):
        frame = nodes[node_id]["callFrame"]
        if frame.get("functionName") == IDLE:
            idle += delta
            continue
        per_function[frame_label(frame)] += delta
        seen, loading, charged_to = set(), False, None
        walker = node_id
        while walker is not None:
            caller = nodes[walker]["callFrame"]
            name, url = caller.get("functionName", ""), caller.get("url", "")
            loading = loading or url.startswith("node:internal/modules/")
            if charged_to is None and (url or name.startswith("(")):
                charged_to = caller
            if name in ENTRY_POINTS and name not in seen and "pokemon-showdown" in url:
                seen.add(name)
                inclusive[name] += delta
            walker = parent.get(walker)
        per_stage[START_UP if loading else stage_of(charged_to or frame)] += delta
    return idle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profiles", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    per_stage: collections.Counter = collections.Counter()
    per_function: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    idle, hosts = 0.0, 0
    for path in args.profiles:
        profile = json.loads(path.read_text())
        if is_battle_host(profile):
            hosts += 1
            idle += summarise(profile, per_stage, per_function, inclusive)
    busy = sum(per_stage.values())
    if not busy:
        raise SystemExit("no battle_host.js samples in these profiles: were they written with --cpu-prof?")
    print(f"{hosts} battle host profile(s): {busy / 1e6:.1f} s busy, {idle / 1e6:.1f} s idle\n")
    print("| stage (leaf frame, builtins to their caller) | share of busy time |\n|---|---|")
    for stage, micros in per_stage.most_common():
        print(f"| {stage} | {100 * micros / busy:.1f} % |")
    print("\n| Showdown function (inclusive: it and what it calls) | share |\n|---|---|")
    for name, micros in inclusive.most_common():
        print(f"| {name} | {100 * micros / busy:.1f} % |")
    print(f"\n| top {args.top} functions by self time | share |\n|---|---|")
    for label, micros in per_function.most_common(args.top):
        print(f"| `{label}` | {100 * micros / busy:.1f} % |")


if __name__ == "__main__":
    main()

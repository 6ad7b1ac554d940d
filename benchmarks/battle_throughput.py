"""Battle throughput of the server and direct backends against the floor of the Showdown simulator alone.

On one warm local Showdown server (a short warm-up run first, not timed) this plays `max_base_power` vs
`random` through `pokepsro.battles.api.run_battles` at each concurrency level, then the neural player (a checkpoint,
by default a freshly initialised `small` model: speed does not depend on the weights) vs `max_base_power`,
then `random` vs `random`, each on a fixed schedule. The direct backend (`backend="direct"`, no server) plays
the three schedules with each number of worker processes in `--direct-workers`; its timing includes starting
its workers. The floor plays the same random-vs-random schedule (same format, teams, seats and battle seeds)
in one Node process through `BattleStream` with the simulator's own `RandomPlayerAI` (`benchmarks/sim_floor.js`).

The server's start-up (from launch until its websocket answers: what every `run_battles` call without a
server of its own pays first) is timed and printed too.

Battle length depends on the matchup, so turns/s is reported next to battles/s, and the backends are
compared on the same pair ("vs server": turns/s over the best server row of the same pair). "CPU cores used"
is measured, not assumed: CPU seconds of this Python process and every process under it (the server and its
subprocesses, or the direct backend's workers and simulators; the floor times its own Node process) divided
by wall seconds. "per core vs floor" compares turns/s per core used with the floor's.

    python benchmarks/battle_throughput.py --battles 300 --concurrency 4 16 32 --floor-battles 300

`--soak N` instead plays N `max_base_power` vs `random` battles in one direct run (`--soak-workers` worker
processes) and prints, per 1,000 battles, throughput, CPU seconds per battle and memory (this process and
every process under it): the last 1,000 battles' throughput should be at least 0.8 of the first 1,000's, and
memory flat. CPU per battle is the load-independent view of the same decay.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a bare checkout too

from pokepsro.battles.api import run_battles
from pokepsro.battles.backend import PlayerFactory
from pokepsro.battles.records import summarize_records
from pokepsro.battles.showdown import ShowdownServer
from pokepsro.battles.spec import BattleSpec, schedule_matchup
from pokepsro.core.errors import SetupError, UsageError
from pokepsro.core.files import atomic_write_json
from pokepsro.core.seeding import derive_seed
from pokepsro.gen1.baselines import BASELINES
from pokepsro.gen1.simulator import check_showdown_install, node_executable, showdown_root
from pokepsro.gen1.teams import TeamSet, load_team_set
from pokepsro.learning.features import FEATURE_VERSION, OBS_DIM
from pokepsro.learning.model import build_model, load_model_config, save_checkpoint
from pokepsro.metagame.population import PolicyEntry, player_factory

FLOOR_SCRIPT = Path(__file__).resolve().parent / "sim_floor.js"
FLOOR_TIMEOUT_S = 600
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
STRONG, WEAK, NEURAL = "max_base_power", "random", "neural"
SOAK_SAMPLE_S = 0.5


def tree_cpu_seconds() -> float:
    """CPU seconds of this process and everything under it, live or reaped: players, poke-env's loop
    thread, the Showdown server and its subprocesses, the direct backend's workers and simulators."""
    return sum(cpu for _, cpu, _ in process_tree().values())


def measure_direct(label: str, specs: Sequence[BattleSpec], players: Mapping[str, PlayerFactory],
                   concurrency: int, workers: int, battle_format: str) -> dict:
    """Play `specs` through the direct backend (workers started and stopped inside the timed span)."""
    cpu_before = tree_cpu_seconds()
    started = time.perf_counter()
    records = run_battles(specs, players, battle_format=battle_format, concurrency=concurrency,
                          backend="direct", workers=workers, progress=False)
    seconds = time.perf_counter() - started
    cpu_seconds = tree_cpu_seconds() - cpu_before
    return result_row(label, "direct", concurrency, records, seconds, cpu_seconds, workers=workers)


def result_row(label: str, backend: str, concurrency: int, records: list[dict], seconds: float,
               cpu_seconds: float, **extra) -> dict:
    summary = summarize_records(records)
    return {"configuration": label, "backend": backend, "concurrency": concurrency, **extra,
            "policy_a": records[0]["policy_a"], "policy_b": records[0]["policy_b"], "battles": len(records),
            "turns": sum(r["turns"] for r in records), "seconds": seconds, "cpu_seconds": cpu_seconds,
            "win_rate_a": summary["win_rate"], "ci95_a": summary["ci95"], "ends": summary["ends"]}


def measure_server(label: str, specs: Sequence[BattleSpec], players: Mapping[str, PlayerFactory],
                   concurrency: int, server: ShowdownServer, battle_format: str) -> dict:
    """Play `specs` on the warm server and time them, wall clock and CPU."""
    cpu_before = tree_cpu_seconds()
    started = time.perf_counter()
    records = run_battles(specs, players, battle_format=battle_format, concurrency=concurrency,
                          server=server, progress=False)
    seconds = time.perf_counter() - started
    cpu_seconds = tree_cpu_seconds() - cpu_before
    return result_row(label, "server", concurrency, records, seconds, cpu_seconds)


def floor_request(specs: Sequence[BattleSpec], battle_format: str, concurrency: int) -> dict:
    """The schedule as sim_floor.js takes it: each battle's teams by seat, and its seed."""
    battles = []
    for spec in specs:
        p1, p2 = (spec.team_a, spec.team_b) if spec.a_seat == "p1" else (spec.team_b, spec.team_a)
        battles.append({"p1": p1.packed, "p2": p2.packed, "seed": spec.seed})
    return {"format": battle_format, "concurrency": concurrency, "battles": battles}


def measure_floor(specs: Sequence[BattleSpec], battle_format: str, concurrency: int) -> dict:
    """Run sim_floor.js on the schedule; it times itself (Node start-up and module loading excluded)."""
    root = showdown_root()
    check_showdown_install(root)
    completed = subprocess.run([node_executable(), str(FLOOR_SCRIPT), str(root)],
                               input=json.dumps(floor_request(specs, battle_format, concurrency)),
                               capture_output=True, text=True, timeout=FLOOR_TIMEOUT_S, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"{FLOOR_SCRIPT.name} failed (exit {completed.returncode}): "
                           f"{completed.stderr.strip()[-1000:]}")
    floor = json.loads(completed.stdout)
    return {"configuration": f"simulator floor c={concurrency}", "backend": "simulator",
            "concurrency": concurrency, "policy_a": WEAK, "policy_b": WEAK, "battles": floor["battles"],
            "turns": floor["turns"], "seconds": floor["seconds"], "cpu_seconds": floor["cpu_seconds"],
            "results_by_seat": floor["results"], "max_turns": floor["max_turns"]}


def add_rates(rows: list[dict], floor: dict) -> None:
    """Rates of every row (the floor among them); turns/s per core also relative to the floor's, and
    turns/s relative to the best server row of the same pair."""
    for row in rows:
        row["battles_per_s"] = row["battles"] / row["seconds"]
        row["turns_per_s"] = row["turns"] / row["seconds"]
        row["cores_used"] = row["cpu_seconds"] / row["seconds"]
        row["turns_per_s_per_core"] = row["turns_per_s"] / row["cores_used"]
    best_server: dict[tuple[str, str], float] = {}
    for row in rows:
        if row["backend"] == "server":
            pair = (row["policy_a"], row["policy_b"])
            best_server[pair] = max(best_server.get(pair, 0.0), row["turns_per_s"])
    for row in rows:
        row["per_core_vs_floor"] = row["turns_per_s_per_core"] / floor["turns_per_s_per_core"]
        server_rate = best_server.get((row["policy_a"], row["policy_b"]))
        row["vs_server"] = row["turns_per_s"] / server_rate if server_rate and row["backend"] != "server" else None


def format_table(rows: list[dict]) -> str:
    """Markdown table, one row per configuration."""
    lines = [("| configuration | battles | battles/s | turns/s | mean turns | CPU cores used | turns/s per core "
              "| per core vs floor | vs server | side-A win rate (95 % CI) |"),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        if "win_rate_a" in row:
            low, high = row["ci95_a"]
            win = f"{row['win_rate_a']:.3f} ({low:.3f}–{high:.3f})"
        else:
            win = "p1 {p1} / p2 {p2} / tie {tie}".format(**row["results_by_seat"])
        lines.append(f"| {row['configuration']} | {row['battles']} | {row['battles_per_s']:.1f} "
                     f"| {row['turns_per_s']:.0f} | {row['turns'] / row['battles']:.1f} | {row['cores_used']:.2f} "
                     f"| {row['turns_per_s_per_core']:.0f} | {row['per_core_vs_floor']:.2f} "
                     f"| {'' if row['vs_server'] is None else format(row['vs_server'], '.2f')} | {win} |")
    return "\n".join(lines)


def machine_description() -> dict:
    node_version = subprocess.run([node_executable(), "--version"], capture_output=True, text=True,
                                  check=False).stdout.strip()
    package = json.loads((showdown_root() / "package.json").read_text(encoding="utf-8"))
    return {"nproc": os.cpu_count(), "loadavg_at_start": list(os.getloadavg()), "node": node_version,
            "pokemon_showdown": package.get("version"), "python": sys.version.split()[0]}


def fresh_checkpoint(model_name: str, folder: Path) -> Path:
    """An untrained checkpoint of a shipped model config: inference costs the same whatever the weights."""
    config = load_model_config(model_name)
    path = folder / f"untrained_{model_name}.pt"
    save_checkpoint(path, build_model(config, OBS_DIM), model_config=config, obs_dim=OBS_DIM,
                    feature_version=FEATURE_VERSION, train_config={}, epoch=0, metrics={})
    return path


def benchmark_players(checkpoint: Path) -> dict[str, PlayerFactory]:
    """Picklable factories, so the direct backend's worker processes can make the players too."""
    players = {name: BASELINES[name] for name in (STRONG, WEAK)}
    players[NEURAL] = player_factory(PolicyEntry(name=NEURAL, kind="checkpoint", spec=str(checkpoint)))
    return players


def run_benchmark(args: argparse.Namespace, checkpoint: Path) -> dict:
    """Warm-up, the timed server runs on one server, the direct runs, then the floor (after the server stopped)."""
    team_set: TeamSet = load_team_set(args.team_set, args.format)
    players = benchmark_players(checkpoint)
    # One schedule per pair, so configurations differ in nothing else and the floor replays the server's battles.
    schedules = {
        f"{STRONG} vs {WEAK}": schedule_matchup(STRONG, WEAK, args.battles, team_set,
                                                derive_seed(args.seed, "strong-pair")),
        f"{NEURAL} vs {STRONG}": schedule_matchup(NEURAL, STRONG, args.neural_battles, team_set,
                                                  derive_seed(args.seed, "neural-pair")),
        f"{WEAK} vs {WEAK}": schedule_matchup(WEAK, WEAK, args.floor_battles, team_set,
                                              derive_seed(args.seed, "random-pair")),
    }
    rows = []

    def done(row: dict) -> None:
        rows.append(row)
        print(f"  done: {row['configuration']} in {row['seconds']:.1f} s", flush=True)

    log_path = Path(tempfile.gettempdir()) / f"pokepsro-battle-throughput-{os.getpid()}.log"
    started = time.perf_counter()
    with ShowdownServer(log_path) as server:
        server_startup_s = time.perf_counter() - started  # every run_battles without a server pays this
        run_battles(schedule_matchup(STRONG, WEAK, args.warmup_battles, team_set, derive_seed(args.seed, "warm-up")),
                    players, battle_format=args.format, concurrency=max(args.concurrency), server=server,
                    progress=False)
        for concurrency in args.concurrency:
            done(measure_server(f"server c={concurrency}, {STRONG} vs {WEAK}", schedules[f"{STRONG} vs {WEAK}"],
                                players, concurrency, server, args.format))
        for label in (f"{NEURAL} vs {STRONG}", f"{WEAK} vs {WEAK}"):
            done(measure_server(f"server c={args.pair_concurrency}, {label}", schedules[label], players,
                                args.pair_concurrency, server, args.format))
    for label, specs in schedules.items():
        for workers in args.direct_workers:
            done(measure_direct(f"direct w={workers} c={args.direct_concurrency}, {label}", specs, players,
                                args.direct_concurrency, workers, args.format))
    floor = measure_floor(schedules[f"{WEAK} vs {WEAK}"], args.format, args.floor_concurrency)
    rows.append(floor)
    add_rates(rows, floor)
    return {"team_set": team_set.name, "format": args.format, "checkpoint": str(checkpoint),
            "server_startup_s": server_startup_s, "rows": rows}


def process_tree() -> dict[int, tuple[int, float, float]]:
    """pid -> (parent pid, CPU seconds, resident MB) of this process and every live process under it.

    CPU seconds include reaped children's, so the tree's total never drops when a worker ends."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            status = (stat.parent / "status").read_text()
        except OSError:  # the process ended while we looked
            continue
        fields = text[text.rindex(")") + 2:].split()
        rss_kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        # utime + stime + cutime + cstime: a process's own CPU and that of its children it has reaped
        cpu_s = sum(int(tick) for tick in fields[11:15]) / CLOCK_TICKS_PER_S
        table[int(stat.parent.name)] = (int(fields[1]), cpu_s, rss_kb / 1024)
    tree, frontier = {}, [os.getpid()]
    while frontier:
        pid = frontier.pop()
        if pid in table:
            tree[pid] = table[pid]
            frontier.extend(child for child, (parent, _, _) in table.items() if parent == pid)
    return tree


def sample_process_tree(samples: list[dict], stop: threading.Event) -> None:
    """Every SOAK_SAMPLE_S: wall time, CPU seconds of the whole tree, and memory of this process and the rest."""
    while not stop.wait(SOAK_SAMPLE_S):
        tree = process_tree()
        samples.append({"time": time.time(), "cpu_s": sum(cpu for _, cpu, _ in tree.values()),
                        "python_rss_mb": tree.get(os.getpid(), (0, 0.0, 0.0))[2],
                        "others_rss_mb": sum(rss for pid, (_, _, rss) in tree.items() if pid != os.getpid())})


def soak_windows(records: list[dict], samples: list[dict], window: int) -> list[dict]:
    """Per `window` battles (in the order they ended): battles/s, CPU s per battle, memory at the window's end."""
    ends = sorted(r["finished_at"] for r in records)
    windows, previous_end = [], min(r["finished_at"] - r["wall_s"] for r in records)

    def nearest(moment: float) -> dict:
        """The last sample taken by `moment` (workers exit right after the last battle)."""
        taken = [sample for sample in samples if sample["time"] <= moment]
        return taken[-1] if taken else samples[0]

    for last in range(window - 1, len(ends), window):
        end = ends[last]
        first_sample, last_sample = nearest(previous_end), nearest(end)
        windows.append({"battles_done": last + 1, "battles_per_s": window / (end - previous_end),
                        "cpu_s_per_battle": (last_sample["cpu_s"] - first_sample["cpu_s"]) / window,
                        "python_rss_mb": last_sample["python_rss_mb"], "others_rss_mb": last_sample["others_rss_mb"]})
        previous_end = end
    return windows


def run_soak(args: argparse.Namespace) -> dict:
    """N battles in one direct run; per window of `--soak-window` battles: throughput, CPU, memory."""
    team_set = load_team_set(args.team_set, args.format)
    specs = schedule_matchup(STRONG, WEAK, args.soak, team_set, derive_seed(args.seed, "soak"))
    players = {name: BASELINES[name] for name in (STRONG, WEAK)}
    samples: list[dict] = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample_process_tree, args=(samples, stop), daemon=True)
    sampler.start()
    try:
        records = run_battles(specs, players, battle_format=args.format, concurrency=args.direct_concurrency,
                              backend="direct", workers=args.soak_workers, progress=True)
    finally:
        stop.set()
        sampler.join()
    windows = soak_windows(records, samples, args.soak_window) if samples else []
    for row in windows:
        print("  {battles_done:>6} battles  {battles_per_s:6.1f} battles/s  {cpu_ms:5.1f} ms CPU per battle  "
              "python {python_rss_mb:6.0f} MB  workers and simulators {others_rss_mb:6.0f} MB".format(
                  cpu_ms=row["cpu_s_per_battle"] * 1000, **row), flush=True)
    first, last = (windows[0], windows[-1]) if windows else (None, None)
    return {"battles": len(records), "unique_indices": len({r["index"] for r in records}),
            "workers": args.soak_workers, "ends": dict(summarize_records(records)["ends"]), "windows": windows,
            "last_vs_first_throughput": last["battles_per_s"] / first["battles_per_s"] if windows else None,
            "last_vs_first_cpu_per_battle": (last["cpu_s_per_battle"] / first["cpu_s_per_battle"]
                                             if windows else None)}


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=positive_int, default=300,
                        help=f"{STRONG} vs {WEAK} battles per concurrency level")
    parser.add_argument("--concurrency", type=positive_int, nargs="+", default=[4, 16, 32])
    parser.add_argument("--neural-battles", type=positive_int, default=200, help=f"{NEURAL} vs {STRONG} battles")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="the neural player's checkpoint (default: an untrained --model)")
    parser.add_argument("--model", default="small", help="model config of the untrained checkpoint")
    parser.add_argument("--floor-battles", type=positive_int, default=300,
                        help=f"{WEAK} vs {WEAK} battles, played by both the server and the simulator floor")
    parser.add_argument("--pair-concurrency", type=positive_int, default=16,
                        help=f"concurrency of the server's {NEURAL} vs {STRONG} and {WEAK} vs {WEAK} runs")
    parser.add_argument("--floor-concurrency", type=positive_int, default=16,
                        help="battles in flight at once in the simulator floor's Node process")
    parser.add_argument("--direct-workers", type=positive_int, nargs="*", default=[1, 2],
                        help="worker processes of each direct-backend row (none: no direct rows)")
    parser.add_argument("--direct-concurrency", type=positive_int, default=32,
                        help="battles in flight in each direct-backend run")
    parser.add_argument("--soak", type=positive_int, default=None,
                        help="instead of the table: this many battles in one direct run (throughput, memory)")
    parser.add_argument("--soak-window", type=positive_int, default=1000, help="battles per soak report line")
    parser.add_argument("--soak-workers", type=positive_int, default=1, help="worker processes of the soak run")
    parser.add_argument("--warmup-battles", type=positive_int, default=20, help="untimed battles first")
    parser.add_argument("--team-set", default="competitive", help="shipped team set name or folder")
    parser.add_argument("--format", default="gen1ou", help="battle format")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write machine info and rows here")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # as in the workflow's battle jobs: one torch thread
    torch.set_num_threads(1)

    try:
        if args.json is not None and not args.json.parent.is_dir():
            raise UsageError(f"--json {args.json}: folder {args.json.parent} does not exist")
        if args.checkpoint is not None and not args.checkpoint.is_file():
            raise UsageError(f"--checkpoint {args.checkpoint}: no such file")
        machine = machine_description()
        print("nproc {nproc}, load average at start {load}, node {node}, pokemon-showdown {pokemon_showdown}, "
              "python {python}".format(load=" ".join(f"{x:.2f}" for x in machine["loadavg_at_start"]), **machine),
              flush=True)
        if args.soak is not None:
            result = {"soak": run_soak(args)}
        else:
            with tempfile.TemporaryDirectory() as folder:
                result = run_benchmark(args, args.checkpoint or fresh_checkpoint(args.model, Path(folder)))
    except (UsageError, SetupError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.soak is not None:
        soak = result["soak"]
        print(f"\n{soak['battles']} battles ({soak['unique_indices']} distinct), ends {soak['ends']}; last "
              f"{args.soak_window} battles vs the first {args.soak_window}: throughput "
              f"{format_ratio(soak['last_vs_first_throughput'])} (target >= 0.8), CPU per battle "
              f"{format_ratio(soak['last_vs_first_cpu_per_battle'])}")
    else:
        print(f"\n{args.format}, team set {result['team_set']!r}; load average at end "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
        print(format_table(result["rows"]))
        print(f"\nShowdown server start-up (until its websocket answers): {result['server_startup_s']:.2f} s")
    if args.json is not None:
        atomic_write_json(args.json, {"machine": machine, **result})
    return 0


def format_ratio(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.2f}"


if __name__ == "__main__":
    sys.exit(main())

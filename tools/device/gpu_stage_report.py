"""Stage times, GPU use per stage and the PSRO results of a finished (or cut short) workflow run, in one report.

    python tools/device/gpu_stage_report.py [--root .] [--gpu gpu.csv] [--apps gpu_apps.csv] --out DIR

Reads, under --root:
- every Snakemake `benchmark:` file (logs/**/*.benchmark.tsv): the job's wall seconds `s`; the file is written when
  the job ends, so the job ran from mtime - s to mtime;
- optionally the GPU trace of `nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 1`
  (--gpu) and a process trace (--apps: lines `# <epoch s>` followed by nvidia-smi's `pid, used_memory` rows);
- results/*/meta_strategy.json, results/iteration_*/br_eval.json, results/analysis/exploiter_eval.json.

Writes DIR/stages.json and DIR/report.md: one row per job (start offset, wall time, GPU utilisation mean and max,
GPU memory max, most processes on the GPU at once), then σ per stage and each best response's win rate against
the σ it answers.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path


def read_benchmarks(root: Path) -> list[dict]:
    jobs = []
    for path in sorted((root / "logs").rglob("*.benchmark.tsv")):
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        if not rows:
            continue
        seconds = float(rows[-1]["s"])
        end = path.stat().st_mtime
        job = str(path.relative_to(root / "logs")).removesuffix(".benchmark.tsv")
        cpu = rows[-1].get("cpu_time")
        jobs.append({"job": job, "start": end - seconds, "end": end, "wall_s": seconds,
                     "cpu_s": float(cpu) if cpu not in (None, "", "NA", "-") else None,
                     "max_rss_mb": _number(rows[-1].get("max_rss"))})
    return sorted(jobs, key=lambda job: job["start"])


def _number(text: str | None) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def read_gpu(path: Path | None) -> list[tuple[float, float, float]]:
    """(epoch s, utilisation %, memory MiB) from nvidia-smi's CSV (timestamps in this machine's local time)."""
    if path is None or not path.is_file():
        return []
    samples = []
    for line in path.read_text().splitlines()[1:]:
        parts = [part.strip() for part in line.split(",")]
        if len(parts) != 3:
            continue
        try:
            stamp, fraction = parts[0].split(".") if "." in parts[0] else (parts[0], "0")
            epoch = time.mktime(time.strptime(stamp, "%Y/%m/%d %H:%M:%S")) + float(f"0.{fraction}")
            samples.append((epoch, float(parts[1].split()[0]), float(parts[2].split()[0])))
        except ValueError:
            continue
    return samples


def read_apps(path: Path | None) -> list[tuple[float, int, float]]:
    """(epoch s, processes on the GPU, their memory MiB) per poll."""
    if path is None or not path.is_file():
        return []
    polls: list[tuple[float, int, float]] = []
    for line in path.read_text().splitlines():
        if line.startswith("# "):
            try:
                polls.append((float(line[2:]), 0, 0.0))
            except ValueError:
                continue
        elif polls and "," in line:
            epoch, count, memory = polls[-1]
            used = _number(line.split(",")[1].split()[0]) if len(line.split(",")) > 1 else None
            polls[-1] = (epoch, count + 1, memory + (used or 0.0))
    return polls


def gpu_during(job: dict, samples, polls) -> dict:
    inside = [s for s in samples if job["start"] <= s[0] <= job["end"]]
    apps = [p for p in polls if job["start"] <= p[0] <= job["end"]]
    out: dict = {}
    if inside:
        utils = [s[1] for s in inside]
        out.update(gpu_util_mean=sum(utils) / len(utils), gpu_util_max=max(utils),
                   gpu_memory_max_mib=max(s[2] for s in inside), gpu_samples=len(inside))
    if apps:
        out.update(gpu_processes_max=max(p[1] for p in apps))
    return out


def psro_results(root: Path) -> dict:
    results = root / "results"
    stages = {}
    for path in sorted(results.glob("*/meta_strategy.json")):
        data = json.loads(path.read_text())
        sigma = {name: round(weight, 4) for name, weight in zip(data["policy_names"], data["meta_strategy"])
                 if weight > 1e-6}
        stages[path.parent.name] = sigma
    evaluations = {}
    paths = sorted(results.glob("iteration_*/br_eval.json")) + [results / "analysis/exploiter_eval.json"]
    for path in paths:
        if not path.is_file():
            continue
        data = json.loads(path.read_text())
        vs = data["vs_previous_nash"]
        measured = data.get("exploitability", {})
        evaluations[path.parent.name if path.name == "br_eval.json" else "exploiter"] = {
            "policy": data["policy"], "win_rate": vs["win_rate"], "ci95": vs["ci95"], "battles": vs["battles"],
            "gain": measured.get("gain"), "gain_ci95": measured.get("gain_ci95"),
            "informative": measured.get("informative"), "against": data["against"]}
    return {"sigma": dict(sorted(stages.items(), key=lambda kv: _stage_key(kv[0]))), "best_responses": evaluations}


def _stage_key(stage: str) -> int:
    return int(stage.removeprefix("iteration_")) + 1 if stage.startswith("iteration_") else 0


def report(root: Path, gpu: Path | None, apps: Path | None) -> dict:
    jobs = read_benchmarks(root)
    samples, polls = read_gpu(gpu), read_apps(apps)
    origin = min([job["start"] for job in jobs], default=0.0)
    for job in jobs:
        job.update(gpu_during(job, samples, polls))
        job["start_offset_s"] = job["start"] - origin
    span = (max(job["end"] for job in jobs) - origin) if jobs else 0.0
    return {"jobs": jobs, "benchmarked_span_s": span, "benchmarked_sum_s": sum(job["wall_s"] for job in jobs),
            **psro_results(root)}


def markdown(data: dict) -> str:
    lines = ["| job | starts at s | wall s | GPU util mean / max % | GPU memory max MiB | processes on GPU |",
             "|---|---:|---:|---|---:|---:|"]
    for job in data["jobs"]:
        util = (f"{job['gpu_util_mean']:.0f} / {job['gpu_util_max']:.0f}" if "gpu_util_mean" in job else "–")
        memory = f"{job['gpu_memory_max_mib']:.0f}" if "gpu_memory_max_mib" in job else "–"
        lines.append(f"| {job['job']} | {job['start_offset_s']:.0f} | {job['wall_s']:.1f} | {util} | {memory} "
                     f"| {job.get('gpu_processes_max', '–')} |")
    lines.append(f"\nbenchmarked jobs: {data['benchmarked_sum_s']:.0f} s of wall time, first start to last end "
                 f"{data['benchmarked_span_s']:.0f} s\n")
    lines += ["| stage | σ (weights > 0) |", "|---|---|"]
    for stage, sigma in data["sigma"].items():
        lines.append(f"| {stage} | " + ", ".join(f"{name} {weight:.2f}" for name, weight in sigma.items()) + " |")
    lines += ["", "| best response | win rate vs σ (95 % CI) | battles | gain (95 % CI) | informative |",
              "|---|---|---:|---|---|"]
    for where, ev in data["best_responses"].items():
        low, high = ev["ci95"]
        gain = (f"{ev['gain']:+.3f} ({ev['gain_ci95'][0]:+.3f} to {ev['gain_ci95'][1]:+.3f})"
                if ev["gain"] is not None else "–")
        lines.append(f"| {ev['policy']} ({where}) vs {ev['against']} | {ev['win_rate']:.3f} ({low:.3f}–{high:.3f}) "
                     f"| {ev['battles']} | {gain} | {ev['informative']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("."))
    parser.add_argument("--gpu", type=Path, default=None)
    parser.add_argument("--apps", type=Path, default=None)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    data = report(args.root, args.gpu, args.apps)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "stages.json").write_text(json.dumps(data, indent=1))
    text = markdown(data)
    (args.out / "report.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

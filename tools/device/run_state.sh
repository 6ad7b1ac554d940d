#!/usr/bin/env bash
# Carry a Snakemake run between device commands (a 10-minute command holds only part of a long run):
#     bash tools/device/run_state.sh save FILE    # results/, logs/, Snakemake's metadata -> FILE (.tgz)
#     bash tools/device/run_state.sh load FILE    # and back, in another checkout or on another machine
# Timestamps and Snakemake's metadata (and its marks of killed jobs) travel with the files, so `snakemake` there
# reruns only what is stale and resumes what was killed, given `--rerun-triggers mtime params input software-env`
# (Snakemake's `code` trigger fires for every job in another checkout). How fast battles are played is no param
# (rules/common.smk), so other `workers` there run nothing again.
# Left behind, as only finished jobs read them: trajectories (the bootstrap's training reads the baselines'), the
# imitation's epochs but the last (the bootstrap's start) and a finished PPO training's per-round weights and optimizer
# state (its resume point); a killed training's `.partial` folder travels whole. Battle records and learning curves travel whole.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
usage() { echo "usage: $0 save|load FILE" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
case "$1" in
    save)
        mkdir -p "$(dirname "$2")"
        paths=(results)
        for extra in logs .snakemake/metadata .snakemake/incomplete; do [[ -d "$extra" ]] && paths+=("$extra"); done
        last_epoch=$(ls -v results/phase0/bootstrap/ckpts/epoch_*.pt 2>/dev/null | tail -1)
        find "${paths[@]}" \( -path '*/trajectories/*.npz' -o -path '*_training/ckpts/round_*.pt' -o -path '*_training/state.pt' \
            -o \( -path '*/ckpts/epoch_*.pt' ! -path "$last_epoch" \) \) -prune -o -print0 | tar czf "$2.tmp" --null --no-recursion -T -
        mv "$2.tmp" "$2"
        echo "saved ${paths[*]} -> $2 ($(du -h "$2" | cut -f1))" ;;
    load)
        [[ -f "$2" ]] || { echo "error: $2 does not exist: save a run with '$0 save $2' first" >&2; exit 2; }
        tar xzf "$2"
        echo "loaded $2 into $REPO" ;;
    *) usage ;;
esac

#!/usr/bin/env bash
# Freeze the last commit into .gpu_snapshot/ (git-ignored through .git/info/exclude): a plain copy of committed
# code, without uncommitted edits, to copy to the GPU machine. There, with .device_kit/ beside it:
#   ln -sfn "$PWD/.device_kit" .gpu_snapshot/.device_kit && cd .gpu_snapshot &&
#   bash tools/device/setup.sh && bash tools/device/gpu_run.sh
# Usage: bash tools/device/snapshot.sh [REV]     (default HEAD)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
EXCLUDE=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$EXCLUDE")"
grep -qxF "/.gpu_snapshot/" "$EXCLUDE" 2>/dev/null || echo "/.gpu_snapshot/" >>"$EXCLUDE"
rm -rf .gpu_snapshot
mkdir .gpu_snapshot
git archive "${1:-HEAD}" | tar -x -C .gpu_snapshot
echo "$(git rev-parse "${1:-HEAD}") -> .gpu_snapshot ($(du -sh .gpu_snapshot | cut -f1))"

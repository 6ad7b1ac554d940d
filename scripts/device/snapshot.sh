#!/usr/bin/env bash
# Freeze the last commit into .gpu_snapshot/ (git-ignored through .git/info/exclude) so that a device run uses
# committed code only, not whatever is being edited in the working tree at the time (the device tool sends the
# whole working tree). Then, with the `run` tool:
#   carry [".device_kit", ".gpu_snapshot"]
#   command: ln -sfn "$PWD/.device_kit" .gpu_snapshot/.device_kit && cd .gpu_snapshot &&
#            bash scripts/device/setup.sh && bash scripts/device/gpu_run.sh
# Usage: bash scripts/device/snapshot.sh [REV]     (default HEAD)
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

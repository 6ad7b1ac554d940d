"""The battle-throughput benchmark runs end to end on the real server and the real simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "battle_throughput.py"


@pytest.mark.slow
def test_battle_throughput_smoke(tmp_path):
    out = tmp_path / "throughput.json"
    completed = subprocess.run(
        [sys.executable, str(BENCHMARK), "--battles", "3", "--concurrency", "1", "2", "--floor-battles", "4",
         "--warmup-battles", "1", "--pair-concurrency", "2", "--floor-concurrency", "2", "--direct-workers", "1", "--direct-concurrency", "2",
         "--json", str(out)],
        capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "| simulator floor c=2 |" in completed.stdout
    result = json.loads(out.read_text())
    rows = {row["configuration"]: row for row in result["rows"]}
    assert list(rows) == ["server c=1, max_base_power vs random", "server c=2, max_base_power vs random",
                          "server c=2, random vs random", "direct w=1 c=2, max_base_power vs random",
                          "direct w=1 c=2, random vs random", "simulator floor c=2"]
    floor = rows["simulator floor c=2"]
    assert floor["battles"] == 4 and sum(floor["results_by_seat"].values()) == 4
    assert floor["per_core_vs_floor"] == pytest.approx(1.0)
    assert rows["server c=2, random vs random"]["battles"] == 4
    for row in result["rows"]:
        assert row["turns"] >= row["battles"]  # every battle lasts at least one turn
        assert row["turns_per_s"] > 0 and row["cores_used"] > 0
    assert result["machine"]["nproc"] == os.cpu_count()

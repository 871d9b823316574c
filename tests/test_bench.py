"""The benchmark runs, on a small size: it checks each job ran exactly once itself.
Its figures are printed, never asserted: machines are noisy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from testkit import ROOT

pytestmark = pytest.mark.process


@pytest.mark.timeout(300)
def test_the_benchmark_runs_and_reports_every_figure(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--jobs", "300", "--workers", "1,2", "--runs", "1",
         "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=280,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    print(done.stdout)
    results = json.loads((tmp_path / "latest.json").read_text())
    for kind in ("plain", "qwsup"):
        assert set(results["throughput"][kind]) == {"1", "2"}
        assert all(v["jobs_per_s"] > 0 for v in results["throughput"][kind].values())
        assert results["latency"][kind]["p99_ms"] >= results["latency"][kind]["median_ms"] > 0
    assert {"master_cpu_busy_pct", "master_cpu_idle_pct", "worker_rss_mb"} <= set(
        results["throughput"]["qwsup"]["2"]
    )
    assert results["enqueue"]["bulk_per_s"] > 0
    assert "plain loop jobs/s" in done.stdout and "enqueue:" in done.stdout

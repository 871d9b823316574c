"""The benchmarks run, on a small size: `python -m bench` (the workloads through the
peers harness, the memory per concurrent job, the trivial jobs' measures) and
`python -m bench.peers` with qwsup and the plain loop. They count lost and duplicated
jobs themselves; their rates are printed, never asserted: machines are noisy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from testkit import ROOT

pytestmark = pytest.mark.process


def bench(*args: str, module: str = "bench", timeout: float = 230) -> str:
    done = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
    print(done.stdout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.timeout(120)
def test_the_batched_reference_runs_every_job_once_and_is_no_peer(tmp_path: Path) -> None:
    """(On noop it runs 100 jobs before the harness's first look: io, 50 jobs.)"""
    out = bench(
        "--jobs", "50", "--runs", "1", "--workers", "2", "--workloads", "io",
        "--modes", "backlog", "--skip", "latency", "memory", "--out", str(tmp_path),
        "--systems", "plain", "batched",
    )  # fmt: skip
    figure = json.loads((tmp_path / "latest.json").read_text())["figures"]["batched"]["io"]
    assert figure["backlog"]["2"]["jobs_per_s"] > 0
    assert (figure["backlog"]["2"]["lost"], figure["backlog"]["2"]["duplicates"]) == (0, 0)
    assert "every run: 0 lost, 0 duplicates" in out and "batched, concurrency 1" in out


@pytest.mark.timeout(240)
def test_the_workloads_run_with_qwsup_configured_per_workload_and_the_ratio_to_the_plain_loop(
    tmp_path: Path,
) -> None:
    out = bench(
        "--jobs", "100", "--runs", "1", "--workers", "2", "--workloads", "noop", "io",
        "--modes", "backlog", "--skip", "latency", "--out", str(tmp_path),
        "--systems", "plain", "qwsup", "qwsup-writes",  # (batched: the next test)
    )  # fmt: skip
    results = json.loads((tmp_path / "latest.json").read_text())
    figures = results["figures"]
    for system in ("plain", "qwsup", "qwsup-writes"):
        for workload in ("noop", "io"):
            figure = figures[system][workload]["backlog"]["2"]
            assert figure["jobs_per_s"] > 0 and figure["jobs"] == 100
            assert (figure["lost"], figure["duplicates"], figure["status"]) == (0, 0, "ok")
    assert figures["qwsup"]["io"]["backlog"]["2"]["setting"] == "concurrency 10 (threads)"
    assert figures["qwsup"]["noop"]["backlog"]["2"]["setting"] == "concurrency 1"
    assert figures["qwsup"]["io"]["backlog"]["2"]["ratio"] > 0
    assert figures["plain"]["io"]["backlog"]["2"]["ratio"] is None
    # qwsup's goals, then qwsup-writes': io measured, no peer, noop measured, no cpu
    assert [g["met"] is None for g in results["goals"]] == [False, True, False, True] * 2
    assert [g["system"] for g in results["goals"]] == ["qwsup"] * 4 + ["qwsup-writes"] * 4
    assert "qwsup, concurrency 10, threads" in out and "qwsup, concurrency 1 " in out
    assert "qwsup, configured per workload: noop at concurrency 1, io at concurrency 10" in out
    assert "every run: 0 lost, 0 duplicates" in out and "goals (the issue's)" in out
    # the memory: 10 jobs in flight in each setting, the processes that ran them
    memory = {(m["workers"], m["concurrency"], m["asyncio"]): m for m in results["memory"]}
    assert set(memory) == {(1, 10, False), (10, 1, False), (1, 10, True)}
    for (workers, _, _), m in memory.items():
        assert m["status"] == "ok" and m["jobs_in_flight"] == 10
        assert m["worker_processes"] == workers and m["other_processes"] == 1  # the master
        assert m["workers_mb"]["rss"] >= m["workers_mb"]["pss"] >= m["workers_mb"]["uss"] > 0
    assert "worker memory per concurrent job" in out
    assert "qwsup, 10 processes, concurrency 1" in out and "concurrency 10 (asyncio)" in out
    assert "latency" not in results


@pytest.mark.timeout(240)
def test_the_trivial_jobs_measures_are_still_there_behind_their_flags(tmp_path: Path) -> None:
    out = bench(
        "--skip", "workloads", "memory", "--trivial", "--jobs", "300", "--workers", "1,2",
        "--runs", "1", "--out", str(tmp_path),
    )  # fmt: skip
    results = json.loads((tmp_path / "latest.json").read_text())
    throughput = results["trivial"]["throughput"]
    for kind in ("plain", "qwsup"):
        assert set(throughput[kind]) == {"1", "2"}
        assert all(v["jobs_per_s"] > 0 for v in throughput[kind].values())
        assert results["latency"][kind]["p99_ms"] >= results["latency"][kind]["median_ms"] > 0
    assert {"master_cpu_busy_pct", "master_cpu_idle_pct", "worker_rss_mb"} <= set(
        throughput["qwsup"]["2"]
    )
    assert results["enqueue"]["bulk_per_s"] > 0
    assert "plain loop jobs/s" in out and "enqueue:" in out
    assert "workloads" not in results and "memory" not in results


@pytest.mark.timeout(120)
def test_the_peers_benchmark_shows_qwsup_as_configured_per_workload(tmp_path: Path) -> None:
    out = bench(
        "--systems", "qwsup", "plain", "--workloads", "noop", "io", "--modes", "backlog",
        "--jobs", "100", "--out", str(tmp_path), module="bench.peers", timeout=110,
    )  # fmt: skip
    results = json.loads((tmp_path / "peers.json").read_text())
    settings = {(r["system"], r["workload"]): r["concurrency"] for r in results["runs"]}
    assert settings == {("qwsup", "noop"): 1, ("qwsup", "io"): 10, ("plain", "noop"): 1,
                        ("plain", "io"): 1}  # fmt: skip
    assert all((r["lost"], r["duplicates"]) == (0, 0) for r in results["runs"])
    assert "qwsup, configured per workload: noop at concurrency 1, io at concurrency 10" in out

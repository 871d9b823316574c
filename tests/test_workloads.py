"""The pure parts of `python -m bench`'s workload figures (bench/workloads.py): the job
counts, the ratios to the plain loop, the tables, the goals, the memory per concurrent
job. No Redis, no process: the figures are made up."""

from __future__ import annotations

from typing import Any

import pytest

from bench.__main__ import counts
from bench.workloads import figures, goal_lines, goals, limit, memory_table, sized, tables

pytestmark = pytest.mark.unit


def run(
    system: str, workload: str, mode: str, workers: int, rate: float, **kw: Any
) -> dict[str, Any]:
    at_once = 10 if system == "qwsup" and workload == "io" else 1
    setting = "concurrency 10 (threads)" if at_once == 10 else "concurrency 1"
    base = {
        "system": system, "workload": workload, "mode": mode, "workers": workers, "jobs": 100,
        "status": "ok", "jobs_per_s": rate, "lost": 0, "duplicates": 0,
        "concurrency": at_once, "setting": setting,
    }  # fmt: skip
    return base | kw


def results(runs: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    base = {
        "workloads": ["noop", "io", "cpu"], "modes": ["backlog"], "workers": [2],
        "rounds": 1, "jobs": None, "cpus": 2, "runs": runs,
    }  # fmt: skip
    return base | kw


GOOD = [
    run("plain", "noop", "backlog", 2, 2000.0),
    run("qwsup", "noop", "backlog", 2, 6500.0),
    run("plain", "io", "backlog", 2, 95.0),
    run("qwsup", "io", "backlog", 2, 950.0),
    run("plain", "cpu", "backlog", 2, 300.0),
    run("qwsup", "cpu", "backlog", 2, 310.0),
]


def test_a_run_is_sized_to_about_the_seconds_its_setting_can_reach() -> None:
    assert limit("io", workers=2, at_once=10, cpus=2) == pytest.approx(1000)
    assert limit("cpu", workers=4, at_once=1, cpus=2) == pytest.approx(400)  # 2 CPUs busy
    assert limit("noop", 2, 1, 2) is None
    assert sized("io", 2, 10, cpus=2, seconds=2) == 2000
    assert sized("io", 1, 1, cpus=2, seconds=2) == 100  # the plain loop: 50 jobs/s
    assert sized("io", 1, 1, cpus=2, seconds=1) == 100  # never fewer than 100
    assert sized("cpu", 4, 1, cpus=2, seconds=2) == 800
    assert sized("noop", 8, 1, cpus=2, seconds=60) == 20_000  # never more


def test_each_figure_has_its_ratio_to_the_plain_loop_at_the_same_workers_and_mode() -> None:
    found = figures(results(GOOD))
    assert found["qwsup"]["noop"]["backlog"]["2"]["ratio"] == pytest.approx(3.25)
    assert found["qwsup"]["io"]["backlog"]["2"]["ratio"] == pytest.approx(10.0)
    assert found["plain"]["noop"]["backlog"]["2"]["ratio"] is None
    assert found["qwsup"]["io"]["backlog"]["2"]["setting"] == "concurrency 10 (threads)"


def test_the_figure_of_several_runs_is_their_median() -> None:
    runs = [run("qwsup", "noop", "backlog", 2, r) for r in (100.0, 300.0, 200.0)]
    runs.append(run("plain", "noop", "backlog", 2, 100.0))
    assert figures(results(runs))["qwsup"]["noop"]["backlog"]["2"]["ratio"] == pytest.approx(2.0)


def test_the_tables_name_the_setting_of_each_row_and_show_the_ratio_beside_the_figure() -> None:
    text = tables(results(GOOD))
    assert "io (sleep 20 ms, then the round trip):" in text
    assert "qwsup, concurrency 10, threads" in text and "950 (10.00x)" in text
    assert "qwsup, concurrency 1" in text and "6,500 (3.25x)" in text
    assert "limit (processes x jobs at once / 20 ms)" in text and "at concurrency 10: 1,000" in text
    assert "(jobs sized to about 2 s a run, x2: plain 100; qwsup 100)" in text


def test_a_lost_job_shows_in_its_cell() -> None:
    text = tables(results([*GOOD[:3], run("qwsup", "io", "backlog", 2, 950.0, lost=2)]))
    assert "950 (10.00x) !! 2 LOST" in text


def test_the_goals_are_met_when_the_figures_reach_them() -> None:
    found = goals(results(GOOD))
    assert [g["met"] for g in found] == [True, None, True, True]
    assert "backlog 950 jobs/s = 95% of 1,000" in found[0]["measured"]
    assert "no peer in this run" in found[1]["measured"]
    lines = goal_lines(found)
    assert "  [met] noop, 2 workers: >= 3x the plain loop" in lines
    assert "      x2 backlog 3.25x" in lines


def test_the_goals_say_when_they_are_not_met() -> None:
    slow = [
        run("plain", "noop", "backlog", 2, 2000.0),
        run("qwsup", "noop", "backlog", 2, 4000.0),
        run("plain", "io", "backlog", 2, 95.0),
        run("qwsup", "io", "backlog", 2, 850.0),
        run("dramatiq", "io", "backlog", 2, 880.0),
        run("plain", "cpu", "backlog", 2, 300.0),
        run("qwsup", "cpu", "backlog", 2, 290.0),
    ]
    found = goals(results(slow))
    assert [g["met"] for g in found] == [False, False, False, False]
    assert found[1]["measured"] == "backlog 850 against dramatiq 880"
    assert "  [NOT MET] cpu: >= the plain loop" in goal_lines(found)


def test_a_goal_the_run_did_not_measure_says_so() -> None:
    found = goals(results(GOOD[:2], workloads=["noop"]))
    assert [g["met"] for g in found] == [None, None, True, None]
    assert found[0]["measured"] == "not measured (io at --workers 2)"


def test_the_memory_per_concurrent_job_is_the_workers_memory_over_the_jobs_in_flight() -> None:
    measures = [
        {
            "system": "qwsup", "workers": 1, "concurrency": 10,
            "setting": "concurrency 10 (threads)", "jobs_in_flight": 10, "status": "ok",
            "worker_processes": 1, "other_processes": 1,
            "workers_mb": {"rss": 33.0, "pss": 19.0, "uss": 10.0},
            "others_mb": {"rss": 37.0, "pss": 11.0, "uss": 8.0},
        },
        {
            "system": "qwsup", "workers": 10, "concurrency": 1, "setting": "concurrency 1",
            "jobs_in_flight": 10, "status": "3 of 10 jobs in flight after 90 s",
        },
    ]  # fmt: skip
    text = memory_table(measures)
    row = next(line for line in text.splitlines() if line.startswith("qwsup, 1 process,"))
    assert row.split()[-6:] == ["33.0", "19.0", "10.0", "3.3", "1.9", "1.0"]
    assert "qwsup, 10 processes, concurrency 1" in text and "!! 3 OF 10 JOBS IN FLIGHT" in text
    assert "(not counted: the master, RSS 37.0 MB" in text


def test_worker_counts_are_read_with_spaces_or_commas() -> None:
    assert counts(["1", "2", "4"]) == counts(["1,2,4"]) == [1, 2, 4]

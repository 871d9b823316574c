"""The pure parts of the peer benchmark (bench/peers/): the lost and duplicate counts,
the table, the systems' commands. No Redis, no peer, no virtualenv."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench.peers.checks import problems, render, tally
from bench.peers.systems import BY_NAME, SYSTEMS, Launch
from bench.peers.venvs import why
from bench.peers.versions import PINS

pytestmark = pytest.mark.unit


def run(system: str, **kw: Any) -> dict[str, Any]:
    base = {
        "system": system, "workload": "noop", "mode": "backlog", "workers": 2, "jobs": 100,
        "status": "ok", "jobs_per_s": 1234.5, "lost": 0, "duplicates": 0,
    }  # fmt: skip
    return base | kw


def results(runs: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    base = {
        "machine": {"cpus": 2, "python": "3.11.7", "redis": "7.0.15"}, "jobs": 100,
        "concurrency": 10, "workloads": ["noop"], "modes": ["backlog"], "workers": [2],
        "runs": runs, "versions": {"rq": {"rq": "3.0.0"}}, "skipped": {},
    }  # fmt: skip
    return base | kw


def test_lost_are_the_ids_that_never_ran_and_duplicates_the_extra_runs() -> None:
    assert tally(enqueued=100, unique=100, count=100) == {"lost": 0, "duplicates": 0}
    assert tally(enqueued=100, unique=97, count=99) == {"lost": 3, "duplicates": 2}
    assert tally(enqueued=10, unique=10, count=13) == {"lost": 0, "duplicates": 3}


def test_a_clean_run_has_no_problem_and_a_bad_one_says_each() -> None:
    assert problems(run("rq")) == []
    assert problems(run("rq", lost=3, duplicates=2, status="timeout after 90 s")) == [
        "3 LOST", "2 DUPLICATES", "TIMEOUT AFTER 90 S",
    ]  # fmt: skip


def test_the_table_shows_rates_and_says_so_when_every_run_was_clean() -> None:
    text = render(results([run("qwsup", jobs_per_s=3285.0), run("rq", jobs_per_s=282.0)]))
    assert "jobs/s, 2 worker processes:" in text
    assert "3,285" in text and "282" in text
    assert "every run: 0 lost, 0 duplicates" in text
    assert "rq: rq 3.0.0" in text


def test_the_memory_of_each_systems_processes_is_listed() -> None:
    text = render(results([run("dramatiq", rss_mb=87.4, processes=3)]))
    assert "dramatiq x2: 87 MB in 3 processes" in text


def test_a_lost_or_duplicated_job_is_printed_loudly_in_its_cell_and_below() -> None:
    text = render(results([run("celery", lost=1), run("huey", duplicates=4)]))
    assert "1 LOST" in text and "4 DUPLICATES" in text
    assert "!! RUNS WITH PROBLEMS:" in text
    assert "!!   celery noop backlog x2: 1 LOST" in text
    assert "every run: 0 lost" not in text


def test_a_skipped_system_is_listed_with_its_reason() -> None:
    text = render(results([run("qwsup")], skipped={"bullmq": "cannot be installed: pip"}))
    assert "skipped:\n  bullmq: cannot be installed: pip" in text


def test_every_peer_has_a_pin_and_every_system_a_setting() -> None:
    peers = {s.name for s in SYSTEMS if s.venv}
    assert peers == set(PINS) == {
        "rq", "celery", "huey", "dramatiq", "arq", "saq", "taskiq", "bullmq",
    }  # fmt: skip
    assert all(s.setting and s.per_process for s in SYSTEMS)


def test_workers_and_concurrency_reach_each_systems_command(tmp_path: Path) -> None:
    launch = Launch(Path("/venv/bin"), workers=4, concurrency=10, url="redis://x", workdir=tmp_path)
    assert len(BY_NAME["plain"].commands(launch)) == 4  # one process per worker
    assert len(BY_NAME["bullmq"].commands(launch)) == 4
    assert BY_NAME["bullmq"].commands(launch)[0][-2:] == ["worker", "10"]
    (celery,) = BY_NAME["celery"].commands(launch)
    assert celery[celery.index("-c") + 1] == "4"  # prefork children: no concurrency
    (dramatiq,) = BY_NAME["dramatiq"].commands(launch)
    assert dramatiq[dramatiq.index("-p") + 1] == "4" and dramatiq[dramatiq.index("-t") + 1] == "10"
    (qwsup,) = BY_NAME["qwsup"].commands(launch)
    config = Path(qwsup[-1]).read_text()
    assert "count = 4" in config and "bench.peers.with_qwsup:handle" in config


def test_several_runs_of_a_figure_show_their_median_and_every_problem() -> None:
    runs = [run("bullmq", jobs_per_s=r) for r in (100.0, 300.0, 200.0)]
    runs[2] |= {"duplicates": 2}
    text = render(results(runs, rounds=3))
    assert "median of 3" in text
    assert "200 !! 2 DUPLICATES" in text


def test_a_failed_install_is_said_in_pips_error_lines_short() -> None:
    stderr = "WARNING: Location x is ignored\nERROR: No matching distribution found for rq==0\n"
    done = subprocess.CompletedProcess(["pip"], 1, stdout="", stderr=stderr)
    assert why(done) == "ERROR: No matching distribution found for rq==0"
    assert len(why(subprocess.CompletedProcess(["pip"], 1, "", "ERROR: " + "x" * 900))) == 300

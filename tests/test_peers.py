"""The pure parts of the peer benchmark (bench/peers/): the lost and duplicate counts,
the table, the systems' commands. No Redis, no peer, no virtualenv."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench.peers.checks import problems, render, tally
from bench.peers.systems import BY_NAME, SYSTEMS, Launch, Options, concurrency
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


def test_qwsup_runs_io_at_the_peers_concurrency_and_noop_and_cpu_in_processes() -> None:
    qwsup, plain, dramatiq = BY_NAME["qwsup"], BY_NAME["plain"], BY_NAME["dramatiq"]
    by_default = Options(concurrency=10)
    assert [concurrency(qwsup, w, by_default) for w in ("noop", "io", "cpu")] == [1, 10, 1]
    assert concurrency(qwsup, "io", Options(concurrency=20)) == 20
    forced = Options(concurrency=10, qwsup_concurrency=4)
    assert [concurrency(qwsup, w, forced) for w in ("noop", "io", "cpu")] == [4, 4, 4]
    assert [concurrency(dramatiq, w, forced) for w in ("noop", "io", "cpu")] == [10, 10, 10]
    assert concurrency(plain, "io", by_default) == 1


def test_qwsups_config_says_its_concurrency_and_handler(tmp_path: Path) -> None:
    def config(at_once: int, asyncio: bool = False) -> str:
        launch = Launch(Path("/x"), 2, at_once, "redis://x", tmp_path, asyncio=asyncio)
        (command,) = BY_NAME["qwsup"].commands(launch)
        return Path(command[-1]).read_text()

    assert "concurrency" not in config(1)
    assert "concurrency = 10" in config(10)
    assert 'handler = "bench.peers.with_qwsup:handle"' in config(10)
    assert 'handler = "bench.peers.with_qwsup:handle_async"' in config(10, asyncio=True)


def test_the_table_says_which_setting_each_qwsup_figure_used() -> None:
    runs = [
        run("qwsup", workload="noop", setting="concurrency 1"),
        run("qwsup", workload="io", setting="concurrency 10 (threads)"),
        run("rq", workload="io", setting="concurrency 1"),
    ]
    text = render(
        results(runs, workloads=["noop", "io"], settings={"qwsup": {"by_workload": True}})
    )
    assert "qwsup, configured per workload: noop at concurrency 1, io at concurrency 10" in text
    assert "I/O-bound, threads or asyncio, concurrency N" in text
    assert "rq, configured" not in text

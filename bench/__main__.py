"""qwsup against the article's plain loop on the three workloads, on a private
redis-server, side by side (docs/benchmark.md).

    python -m bench                        # noop, io, cpu; backlog, arrival; 1, 2, 4 workers
    python -m bench --jobs 100 --runs 1    # a quick look
    python -m bench --systems plain qwsup dramatiq arq     # peers too, each in its venv
    python -m bench --trivial --costs      # also the trivial jobs' table, and how cost grows
    python -m bench --fsync                # instead: appendfsync always against everysec

Each run goes through the peers harness (bench/peers/harness.py) with the same job
body for every system (bench/peers/body.py); qwsup is configured per workload, as its
README advises (io at --concurrency in threads, noop and cpu at concurrency 1), and
each row says so. Then the worker memory per concurrent job, the enqueue-to-start
latency and the enqueue rates. Prints the tables (each figure with its ratio to the
plain loop) and the issue's goals, and writes bench-results/latest.json (and
latest.png with matplotlib). A run of qwsup or the plain loop that loses or repeats a
job makes the exit status 1; timing never does.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import trivial, workloads
from bench.peers import body
from bench.peers.checks import problems, settings_notes
from bench.peers.harness import Harness, machine, matrix, prepare
from bench.peers.systems import BY_NAME, SYSTEMS, Options, System, label
from testkit import ROOT

TRIVIAL_JOBS = 20_000  # the trivial table's and the costs' jobs a run, unless --jobs
# The memory per concurrent job: qwsup's processes x jobs at once x asyncio.
MEMORY = [(1, 10, False), (10, 1, False), (1, 10, True)]
PARTS = ("workloads", "memory", "latency")
# qwsup, qwsup sending its record with the acknowledgement, and the two references
DEFAULT_SYSTEMS = ["plain", "qwsup", "qwsup-lean", "qwsup-writes", "batched"]


def counts(words: list[str]) -> list[int]:
    """`--workers 1 2 4` or `--workers 1,2,4`."""
    return [int(n) for word in words for n in word.split(",") if n]


def parse() -> argparse.Namespace:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(
        description=doc.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(doc.splitlines()[1:]),
    )
    names = [s.name for s in SYSTEMS]
    parser.add_argument(
        "--systems", nargs="+", choices=names, default=DEFAULT_SYSTEMS,
        help=f"the systems of the tables (default: {' '.join(DEFAULT_SYSTEMS)}); a peer's "
        "venv is made first",
    )  # fmt: skip
    parser.add_argument(
        "--workloads", nargs="+", choices=body.WORKLOADS, default=list(body.WORKLOADS)
    )
    parser.add_argument(
        "--modes", nargs="+", choices=["backlog", "arrival"], default=["backlog", "arrival"]
    )
    parser.add_argument(
        "--workers", nargs="+", default=["1", "2", "4"],
        help="worker processes, one figure per count (default 1 2 4; --fsync: 1 4)",
    )  # fmt: skip
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the median counts")
    parser.add_argument(
        "--jobs", type=int,
        help="jobs a run (default: sized, about --seconds at the rate the setting can reach; "
        f"the trivial table and the costs: {TRIVIAL_JOBS:,})",
    )  # fmt: skip
    parser.add_argument(
        "--seconds", type=float, default=2.0, help="how long a sized run lasts (default 2)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=10,
        help="jobs at once per process: the peers that have it, and qwsup's io (default 10)",
    )  # fmt: skip
    parser.add_argument(
        "--qwsup-concurrency", type=int,
        help="qwsup's [workers] concurrency for every workload (default: io at --concurrency, "
        "noop and cpu at 1)",
    )  # fmt: skip
    parser.add_argument(
        "--qwsup-async", action="store_true", help="qwsup runs the asyncio handler (async def)"
    )
    parser.add_argument(
        "--timeout", type=float, default=90, help="seconds a run may take (default 90)"
    )
    parser.add_argument(
        "--skip", nargs="+", choices=PARTS, default=[],
        help="leave out the workloads' tables, the memory per concurrent job, or the "
        "latency and enqueue rates",
    )  # fmt: skip
    parser.add_argument(
        "--trivial", action="store_true",
        help="also the trivial jobs' table: plain loop and qwsup, master CPU, worker RSS",
    )  # fmt: skip
    parser.add_argument(
        "--handler", choices=sorted(trivial.HANDLERS), default="noop",
        help="the trivial jobs' handler (--trivial, --costs, latency): noop notes the id in a "
        "local file (default); roundtrip also makes one INCR on the benchmark's Redis",
    )  # fmt: skip
    parser.add_argument(
        "--costs", action="store_true",
        help="also how cost grows: 1,000,000 jobs queued, 10 KB payloads, 4 masters",
    )  # fmt: skip
    parser.add_argument(
        "--fsync", action="store_true",
        help="instead: the embedded server with appendfsync always against everysec",
    )  # fmt: skip
    parser.add_argument("--venvs", type=Path, default=ROOT / ".bench-venvs")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results")
    return parser.parse_args()


def main() -> int:
    args = parse()
    if args.fsync:
        from bench.fsync import run

        fsync_counts = counts(args.workers) if args.workers != ["1", "2", "4"] else [1, 4]
        return run(args.jobs or TRIVIAL_JOBS, fsync_counts, args.runs, args.out)
    started = time.monotonic()
    workers = counts(args.workers)
    options = Options(args.concurrency, args.qwsup_concurrency, args.qwsup_async)
    workdir = Path(tempfile.mkdtemp(prefix="qwbench"))
    harness = Harness(workdir, options, args.timeout)
    cpus = os.cpu_count() or 1
    results: dict[str, Any] = {"machine": machine(harness.r), "handler": args.handler}
    wl: dict[str, Any] = {
        "systems": args.systems, "workloads": args.workloads, "modes": args.modes,
        "workers": workers, "rounds": args.runs, "jobs": args.jobs, "seconds": args.seconds,
        "cpus": cpus, "concurrency": args.concurrency,
        "qwsup_concurrency": args.qwsup_concurrency, "qwsup_async": args.qwsup_async,
        "pins": {}, "versions": {}, "settings": {}, "skipped": {}, "runs": [],
    }  # fmt: skip

    def jobs(system: System, workload: str, n: int, at_once: int) -> int:
        return int(args.jobs or workloads.sized(workload, n, at_once, cpus, args.seconds))

    bench: trivial.Bench | None = None
    try:
        if "workloads" not in args.skip:
            ready = prepare(args.systems, args.venvs, wl)
            wl["runs"] = matrix(
                harness, ready, workloads=args.workloads, modes=args.modes, workers=workers,
                rounds=args.runs, jobs=jobs,
            )  # fmt: skip
            results["workloads"] = wl
            results["figures"] = workloads.figures(wl)
            results["goals"] = [
                goal | {"system": name}
                for name in ("qwsup", "qwsup-writes") if name in results["figures"]
                for goal in workloads.goals(wl, name)
            ]  # fmt: skip
        if "memory" not in args.skip:
            results["memory"] = memory(harness)
        bench = trivial.Bench(workdir, url=harness.url, handler=trivial.HANDLERS[args.handler])
        if "latency" not in args.skip:
            results |= trivial.latency_and_enqueue(bench, 300 if args.jobs is None else 50)
        if args.trivial:
            results["trivial"] = trivial.trivial(
                bench, workers, args.jobs or TRIVIAL_JOBS, args.runs
            )
        if args.costs:
            results["costs"] = trivial.costs(bench, args.jobs or TRIVIAL_JOBS)
        results["bare_python_rss_mb"] = trivial.bare_python_rss_mb()
    finally:
        if bench is not None:
            bench.close()
        harness.close()
    results["minutes"] = (time.monotonic() - started) / 60
    print()
    print(text(results))
    args.out.mkdir(exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(results, indent=2))
    chart(results, args.out / "latest.png")
    bad = [
        r for r in wl["runs"]
        if (r["system"] == "plain" or r["system"].startswith("qwsup")) and problems(r)
    ]  # fmt: skip
    if not any(problems(r) for r in wl["runs"]):
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"logs of the runs: {workdir}")
    return 1 if bad else 0


def memory(harness: Harness) -> list[dict[str, Any]]:
    """qwsup's worker memory while 10 jobs are in flight: one process of 10 threads,
    10 processes of one job, one process of 10 asyncio tasks."""
    qwsup = BY_NAME["qwsup"]
    found = []
    for n, at_once, asyncio in MEMORY:
        m = harness.in_flight(qwsup, Path(sys.executable), n, at_once, asyncio)
        said = m["status"] if m["status"] != "ok" else (
            f"workers RSS {m['workers_mb']['rss']:.1f} MB, PSS {m['workers_mb']['pss']:.1f}, "
            f"USS {m['workers_mb']['uss']:.1f} in {m['worker_processes']} processes"
        )  # fmt: skip
        print(f"[memory] qwsup x{n} {label(at_once, asyncio)}: {said}", flush=True)
        found.append(m)
    return found


def text(res: dict[str, Any]) -> str:
    m = res["machine"]
    lines = [f"{m['cpus']} CPUs, Python {m['python']}, Redis {m['redis']} on TCP loopback"]
    if "workloads" in res:
        wl = res["workloads"]
        lines += ["", workloads.tables(wl), *settings_notes(wl)]
        bad = [r for r in wl["runs"] if problems(r)]
        if bad:
            lines += ["", "!! RUNS WITH PROBLEMS:"]
            lines += [
                f"!!   {r['system']} {r['workload']} {r['mode']} x{r['workers']}: "
                f"{', '.join(problems(r))}" + (f" ({r['note']})" if r.get("note") else "")
                for r in bad
            ]
        else:
            lines += ["", "every run: 0 lost, 0 duplicates"]
        if wl.get("skipped"):
            lines += ["", "skipped:", *(f"  {n}: {why}" for n, why in wl["skipped"].items())]
        lines += ["", "goals (the issue's), in this run:", *workloads.goal_lines(res["goals"])]
    if "memory" in res:
        lines += ["", workloads.memory_table(res["memory"])]
    extra = trivial.lines(res, res["handler"])
    if extra:
        lines += ["", *extra]
    lines += ["", f"the benchmark took {res['minutes']:.1f} minutes"]
    return "\n".join(lines)


def chart(res: dict[str, Any], path: Path) -> None:
    """A panel per workload: jobs/s against worker processes, a line per system and mode."""
    if "figures" not in res:
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: no chart)")
        return
    wl, found = res["workloads"], res["figures"]
    fig, axes = plt.subplots(
        1, len(wl["workloads"]), figsize=(4.5 * len(wl["workloads"]), 4), squeeze=False
    )
    for ax, workload in zip(axes[0], wl["workloads"], strict=True):
        for name, by_workload in found.items():
            for mode, style in (("backlog", "-"), ("arrival", "--")):
                series = by_workload.get(workload, {}).get(mode)
                if not series:
                    continue
                xs = [int(n) for n in series]
                setting = next(iter(series.values()))["setting"]
                ax.plot(xs, [series[str(n)]["jobs_per_s"] or 0 for n in xs], style,
                        marker="o", label=f"{name} ({setting}), {mode}")  # fmt: skip
        ax.set_title(f"{workload}: {workloads.WORDS[workload]}", fontsize=9)
        ax.set_xticks(wl["workers"])
        if workload == "io":  # 50 to 2,000 jobs/s: the plain loop would be a flat line
            ax.set_yscale("log")
        ax.set_xlabel("worker processes")
        ax.set_ylabel("jobs/s")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    m = res["machine"]
    fig.suptitle(f"{m['cpus']} CPUs, Python {m['python']}, Redis {m['redis']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    print(f"chart: {path}")


if __name__ == "__main__":
    raise SystemExit(main())

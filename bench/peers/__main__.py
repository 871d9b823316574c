"""qwsup, the article's plain loop and the peers a user would pick instead, on one
private redis-server, the same job body for all (bench/peers/body.py).

    python -m bench.peers                              # every system, the whole matrix
    python -m bench.peers --systems qwsup rq --workloads noop --modes arrival --jobs 200

Each peer runs from its own virtualenv under .bench-venvs/<system>, made here with
`python -m venv` and pip (versions in bench/peers/versions.py). Prints a table per
worker count (jobs/s; lost and duplicated jobs loudly) and writes
bench-results/peers.json. A peer that cannot be installed or run is skipped with the
reason; timing never fails anything.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from bench.peers import body
from bench.peers.checks import by_workload, combine, problems, render
from bench.peers.harness import Harness, machine, matrix, prepare
from bench.peers.systems import SYSTEMS, Options
from bench.workloads import REFERENCES
from testkit import ROOT


def chart(results: dict[str, Any], path: Path) -> None:
    """Bars of jobs/s, a panel per workload and mode, for the first worker count."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: no chart; make bench-peers installs it)")
        return
    workers = results["workers"][0]
    names = list(dict.fromkeys(r["system"] for r in results["runs"]))
    modes, workloads = results["modes"], results["workloads"]
    fig, axes = plt.subplots(
        len(modes), len(workloads), figsize=(4 * len(workloads), 3.2 * len(modes)), squeeze=False
    )
    for i, mode in enumerate(modes):
        for j, workload in enumerate(workloads):
            rates = []
            for name in names:
                figure = combine([
                    r for r in results["runs"]
                    if (r["system"], r["workload"], r["mode"], r["workers"])
                    == (name, workload, mode, workers)
                ])  # fmt: skip
                rates.append(figure["jobs_per_s"] or 0)
            ax = axes[i][j]
            colors = [  # qwsup red, the references (plain, batched) gray, the peers blue
                "tab:red"
                if n.startswith("qwsup")
                else "tab:gray"
                if n in REFERENCES
                else "tab:blue"
                for n in names
            ]
            ax.barh(names, rates, color=colors)
            ax.invert_yaxis()
            ax.set_title(f"{workload}, {mode}", fontsize=10)
            ax.set_xlabel("jobs/s")
            ax.grid(axis="x", alpha=0.3)
    m = results["machine"]
    fig.suptitle(
        f"{workers} worker processes, concurrency {results['concurrency']} where a system has "
        f"it (qwsup: {qwsup_words(results)}); {m['cpus']} CPUs, Python {m['python']}, "
        f"Redis {m['redis']}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    print(f"chart: {path}")


def qwsup_words(results: dict[str, Any]) -> str:
    """qwsup's setting per workload, short: `io 10 threads, noop 1, cpu 1`."""
    each = by_workload(results, "qwsup")
    short = {
        w: s.replace("concurrency ", "").replace("(", "").replace(")", "") for w, s in each.items()
    }
    return ", ".join(f"{w} {s}" for w, s in short.items()) or "-"


def main() -> int:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(
        description=doc.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(doc.splitlines()[1:]),
    )
    names = [s.name for s in SYSTEMS]
    parser.add_argument("--systems", nargs="+", choices=names, default=names)
    parser.add_argument(
        "--workloads", nargs="+", choices=body.WORKLOADS, default=["noop", "io", "cpu"]
    )
    parser.add_argument(
        "--modes", nargs="+", choices=["backlog", "arrival"], default=["backlog", "arrival"]
    )
    parser.add_argument(
        "--workers", nargs="+", type=int, default=[2], help="worker processes (default 2)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=10,
        help="jobs at once per process, where a system has it",
    )
    parser.add_argument(
        "--qwsup-concurrency",
        type=int,
        help="qwsup's [workers] concurrency for every workload (default: by workload, "
        "io at --concurrency, noop and cpu at 1)",
    )
    parser.add_argument("--jobs", type=int, default=500, help="jobs a run (default 500)")
    parser.add_argument(
        "--timeout", type=float, default=90, help="seconds a run may take (default 90)"
    )
    parser.add_argument(
        "--qwsup-async", action="store_true", help="qwsup runs the asyncio handler (async def)"
    )
    parser.add_argument(
        "--runs", type=int, default=1, help="runs of each figure; the table shows the median"
    )
    parser.add_argument("--venvs", type=Path, default=ROOT / ".bench-venvs")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results")
    args = parser.parse_args()
    options = Options(args.concurrency, args.qwsup_concurrency, args.qwsup_async)

    workdir = Path(tempfile.mkdtemp(prefix="qwpeers"))
    harness = Harness(workdir, options, args.timeout)
    results: dict[str, Any] = {
        "machine": machine(harness.r), "jobs": args.jobs, "concurrency": args.concurrency,
        "qwsup_concurrency": args.qwsup_concurrency, "qwsup_async": args.qwsup_async,
        "workloads": args.workloads,
        "modes": args.modes, "workers": args.workers, "rounds": args.runs, "pins": {},
        "versions": {}, "settings": {}, "skipped": {}, "runs": [],
    }  # fmt: skip
    try:
        ready = prepare(args.systems, args.venvs, results)
        results["runs"] = matrix(
            harness, ready, workloads=args.workloads, modes=args.modes, workers=args.workers,
            rounds=args.runs, jobs=lambda *_: int(args.jobs),
        )  # fmt: skip
    finally:
        harness.close()
    print()
    print(render(results))
    args.out.mkdir(exist_ok=True)
    (args.out / "peers.json").write_text(json.dumps(results, indent=2))
    chart(results, args.out / "peers.png")
    print(f"\nresults: {args.out / 'peers.json'}; logs of the runs: {workdir}")
    if not any(problems(r) for r in results["runs"]):
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The pure parts of the peer benchmark: what a run's counts say (lost, duplicates)
and the table of the results."""

from __future__ import annotations

import statistics
from typing import Any


def tally(enqueued: int, unique: int, count: int) -> dict[str, int]:
    """lost = enqueued - unique ids that ran; duplicates = runs - unique ids."""
    return {"lost": enqueued - unique, "duplicates": count - unique}


def problems(run: dict[str, Any]) -> list[str]:
    """What is wrong with a run, loudly: lost or duplicated jobs, a timeout, a failure."""
    found = []
    if run.get("lost"):
        found.append(f"{run['lost']} LOST")
    if run.get("duplicates"):
        found.append(f"{run['duplicates']} DUPLICATES")
    if run.get("status", "ok") != "ok":
        found.append(str(run["status"]).upper())
    return found


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The runs of one figure as one: the median rate of those that have one, the lost
    and duplicated jobs of them all, the first status that is not ok."""
    rates = [r["jobs_per_s"] for r in runs if r.get("jobs_per_s")]
    statuses = [r["status"] for r in runs if r.get("status", "ok") != "ok"]
    return {
        "jobs_per_s": statistics.median(rates) if rates else None,
        "lost": sum(r.get("lost") or 0 for r in runs),
        "duplicates": sum(r.get("duplicates") or 0 for r in runs),
        "status": statuses[0] if statuses else "ok",
    }


ADVICE = "as its README advises: CPU-bound, processes, concurrency 1; I/O-bound, threads or \
asyncio, concurrency N"


def by_workload(results: dict[str, Any], name: str) -> dict[str, str]:
    """The setting each workload of system `name` ran with, in words (`concurrency 10
    (threads)`), from its runs; a workload run with several says them all."""
    found: dict[str, list[str]] = {}
    for r in results["runs"]:
        if r["system"] == name and r.get("setting"):
            mine = found.setdefault(r["workload"], [])
            if r["setting"] not in mine:
                mine.append(r["setting"])
    return {w: " / ".join(found[w]) for w in results["workloads"] if w in found}


def settings_notes(results: dict[str, Any]) -> list[str]:
    """A line per system whose setting depends on the workload (qwsup's): which
    setting each of its figures used."""
    lines = []
    for name, settings in results.get("settings", {}).items():
        if settings.get("by_workload"):
            each = by_workload(results, name)
            if each:
                said = ", ".join(f"{w} at {s}" for w, s in each.items())
                lines += [f"{name}, configured per workload: {said}", f"  ({ADVICE})"]
    return ["", *lines] if lines else []


def cell(run: dict[str, Any] | None) -> str:
    if run is None:
        return "-"
    rate = f"{run['jobs_per_s']:,.0f}" if run.get("jobs_per_s") else "-"
    bad = problems(run)
    return f"{rate} !! {', '.join(bad)}" if bad else rate


def render(results: dict[str, Any]) -> str:
    """One table per worker count: a row per system, a column per workload and mode."""
    m = results["machine"]
    lines = [
        f"{results['jobs']} jobs a run, median of {results.get('rounds', 1)}; {m['cpus']} CPUs, "
        f"Python {m['python']}, Redis {m['redis']}; concurrency {results['concurrency']} per "
        "process where a system has it",
    ]
    columns = [(w, mode) for w in results["workloads"] for mode in results["modes"]]
    runs = results["runs"]
    names = list(dict.fromkeys(r["system"] for r in runs))
    for workers in results["workers"]:
        lines += ["", f"jobs/s, {workers} worker process{'es' if workers > 1 else ''}:"]
        heads = [f"{w} {mode}" for w, mode in columns]
        rows = []
        for name in names:
            found: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for r in runs:
                if r["system"] == name and r["workers"] == workers:
                    found.setdefault((r["workload"], r["mode"]), []).append(r)
            rows.append([name, *(cell(combine(found[c]) if c in found else None) for c in columns)])
        widths = [max(len(x) for x in col) for col in zip(["system", *heads], *rows, strict=True)]
        for row in [["system", *heads], *rows]:
            lines.append("  ".join(x.rjust(n) for x, n in zip(row, widths, strict=True)))
    lines += settings_notes(results)
    lines += ["", "memory of the worker processes at the end of a run (RSS, summed; the most):"]
    for workers in results["workers"]:
        for name in names:
            mine = [r for r in runs if r["system"] == name and r["workers"] == workers]
            top = max(mine, key=lambda r: r.get("rss_mb") or 0, default=None)
            if top and top.get("rss_mb"):
                lines.append(
                    f"  {name} x{workers}: {top['rss_mb']:.0f} MB in {top['processes']} processes"
                )
    bad = [r for r in runs if problems(r)]
    if bad:
        lines += ["", "!! RUNS WITH PROBLEMS:"]
        for r in bad:
            note = f" ({r['note']})" if r.get("note") else ""
            lines.append(
                f"!!   {r['system']} {r['workload']} {r['mode']} x{r['workers']}: "
                f"{', '.join(problems(r))}{note}"
            )
    else:
        lines += ["", "every run: 0 lost, 0 duplicates"]
    if results.get("skipped"):
        lines += ["", "skipped:"]
        lines += [f"  {name}: {why}" for name, why in results["skipped"].items()]
    lines += ["", "versions:"]
    for name, versions in results["versions"].items():
        lines.append(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    return "\n".join(lines)

"""The pure parts of the peer benchmark: what a run's counts say (lost, duplicates)
and the table of the results."""

from __future__ import annotations

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
        f"{results['jobs']} jobs a run; {m['cpus']} CPUs, Python {m['python']}, "
        f"Redis {m['redis']}; concurrency {results['concurrency']} per process where a "
        "system has it",
    ]
    columns = [(w, mode) for w in results["workloads"] for mode in results["modes"]]
    runs = results["runs"]
    names = list(dict.fromkeys(r["system"] for r in runs))
    for workers in results["workers"]:
        lines += ["", f"jobs/s, {workers} worker process{'es' if workers > 1 else ''}:"]
        heads = [f"{w} {mode}" for w, mode in columns]
        rows = []
        for name in names:
            found = {
                (r["workload"], r["mode"]): r
                for r in runs
                if r["system"] == name and r["workers"] == workers
            }
            rows.append([name, *(cell(found.get(c)) for c in columns)])
        widths = [max(len(x) for x in col) for col in zip(["system", *heads], *rows, strict=True)]
        for row in [["system", *heads], *rows]:
            lines.append("  ".join(x.rjust(n) for x, n in zip(row, widths, strict=True)))
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

"""The pure parts of `python -m bench`'s workload figures (the runs themselves are the
peers harness's, bench/peers/harness.py): how many jobs a run gets, the tables of
jobs/s with each figure's ratio to the plain loop, the issue's goals, the memory per
concurrent job. No Redis, no process."""

from __future__ import annotations

from typing import Any

from bench.peers.body import CPU_S, IO_S
from bench.peers.checks import combine, problems

WORDS = {
    "noop": "one Redis round trip a job",
    "io": "sleep 20 ms, then the round trip",
    "cpu": "5 ms of pure-Python CPU, then the round trip",
}
NOOP_PER_CPU = 2_000  # jobs/s of a busy CPU on noop, roughly: sizes noop's runs
MIN_JOBS, MAX_JOBS = 100, 20_000
REFERENCE = "plain"  # the ratios are to the article's plain loop
REFERENCES = (REFERENCE, "batched")  # measured beside the peers, never counted as one
GOAL_WORKERS = 2  # the goals are at 2 worker processes


def limit(workload: str, workers: int, at_once: int, cpus: int) -> float | None:
    """The physical limit in jobs/s: io processes x jobs at once / 20 ms; cpu the busy
    CPUs / 5 ms (the harness and redis-server share them, so the rate is below); noop
    has none."""
    if workload == "io":
        return workers * at_once / IO_S
    if workload == "cpu":
        return min(workers, cpus) / CPU_S
    return None


def sized(workload: str, workers: int, at_once: int, cpus: int, seconds: float) -> int:
    """Jobs for a run of about `seconds` at the rate a system could reach: the limit
    (io, cpu), or NOOP_PER_CPU a busy CPU (noop); from MIN_JOBS to MAX_JOBS."""
    rate = limit(workload, workers, at_once, cpus) or NOOP_PER_CPU * min(workers, cpus)
    return max(MIN_JOBS, min(MAX_JOBS, round(rate * seconds)))


def figures(results: dict[str, Any]) -> dict[str, Any]:
    """system -> workload -> mode -> workers -> the median of its runs, with its
    setting and its ratio to the plain loop's figure (None without one)."""
    runs = results["runs"]
    out: dict[str, Any] = {}
    for r in runs:
        cell = out.setdefault(r["system"], {}).setdefault(r["workload"], {})
        cell.setdefault(r["mode"], {}).setdefault(str(r["workers"]), [])
        cell[r["mode"]][str(r["workers"])].append(r)
    for by_workload in out.values():
        for by_mode in by_workload.values():
            for mode_runs in by_mode.values():
                for workers, mine in mode_runs.items():
                    figure = combine(mine)
                    figure["setting"] = mine[0].get("setting", "")
                    figure["concurrency"] = mine[0].get("concurrency", 1)
                    figure["jobs"] = mine[0].get("jobs")
                    mode_runs[workers] = figure
    for name, by_workload in out.items():
        for workload, by_mode in by_workload.items():
            for mode, mode_runs in by_mode.items():
                for workers, figure in mode_runs.items():
                    base = out.get(REFERENCE, {}).get(workload, {}).get(mode, {}).get(workers)
                    rate, ref = figure["jobs_per_s"], base and base["jobs_per_s"]
                    figure["ratio"] = rate / ref if rate and ref and name != REFERENCE else None
    return out


def row_name(name: str, settings: list[str]) -> str:
    """`qwsup (concurrency 10 (threads))` reads badly: `qwsup, concurrency 10, threads`."""
    said = " / ".join(s.replace(" (", ", ").rstrip(")") for s in settings)
    return f"{name}, {said}" if said else name


def runs(n: int) -> str:
    return "1 run" if n == 1 else f"{n} runs"


def cell(figure: dict[str, Any] | None) -> str:
    if figure is None:
        return "-"
    rate = f"{figure['jobs_per_s']:,.0f}" if figure.get("jobs_per_s") else "-"
    if figure.get("ratio"):
        rate += f" ({figure['ratio']:.2f}x)"
    bad = problems(figure)
    return f"{rate} !! {', '.join(bad)}" if bad else rate


def tables(results: dict[str, Any]) -> str:
    """A table per workload: a row per system (with the setting it ran with), a column
    per worker count and mode, jobs/s and the ratio to the plain loop; the limits."""
    found = figures(results)
    names = list(dict.fromkeys(r["system"] for r in results["runs"]))
    cpus = int(results.get("cpus") or 1)
    columns = [(str(w), mode) for w in results["workers"] for mode in results["modes"]]
    heads = [f"x{w} {mode}" for w, mode in columns]
    seconds = float(results.get("seconds") or 2)
    jobs = (
        f"jobs sized to about {seconds:g} s a run" if results.get("jobs") is None else "jobs a run"
    )
    lines = [
        f"jobs/s, median of {runs(results['rounds'])}; in brackets the ratio to the plain "
        f"loop at the same worker processes and mode; x2: 2 worker processes",
    ]
    for workload in results["workloads"]:
        lines += ["", f"{workload} ({WORDS[workload]}):"]
        rows, counts = [], []
        for name in names:
            by_mode = found.get(name, {}).get(workload)
            if not by_mode:
                continue
            settings = list(
                dict.fromkeys(f["setting"] for m in by_mode.values() for f in m.values())
            )
            cells = [cell(by_mode.get(mode, {}).get(w)) for w, mode in columns]
            rows.append([row_name(name, settings), *cells])
            first = next(iter(by_mode.values()))
            each = [str(first[str(w)]["jobs"]) for w in results["workers"] if str(w) in first]
            counts.append(f"{name} {'/'.join(each)}")
        table = [["system", *heads], *rows]
        widths = [max(len(x) for x in col) for col in zip(*table, strict=True)]
        for row in table:
            lines.append(
                "  ".join(
                    x.ljust(n) if i == 0 else x.rjust(n)
                    for i, (x, n) in enumerate(zip(row, widths, strict=True))
                )
            )
        xs = "/".join(f"x{w}" for w in results["workers"])
        lines.append(f"  ({jobs}, {xs}: {'; '.join(counts)})")
        at_onces = sorted({f["concurrency"] for n in names
                           for m in found.get(n, {}).get(workload, {}).values()
                           for f in m.values()})  # fmt: skip
        if workload != "noop":
            said = "; ".join(
                f"at concurrency {c}: " + ", ".join(
                    f"{limit(workload, w, c, cpus):,.0f}" for w in results["workers"]
                )
                for c in (at_onces if workload == "io" else at_onces[:1])
            )  # fmt: skip
            how = "processes x jobs at once / 20 ms" if workload == "io" else (
                f"busy CPUs (of {cpus}) / 5 ms, shared with redis-server and the harness"
            )  # fmt: skip
            lines.append(f"  limit ({how}), x{', x'.join(map(str, results['workers']))}: {said}")
    return "\n".join(lines)


def goals(results: dict[str, Any], qwsup: str = "qwsup") -> list[dict[str, Any]]:
    """The issue's goals, each measured in this run: io at 2 processes >= 90% of its
    limit and ahead of every peer; noop >= 3x the plain loop at 2 workers; cpu >= the
    plain loop. `met` is None when the run did not measure what it needs."""
    found = figures(results)
    cpus = int(results.get("cpus") or 1)
    w = str(GOAL_WORKERS)
    peers = [n for n in found if n not in REFERENCES and not n.startswith("qwsup")]
    out: list[dict[str, Any]] = []

    def of(name: str, workload: str) -> dict[str, dict[str, Any]]:
        by_mode = found.get(name, {}).get(workload, {})
        return {mode: by_mode[mode][w] for mode in by_mode if w in by_mode[mode]}

    io = of(qwsup, "io")
    goal = "io, 2 processes at concurrency 10: >= 90% of the limit (2 x 10 / 20 ms = 1,000 jobs/s)"
    if io:
        parts, ok = [], True
        for mode, f in io.items():
            top = limit("io", GOAL_WORKERS, int(f["concurrency"]), cpus) or 1
            share = (f["jobs_per_s"] or 0) / top
            ok = ok and share >= 0.9 and int(f["concurrency"]) >= 10
            parts.append(
                f"{mode} {f['jobs_per_s'] or 0:,.0f} jobs/s = {share:.0%} of {top:,.0f} "
                f"at {f['setting']}"
            )
        out.append({"goal": goal, "measured": "; ".join(parts), "met": ok})
    else:
        out.append({"goal": goal, "measured": "not measured (io at --workers 2)", "met": None})
    goal = "io, 2 processes: ahead of every peer"
    rivals = {p: of(p, "io") for p in peers if of(p, "io")}
    if io and rivals:
        parts, ok = [], True
        for mode, f in io.items():
            best = max(
                ((p, r[mode]["jobs_per_s"] or 0) for p, r in rivals.items() if mode in r),
                key=lambda x: x[1],
                default=None,
            )
            if best is None:
                continue
            ok = ok and (f["jobs_per_s"] or 0) > best[1]
            parts.append(f"{mode} {f['jobs_per_s'] or 0:,.0f} against {best[0]} {best[1]:,.0f}")
        out.append({"goal": goal, "measured": "; ".join(parts), "met": ok})
    else:
        said = "no peer in this run (--systems ... rq dramatiq ...)" if io else "not measured"
        out.append({"goal": goal, "measured": said, "met": None})
    for workload, factor, goal in (
        ("noop", 3.0, "noop, 2 workers: >= 3x the plain loop"),
        ("cpu", 1.0, "cpu: >= the plain loop"),
    ):
        counts = [w] if workload == "noop" else [str(n) for n in results["workers"]]
        by_mode = found.get(qwsup, {}).get(workload, {})
        ratios = [
            (mode, n, by_mode[mode][n]["ratio"])
            for mode in by_mode for n in counts if n in by_mode[mode]
        ]  # fmt: skip
        if not ratios or any(r is None for *_, r in ratios):
            out.append({"goal": goal, "measured": "not measured", "met": None})
            continue
        parts = [f"x{n} {mode} {r:.2f}x" for mode, n, r in ratios]
        ok = all(r >= factor for *_, r in ratios)
        out.append({"goal": goal, "measured": ", ".join(parts), "met": ok})
    return out


WHO = {"qwsup-writes": "qwsup-writes (its record sent with the acknowledgement: no round trip)"}


def _who(goal: dict[str, Any]) -> str:
    return f"{WHO.get(goal['system'], goal['system'])}: " if "system" in goal else ""


def goal_lines(found: list[dict[str, Any]]) -> list[str]:
    verdict = {True: "met", False: "NOT MET", None: "-"}
    return [
        line for g in found
        for line in (
            f"  [{verdict[g['met']]}] {_who(g)}{g['goal']}",
            f"      {g['measured']}",
        )
    ]  # fmt: skip


def memory_table(measures: list[dict[str, Any]]) -> str:
    """The memory of the worker processes while their jobs are in flight, and per job."""
    lines = [
        "worker memory per concurrent job: the jobs in flight (each sleeping until released), "
        "RSS, PSS and USS of the processes that run them (psutil memory_full_info), MB:",
        "",
        f"{'setting':44} {'processes':>9} {'RSS':>7} {'PSS':>7} {'USS':>7}   "
        f"{'per job: RSS':>12} {'PSS':>6} {'USS':>6}",
    ]
    for m in measures:
        n = m["workers"]
        what = f"{m['system']}, {n} process{'es' if n > 1 else ''}, {m['setting']}"
        if m.get("status", "ok") != "ok" or "workers_mb" not in m:
            lines.append(f"{what:44} !! {str(m.get('status')).upper()} {m.get('note', '')}")
            continue
        mb, jobs = m["workers_mb"], m["jobs_in_flight"]
        lines.append(
            f"{what:44} {m['worker_processes']:>9} {mb['rss']:>7.1f} {mb['pss']:>7.1f} "
            f"{mb['uss']:>7.1f}   {mb['rss'] / jobs:>12.1f} {mb['pss'] / jobs:>6.1f} "
            f"{mb['uss'] / jobs:>6.1f}"
        )
    others = [m for m in measures if m.get("other_processes")]
    if others:
        o = max(others, key=lambda m: float(m["others_mb"]["rss"]))
        lines.append(
            f"(not counted: the master, RSS {o['others_mb']['rss']:.1f} MB, "
            f"PSS {o['others_mb']['pss']:.1f}, USS {o['others_mb']['uss']:.1f})"
        )
    return "\n".join(lines)

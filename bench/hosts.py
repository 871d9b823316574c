"""What idle supervisors and workers cost Redis, from 1 to 50 masters on this machine,
and what that projects to for 1,000 hosts of 50 workers each.

    python -m bench.hosts [--masters 1,5,10,25,50] [--workers 1] [--seconds 60]

Each step starts that many masters (each under its own supervisor name, as that many
hosts would run, `--workers` workers each) on one private redis-server, lets them idle
through `--seconds` of measurement, and reads from the server how many commands
it ran meanwhile (INFO commandstats) and how much CPU it used (INFO cpu). Idle is the
floor every host pays: heartbeats, lease watches, the workers' blocking takes,
promotions and sweeps. The window must hold at least one whole wait of an idle worker
(BLOCK_S, 30 s): the workers all start together, so a shorter one can miss their takes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.trivial import Bench

LEASE_S = 30.0  # the default lease: renewals and watches are paced by it


def sample(bench: Bench) -> tuple[dict[str, int], float]:
    """Commands run so far by name, and the server's CPU seconds so far."""
    stats = bench.r.info("commandstats")
    calls = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}
    cpu = bench.r.info("cpu")
    return calls, float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"])


def step(bench: Bench, masters: int, workers: int, seconds: float) -> dict[str, Any]:
    procs = bench.start("qwsup", masters * workers, masters)
    try:
        time.sleep(1.0)  # past the start: the first claims, sweeps and renewals
        calls0, cpu0 = sample(bench)
        time.sleep(seconds)  # the measurement window itself, not a wait for anything
        calls1, cpu1 = sample(bench)
    finally:
        bench.stop(procs)
    per_command = {k: (calls1.get(k, 0) - calls0.get(k, 0)) / seconds for k in calls1}
    per_command = {k: v for k, v in per_command.items() if v > 0 and k != "info"}
    total = sum(per_command.values())
    return {
        "masters": masters, "workers": masters * workers,
        "commands_per_s": total, "per_master": total / masters,
        "redis_cpu_percent": (cpu1 - cpu0) / seconds * 100,
        "by_command": dict(sorted(per_command.items(), key=lambda kv: -kv[1])),
    }  # fmt: skip


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"{'masters':>7}  {'workers':>7}  {'commands/s':>10}  {'per master':>10}  "
        f"{'redis CPU':>9}  top commands (per s)"
    ]
    for row in rows:
        top = ", ".join(f"{k} {v:.1f}" for k, v in list(row["by_command"].items())[:4])
        lines.append(
            f"{row['masters']:>7}  {row['workers']:>7}  {row['commands_per_s']:>10.1f}  "
            f"{row['per_master']:>10.2f}  {row['redis_cpu_percent']:>8.1f}%  {top}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--masters", default="1,5,10,25,50")
    parser.add_argument("--workers", type=int, default=1, help="workers per master")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="qwhosts"))
    bench = Bench(workdir)
    try:
        rows = [step(bench, int(m), args.workers, args.seconds) for m in args.masters.split(",")]
    finally:
        bench.close()
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

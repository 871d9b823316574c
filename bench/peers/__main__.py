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
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import psutil
import redis

from bench.peers import body, systems, venvs
from bench.peers.checks import combine, problems, render, tally
from bench.peers.systems import BY_NAME, SYSTEMS, Launch, System
from bench.peers.versions import PINS
from testkit import ROOT, RedisServer, default_binary, pings, wait_until

POLL_S = 0.005  # how often the harness reads the counter
SETTLE_S = 0.5  # after the last job, how long late duplicates get to show
WARM_S = 1.0  # after the warm-up jobs, before the arrival mode's jobs


class Failed(Exception):
    """A run could not be done (a worker exited, a producer failed): the run says why."""


class Group:
    """Processes we started, each the leader of a process group of its own, ended by
    their group: TERM, then KILL after `grace`."""

    def __init__(self, log: IO[bytes]) -> None:
        self.log = log
        self.procs: list[subprocess.Popen[bytes]] = []
        self.names: dict[int, str] = {}

    def start(self, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            command,
            env=env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.procs.append(proc)
        self.names[proc.pid] = Path(command[0]).name
        return proc

    def check(self) -> None:
        for proc in self.procs:
            if proc.poll() is not None:
                raise Failed(f"{self.names[proc.pid]} exited with {proc.returncode}")

    def stop(self, grace: float = 10.0) -> None:
        for proc in self.procs:
            self._signal(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
        for proc in self.procs:  # the group: children that outlived their leader too
            self._signal(proc, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
        self.procs = []

    def memory(self) -> tuple[int, float]:
        """How many processes the groups have (leaders and their descendants), and their
        RSS in MB, summed."""
        found: dict[int, psutil.Process] = {}
        for proc in self.procs:
            with contextlib.suppress(psutil.Error):
                leader = psutil.Process(proc.pid)
                for p in [leader, *leader.children(recursive=True)]:
                    found[p.pid] = p
        rss = 0
        for p in found.values():
            with contextlib.suppress(psutil.Error):
                rss += p.memory_info().rss
        return len(found), rss / 2**20

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)


class Harness:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.server = RedisServer(default_binary(), tcp=True)  # a free loopback port
        self.server.start()
        self.url = self.server.url
        self.r = redis.Redis.from_url(self.url)
        wait_until(lambda: pings(self.r), 10, "redis-server")
        self.env = dict(os.environ, PYTHONPATH=str(ROOT), **{body.URL_ENV: self.url})
        self.env.pop("VIRTUAL_ENV", None)
        self.producer_log = (workdir / "producers.log").open("ab")  # every enqueue's output

    def close(self) -> None:
        self.producer_log.close()
        self.r.close()
        self.server.cleanup()

    def count(self) -> int:
        return int(self.r.get(body.COUNT) or 0)

    def enqueue(
        self, system: System, python: Path, workload: str, prefix: str, n: int, mark: bool = False
    ) -> subprocess.Popen[bytes]:
        command = [str(python), "-m", system.module, "enqueue", workload, prefix, str(n)]
        self.producer_log.write(f"-- {system.name} {workload} {prefix}\n".encode())
        self.producer_log.flush()
        return subprocess.Popen(
            [*command, *(["mark"] if mark else [])],
            env=self.env,
            cwd=ROOT,
            stdout=self.producer_log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_count(
        self,
        target: int,
        deadline: float,
        group: Group,
        producer: subprocess.Popen[bytes] | None = None,
    ) -> float:
        """The time the counter reached `target`; Failed when a worker or the producer
        failed, TimeoutError at `deadline` (monotonic)."""
        while True:
            if self.count() >= target:
                return time.time()
            group.check()
            if producer is not None and producer.poll() not in (None, 0):
                raise Failed(f"the producer exited with {producer.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError
            time.sleep(POLL_S)

    def run(
        self, system: System, python: Path, workload: str, mode: str, workers: int
    ) -> dict[str, Any]:
        n = self.args.jobs
        result: dict[str, Any] = {
            "system": system.name, "workload": workload, "mode": mode, "workers": workers,
            "jobs": n, "status": "ok",
        }  # fmt: skip
        self.r.flushall()
        deadline = time.monotonic() + self.args.timeout
        log_path = self.workdir / f"{system.name}-{workload}-{mode}-{workers}.log"
        concurrency = self.args.concurrency if system.concurrent else 1
        launch = Launch(python.parent, workers, concurrency, self.url, self.workdir)
        producer: subprocess.Popen[bytes] | None = None
        with log_path.open("wb") as log:
            group = Group(log)
            try:
                if mode == "backlog":
                    producer = self.enqueue(system, python, workload, "j", n)
                    if producer.wait(max(1, deadline - time.monotonic())) != 0:
                        raise Failed(f"the producer exited with {producer.returncode}")
                    for command in system.commands(launch):
                        group.start(command, self.env)
                    t0 = self.wait_count(1, deadline, group)
                    c0 = self.count()
                    t1 = self.wait_count(n, deadline, group)
                    result["jobs_per_s"] = (n - c0) / max(t1 - t0, 1e-6)
                else:  # arrival: the workers are up and idle, then the jobs come
                    for command in system.commands(launch):
                        group.start(command, self.env)
                    warm = 2 * workers
                    producer = self.enqueue(system, python, "noop", "w", warm)
                    self.wait_count(warm, deadline, group, producer)
                    producer.wait(10)
                    time.sleep(WARM_S)
                    self.r.delete(body.DONE, body.COUNT, body.STARTED, body.SENT)
                    producer = self.enqueue(system, python, workload, "j", n, mark=True)
                    t1 = self.wait_count(n, deadline, group, producer)
                    t0 = float(self.r.get(body.STARTED) or t1)
                    result["jobs_per_s"] = n / max(t1 - t0, 1e-6)
                    producer.wait(max(1, deadline - time.monotonic()))
                    sent = float(self.r.get(body.SENT) or t1)
                    result["enqueue_per_s"] = n / max(sent - t0, 1e-6)
                result["processes"], result["rss_mb"] = group.memory()
                time.sleep(SETTLE_S)
            except TimeoutError:
                result["status"] = f"timeout after {self.args.timeout:g} s"
            except (Failed, subprocess.TimeoutExpired) as e:
                result["status"] = "failed"
                result["note"] = f"{e}; log {log_path}"
            finally:
                group.stop()
                if producer is not None and producer.poll() is None:
                    Group._signal(producer, signal.SIGKILL)
                    producer.wait(10)
        unique, count = int(self.r.scard(body.DONE)), self.count()
        result.update(tally(n, unique, count), ran=unique)
        if result["status"] != "ok" and "note" not in result:
            result["note"] = f"{unique} of {n} ran; log {log_path}"
        return result


def prepare(args: argparse.Namespace, results: dict[str, Any]) -> list[tuple[System, Path]]:
    """Each system's interpreter (a peer's venv made first), its versions and setting
    noted; a peer that cannot be installed is noted as skipped."""
    ready = []
    for name in args.systems:
        system = BY_NAME[name]
        if system.venv:
            print(f"[{name}] virtualenv .bench-venvs/{name} ...", flush=True)
            try:
                python = venvs.ensure(args.venvs, name)
            except venvs.InstallError as e:
                results["skipped"][name] = f"cannot be installed: {e}"
                print(f"[{name}] SKIPPED: {e}", flush=True)
                continue
            dists = [p.split("[")[0].split("=")[0] for p in PINS[name]] + ["redis"]
            results["pins"][name] = list(PINS[name])
            results["versions"][name] = venvs.installed(python, dists)
        else:
            python = Path(sys.executable)
            results["versions"][name] = venvs.installed(python, ["qwsup", "redis"])
        results["settings"][name] = {"setting": system.setting, "per_process": system.per_process}
        ready.append((system, python))
    return ready


def one(
    harness: Harness, system: System, python: Path, workload: str, mode: str, workers: int
) -> dict[str, Any]:
    """One run, printed as it ends."""
    name = system.name
    try:
        run = harness.run(system, python, workload, mode, workers)
    except redis.RedisError as e:  # the run's processes are stopped
        run = {
            "system": name, "workload": workload, "mode": mode, "workers": workers,
            "jobs": harness.args.jobs, "status": "failed", "note": f"{type(e).__name__}: {e}",
            "lost": None, "duplicates": None,
        }  # fmt: skip
    rate = f"{run['jobs_per_s']:,.0f} jobs/s" if run.get("jobs_per_s") else "-"
    if run.get("enqueue_per_s"):
        rate += f" (enqueued at {run['enqueue_per_s']:,.0f}/s)"
    if run.get("rss_mb"):
        rate += f", {run['processes']} processes {run['rss_mb']:.0f} MB"
    bad = problems(run)
    flag = f"  !! {', '.join(bad)} {run.get('note', '')}" if bad else ""
    print(
        f"[{name}] {workload:4} {mode:7} x{workers}: {rate}, "
        f"lost {run['lost']}, duplicates {run['duplicates']}{flag}",
        flush=True,
    )
    return run


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
            colors = ["tab:red" if n == "qwsup" else "tab:gray" if n == "plain" else "tab:blue"
                      for n in names]  # fmt: skip
            ax.barh(names, rates, color=colors)
            ax.invert_yaxis()
            ax.set_title(f"{workload}, {mode}", fontsize=10)
            ax.set_xlabel("jobs/s")
            ax.grid(axis="x", alpha=0.3)
    m = results["machine"]
    fig.suptitle(
        f"{workers} worker processes, concurrency {results['concurrency']} where a system has "
        f"it; {m['cpus']} CPUs, Python {m['python']}, Redis {m['redis']}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    print(f"chart: {path}")


def machine(r: redis.Redis) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "redis": str(r.info("server")["redis_version"]), "platform": platform.platform(),
    }  # fmt: skip


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
        "--qwsup-concurrency", type=int, default=1, help="qwsup's [workers] concurrency (default 1)"
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
    systems.QWSUP_CONCURRENCY[0] = args.qwsup_concurrency
    systems.QWSUP_ASYNC[0] = args.qwsup_async

    workdir = Path(tempfile.mkdtemp(prefix="qwpeers"))
    harness = Harness(args, workdir)
    results: dict[str, Any] = {
        "machine": machine(harness.r), "jobs": args.jobs, "concurrency": args.concurrency,
        "qwsup_concurrency": args.qwsup_concurrency, "qwsup_async": args.qwsup_async,
        "workloads": args.workloads,
        "modes": args.modes, "workers": args.workers, "rounds": args.runs, "pins": {},
        "versions": {}, "settings": {}, "skipped": {}, "runs": [],
    }  # fmt: skip
    try:
        ready = prepare(args, results)
        for round_ in range(1, args.runs + 1):  # the systems interleaved: the same moment
            for workers in args.workers:
                for workload in args.workloads:
                    for mode in args.modes:
                        for system, python in ready:
                            run = one(harness, system, python, workload, mode, workers)
                            run["round"] = round_
                            results["runs"].append(run)
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

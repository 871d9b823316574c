"""The harness both benchmarks share (python -m bench.peers, python -m bench): one
private redis-server, a system's workers started and stopped as process groups, one
run of a system on a workload and mode (jobs/s, lost, duplicates, memory), the matrix
of runs, and the memory of jobs in flight (the `hold` body).

A run is `Harness.run`; everything that measures a system goes through it.
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psutil
import redis

from bench.peers import body, venvs
from bench.peers.checks import problems, tally
from bench.peers.systems import BY_NAME, Launch, Options, System, concurrency, label, uses_asyncio
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

    def _processes(self) -> dict[int, psutil.Process]:
        """The groups' processes by pid: the leaders and their descendants."""
        found: dict[int, psutil.Process] = {}
        for proc in self.procs:
            with contextlib.suppress(psutil.Error):
                leader = psutil.Process(proc.pid)
                for p in [leader, *leader.children(recursive=True)]:
                    found[p.pid] = p
        return found

    def memory(self) -> tuple[int, float]:
        """How many processes the groups have (leaders and their descendants), and their
        RSS in MB, summed."""
        found = self._processes()
        rss = 0
        for p in found.values():
            with contextlib.suppress(psutil.Error):
                rss += p.memory_info().rss
        return len(found), rss / 2**20

    def full_memory(self, workers: set[int]) -> dict[str, Any]:
        """RSS, PSS and USS in MB, summed, of the processes `workers` and of the groups'
        other processes, and how many of each."""
        found = self._processes()
        sums = {role: {"rss": 0.0, "pss": 0.0, "uss": 0.0} for role in ("workers", "others")}
        counts = {"workers": 0, "others": 0}
        for pid, p in found.items():
            role = "workers" if pid in workers else "others"
            with contextlib.suppress(psutil.Error):
                info = p.memory_full_info()
                for key in sums[role]:
                    sums[role][key] += getattr(info, key, 0) / 2**20
                counts[role] += 1
        return {
            "worker_processes": counts["workers"], "other_processes": counts["others"],
            "workers_mb": sums["workers"], "others_mb": sums["others"],
        }  # fmt: skip

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)


@dataclass(frozen=True)
class Setup:
    """One figure's setting: the system (and its interpreter), the workload, how the
    jobs come, the worker processes, and the jobs of a run."""

    system: System
    python: Path
    workload: str
    mode: str
    workers: int
    jobs: int


class Harness:
    """One private redis-server (testkit's, a free loopback port, no persistence) and
    the runs on it; a run may take `timeout` seconds."""

    def __init__(self, workdir: Path, options: Options, timeout: float = 90) -> None:
        self.options = options
        self.timeout = timeout
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

    def run(self, setup: Setup) -> dict[str, Any]:
        """One run: jobs/s, lost, duplicates, the processes and their RSS; its status
        says whether it timed out or failed (never an exception for either)."""
        system, python, workload, mode = setup.system, setup.python, setup.workload, setup.mode
        workers, n = setup.workers, setup.jobs
        at_once = concurrency(system, workload, self.options)
        asyncio = uses_asyncio(system, self.options)
        result: dict[str, Any] = {
            "system": system.name, "workload": workload, "mode": mode, "workers": workers,
            "jobs": n, "concurrency": at_once, "asyncio": asyncio,
            "setting": label(at_once, asyncio) if system.by_workload else f"concurrency {at_once}",
            "status": "ok",
        }  # fmt: skip
        self.r.flushall()
        deadline = time.monotonic() + self.timeout
        log_path = self.workdir / f"{system.name}-{workload}-{mode}-{workers}.log"
        launch = Launch(python.parent, workers, at_once, self.url, self.workdir, asyncio)
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
                    if c0 >= n:  # all done by the first look: nothing to time
                        raise Failed(f"all {n} jobs ran before the first look: use more jobs")
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
                result["status"] = f"timeout after {self.timeout:g} s"
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

    def in_flight(
        self, system: System, python: Path, workers: int, at_once: int, asyncio: bool = False
    ) -> dict[str, Any]:
        """The memory of `system`'s processes while `workers` x `at_once` jobs run at
        once (the `hold` body: each waits until released): RSS, PSS and USS (psutil
        memory_full_info) of the processes that run the jobs, and of the others (a
        master), in MB; per job = the workers' figure / the jobs in flight. A run that
        cannot get them all in flight says so in its status."""
        n = workers * at_once
        result: dict[str, Any] = {
            "system": system.name, "workers": workers, "concurrency": at_once,
            "asyncio": asyncio, "setting": label(at_once, asyncio), "jobs_in_flight": n,
            "status": "ok",
        }  # fmt: skip
        self.r.flushall()
        deadline = time.monotonic() + self.timeout
        log_path = self.workdir / f"{system.name}-memory-{workers}x{at_once}.log"
        launch = Launch(python.parent, workers, at_once, self.url, self.workdir, asyncio)
        with log_path.open("wb") as log:
            group = Group(log)
            try:
                for command in system.commands(launch):
                    group.start(command, self.env)
                producer = self.enqueue(system, python, body.HOLD, "m", n)
                if producer.wait(max(1, deadline - time.monotonic())) != 0:
                    raise Failed(f"the producer exited with {producer.returncode}")
                while int(self.r.get(body.RUNNING) or 0) < n:
                    group.check()
                    if time.monotonic() > deadline:
                        raise TimeoutError
                    time.sleep(POLL_S)
                pids = {int(p) for p in self.r.smembers(body.PIDS)}
                result.update(group.full_memory(pids))
                self.r.set(body.RELEASE, 1)
                self.wait_count(n, deadline, group)
            except TimeoutError:
                running = int(self.r.get(body.RUNNING) or 0)
                result["status"] = f"{running} of {n} jobs in flight after {self.timeout:g} s"
            except (Failed, subprocess.TimeoutExpired) as e:
                result["status"] = "failed"
                result["note"] = f"{e}; log {log_path}"
            finally:
                self.r.set(body.RELEASE, 1)
                group.stop()
        return result


def prepare(
    names: list[str], venv_root: Path, results: dict[str, Any]
) -> list[tuple[System, Path]]:
    """Each system's interpreter (a peer's venv made first), its versions and setting
    noted; a peer that cannot be installed is noted as skipped."""
    ready = []
    for name in names:
        system = BY_NAME[name]
        if system.venv:
            print(f"[{name}] virtualenv .bench-venvs/{name} ...", flush=True)
            try:
                python = venvs.ensure(venv_root, name)
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
        results["settings"][name] = {
            "setting": system.setting, "per_process": system.per_process,
            "by_workload": system.by_workload,
        }  # fmt: skip
        ready.append((system, python))
    return ready


def one(harness: Harness, setup: Setup) -> dict[str, Any]:
    """One run, printed as it ends."""
    name, workload, mode, workers = setup.system.name, setup.workload, setup.mode, setup.workers
    try:
        run = harness.run(setup)
    except redis.RedisError as e:  # the run's processes are stopped
        run = {
            "system": name, "workload": workload, "mode": mode, "workers": workers,
            "jobs": setup.jobs, "status": "failed", "note": f"{type(e).__name__}: {e}",
            "lost": None, "duplicates": None,
        }  # fmt: skip
    rate = f"{run['jobs_per_s']:,.0f} jobs/s" if run.get("jobs_per_s") else "-"
    if run.get("enqueue_per_s"):
        rate += f" (enqueued at {run['enqueue_per_s']:,.0f}/s)"
    if run.get("rss_mb"):
        rate += f", {run['processes']} processes {run['rss_mb']:.0f} MB"
    bad = problems(run)
    flag = f"  !! {', '.join(bad)} {run.get('note', '')}" if bad else ""
    setting = f" {run['setting']}" if "setting" in run and setup.system.by_workload else ""
    print(
        f"[{name}] {workload:4} {mode:7} x{workers}{setting}, {setup.jobs} jobs: {rate}, "
        f"lost {run['lost']}, duplicates {run['duplicates']}{flag}",
        flush=True,
    )
    return run


# How many jobs a run of a system gets: (system, workload, workers, jobs at once) -> jobs.
Sizer = Callable[[System, str, int, int], int]


def matrix(
    harness: Harness,
    ready: list[tuple[System, Path]],
    *,
    workloads: list[str],
    modes: list[str],
    workers: list[int],
    rounds: int,
    jobs: Sizer,
) -> list[dict[str, Any]]:
    """Every run, round after round; the systems interleaved (each workload and mode is
    run for every system before the next), so a slow moment of a shared machine falls
    on all of them. Each run is printed as it ends, and carries its round."""
    runs = []
    for round_ in range(1, rounds + 1):
        for count in workers:
            for workload in workloads:
                for mode in modes:
                    for system, python in ready:
                        at_once = concurrency(system, workload, harness.options)
                        n = jobs(system, workload, count, at_once)
                        setup = Setup(system, python, workload, mode, count, n)
                        run = one(harness, setup)
                        run["round"] = round_
                        runs.append(run)
    return runs


def machine(r: redis.Redis) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "redis": str(r.info("server")["redis_version"]), "platform": platform.platform(),
    }  # fmt: skip

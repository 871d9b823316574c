"""Every Redis key qwsup reads or writes is named here, and only here.

All keys share the optional namespace prefix (`[redis] namespace`, joined
with ':'). See docs/protocol.md for the contract behind each one.
"""

from __future__ import annotations

from dataclasses import dataclass

# Fields qwsup writes into a job's hash. Producer fields never start with
# this prefix (the Python API refuses them), and handlers never see them.
FIELD_PREFIX = "qwsup:"
ATTEMPTS = FIELD_PREFIX + "attempts"
STATE = FIELD_PREFIX + "state"  # queued, scheduled, running, done, failed, cancelled
ENQUEUED_AT = FIELD_PREFIX + "enqueued_at"  # unix ms (Redis clock), set by enqueue.lua
FINISHED_AT = FIELD_PREFIX + "finished_at"  # unix ms (Redis clock): done, failed, cancelled
WORKER = FIELD_PREFIX + "worker"  # the worker that took it last, <name>.<pid>
RESULT = FIELD_PREFIX + "result"  # what the handler returned (see RESULT_TYPE)
RESULT_TYPE = FIELD_PREFIX + "result_type"  # text, bytes or json; absent: None
PROGRESS = FIELD_PREFIX + "progress"  # a fraction from 0 to 1 (qwsup.progress)
PROGRESS_MSG = FIELD_PREFIX + "progress_msg"  # what the handler said with it
PROGRESS_AT = FIELD_PREFIX + "progress_at"  # unix ms (Redis clock) it was recorded
WAITED = FIELD_PREFIX + "waited"  # someone waits for its end: notify ended:<id>
LAST_ERROR = FIELD_PREFIX + "last_error"
TRACEBACK = FIELD_PREFIX + "traceback"
FAILED_AT = FIELD_PREFIX + "failed_at"  # unix seconds, when it went to failed:jobs
STARTED_AT = FIELD_PREFIX + "started_at"  # unix ms, when a worker last took it
QUEUE = FIELD_PREFIX + "queue"  # a job enqueued to start later: the queue it goes to
TASK = FIELD_PREFIX + "task"  # a task's job (qwsup.Tasks): the task's name
ARGS = FIELD_PREFIX + "args"  # and its keyword arguments, one JSON object
CANCEL = FIELD_PREFIX + "cancel"  # unix ms it was asked to stop while in a worker's list
CRON = FIELD_PREFIX + "cron"  # enqueued by a schedule ([[cron]]): its name
TICK = FIELD_PREFIX + "tick"  # and the tick, unix ms
CAPPED = FIELD_PREFIX + "capped"  # taken under its queue's concurrency limit: that queue
UNIQUE = FIELD_PREFIX + "unique"  # a unique job: its name, held until it is done
ALL = "all"  # the name of the shared queue, all:jobs


@dataclass(frozen=True)
class Keys:
    prefix: str = ""  # the namespace with its ':' separator, or ""

    @property
    def all_jobs(self) -> str:
        return f"{self.prefix}all:jobs"

    @property
    def failed_jobs(self) -> str:
        return f"{self.prefix}failed:jobs"

    @property
    def delayed_jobs(self) -> str:
        return f"{self.prefix}delayed:jobs"

    @property
    def finished_jobs(self) -> str:
        """Ids of the finished jobs kept (done, cancelled), scored by when each is to be
        removed (unix ms): what pruning reads."""
        return f"{self.prefix}finished:jobs"

    def ended(self, job_id: bytes | str) -> bytes:
        """A list that gets the job's final state when it ends, for its waiters (only
        once one registered, qwsup:waited); it expires soon after."""
        raw = job_id.encode() if isinstance(job_id, str) else job_id
        return f"{self.prefix}ended:".encode() + raw

    @property
    def leases(self) -> str:
        return f"{self.prefix}all:leases"

    @property
    def beats(self) -> str:
        """Every supervisor's name, scored by the number of its last heartbeat (the
        heartbeats' order, lib/sequence.lua): what the masters' lease watch reads."""
        return f"{self.prefix}all:beats"

    @property
    def beat_seq(self) -> str:
        """A hash whose field `seq` is the number of the last heartbeat of any supervisor."""
        return f"{self.prefix}all:beat_seq"

    @property
    def supervisors(self) -> str:
        """Every supervisor registered (its name), the set reclaims start from."""
        return f"{self.prefix}all:managers"

    @property
    def job_prefix(self) -> str:
        """What a job id is appended to for its hash; scripts that walk a list use it."""
        return f"{self.prefix}job:"

    def job(self, job_id: bytes | str) -> bytes:
        raw = job_id.encode() if isinstance(job_id, str) else job_id
        return self.job_prefix.encode() + raw

    def queue_jobs(self, name: str) -> str:
        """The queue named `name`: a supervisor's own (its name), or all:jobs ("all")."""
        return f"{self.prefix}{name}:jobs"

    def unique(self, name: str) -> str:
        """Held by the id of the one job enqueued with that unique name."""
        return f"{self.prefix}unique:{name}"

    def cancels(self, name: str) -> str:
        """Stop requests for the jobs running on supervisor `name`'s workers
        ("<worker>\t<job id>", pushed by cancel.lua), which its master blocks on."""
        return f"{self.prefix}{name}:cancels"

    @property
    def events(self) -> str:
        """The stream of job events (lib/events.lua), capped at `[events] max_len`."""
        return f"{self.prefix}all:events"

    def cron(self, name: str) -> str:
        """Schedule `name`'s record (cron.lua): the last tick handled, the last job."""
        return f"{self.prefix}all:cron:{name}"

    @property
    def paused(self) -> str:
        """The names of the paused queues (`qwsup pause`), a set every take reads."""
        return f"{self.prefix}all:paused"

    def started(self, queue: str) -> str:
        """A rate-limited queue's take times: a sorted set of "<unix ms>:<id>" scored by
        the unix ms (Redis clock), trimmed to the window by each take."""
        return f"{self.prefix}{queue}:started"

    def running(self, queue: str) -> str:
        """The ids taken from a queue with a concurrency limit and not yet finished or
        put back: a set, its size the jobs counted against the limit."""
        return f"{self.prefix}{queue}:running"

    def info(self, name: str) -> str:
        """What a supervisor's heartbeat records for `qwsup status`."""
        return f"{self.prefix}{name}:info"

    def scale(self, name: str) -> str:
        """Changes of worker counts asked of supervisor `name` (`qwsup scale`)."""
        return f"{self.prefix}{name}:scale"

    def workers(self, name: str) -> str:
        return f"{self.prefix}{name}:workers"

    def worker_jobs(self, worker_id: str) -> str:
        return f"{self.prefix}{worker_id}:jobs"


def worker_id(name: str, pid: int) -> str:
    return f"{name}.{pid}"


def split_worker_id(wid: str) -> tuple[str, int] | None:
    """`<name>.<pid>` back into its parts, or None for a member that is not one."""
    name, _, pid = wid.rpartition(".")
    return (name, int(pid)) if name and pid.isdigit() else None

"""What a freshly forked child does: become the workers' user, name itself, make its
own Redis client (never the master's), import the handler, then tell its master it is
ready and run the worker's loop (loop.py). The master hands `boot` to its children
(contract.Boot): it never imports the worker's code itself.
"""

from __future__ import annotations

import logging
import os
import random
import time

from qwsup import logs, privileges, proctitle, tracing
from qwsup.config import Config
from qwsup.contract import READY, blocks_on
from qwsup.errors import ExitCode, HandlerError
from qwsup.privileges import RunAs
from qwsup.scoreboard import MasterBoard, Scoreboard
from qwsup.store.connection import make_client
from qwsup.store.feed import Feed
from qwsup.store.keys import Keys, worker_id
from qwsup.store.queue import Queue
from qwsup.worker import current
from qwsup.worker.loop import Worker
from qwsup.worker.progress import Progress
from qwsup.worker.runner import load_handler

log = logging.getLogger(__name__)

SOCKET_TIMEOUT_S = 11.0  # a reply that takes longer: the line is lost


def boot(
    config: Config,
    status_fd: int,
    master_pid: int,
    board: Scoreboard,
    run_as: RunAs | None,
    slot: int = 0,
    master_board: MasterBoard | None = None,
) -> int:
    """Everything a freshly forked child does; returns its exit code.

    Signals arrive blocked and reset to their defaults; they are unblocked once the
    worker's own handlers are in place. The worker becomes `run_as` before anything of
    the handler's is imported.
    """
    random.seed()
    worker_id_ = worker_id(config.supervisor.name, os.getpid())
    logs.set_who(worker_id_)
    if run_as is not None:
        privileges.drop(run_as)
    proctitle.set_title(f"{proctitle.worker_prefix(worker_id_)}booting")
    # (a wait's reply is read only once it is there, feed.wait: no timeout covers BLOCK_S)
    client = make_client(config, socket_timeout=SOCKET_TIMEOUT_S)
    keys, w = Keys(config.redis.prefix()), config.workers
    keep_ms = round(w.keep_finished * 1000)
    queue = Queue(client, keys, keep_ms, config.events.max_len)
    reports = Progress(lambda batch: queue.report_progress(worker_id_, batch))
    current.install(lambda: make_client(config), cluster=config.redis.cluster, progress=reports)
    max_job_bytes = int(w.max_job_mb * 2**20)  # a bigger job hash fails unread
    feed = Feed(
        client, keys, worker_id_, config.supervisor.name, w.queues, max_job_bytes,
        blocks_on(w.queues, slot), keep_ms, config.events.max_len, config.limits(w.queues),
        traced=config.otel.enabled, starts=w.concurrency,
    )  # fmt: skip
    if config.otel.enabled:
        tracing.start()  # after the fork: the SDK's export thread is this process's own
    try:
        handler = load_handler(config.workers.handler, pythonpath=config.workers.pythonpath)
    except HandlerError as exc:
        log.error("handler %s: %s", config.workers.handler, exc)
        return ExitCode.HANDLER
    worker = Worker(
        config, queue, handler, master_pid, status_fd, board, slot, master_board, feed=feed
    )
    worker.install_signals()
    board.beat(time.monotonic())
    worker.report(READY)
    try:
        worker.run()
    finally:
        if config.otel.enabled:
            tracing.stop()  # its buffered spans sent: the worker leaves by os._exit
    return ExitCode.OK

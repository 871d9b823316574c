"""What the tests and the benchmark share: one home for each helper. Not part of the
qwsup package (nothing here ships); importable from the checkout (pytest's
pythonpath, `python -m bench` run there).

    wait.py      wait_until: poll a condition with a deadline, never a fixed sleep
    ports.py     free loopback ports
    config.py    ROOT (the checkout), write_config (a qwsup config from dicts), the ACL
                 file of conf/redis-acl.conf with the test passwords
    servers.py   the machine's redis-server binaries, a private RedisServer (unix
                 socket or loopback port), starting a server, PING, stopping what we
                 started
    cluster.py   a local Redis Cluster
    sentinel.py  a local primary, replicas and three sentinels
    browser.py   a headless Chromium (Debian's, through Selenium) for the dashboard:
                 import it from testkit.browser (Selenium is a test dependency only)

Import the names from here: `from testkit import RedisServer, wait_until`.
"""

from testkit.cluster import Cluster
from testkit.config import ACL_PASSWORDS, ROOT, acl_file, write_config
from testkit.ports import free_port, free_ports
from testkit.sentinel import SERVICE, Sentinels
from testkit.servers import RedisServer, default_binary, pings, redis_binaries, spawn, stop
from testkit.wait import wait_until

__all__ = [
    "ACL_PASSWORDS",
    "ROOT",
    "SERVICE",
    "Cluster",
    "RedisServer",
    "Sentinels",
    "acl_file",
    "default_binary",
    "free_port",
    "free_ports",
    "pings",
    "redis_binaries",
    "spawn",
    "stop",
    "wait_until",
    "write_config",
]

"""The benchmark against the peers (python -m bench.peers; docs/benchmark.md).

    __main__.py    the harness: the private redis-server, the runs, the table, the JSON
    systems.py     each system as data: how its workers start, its setting (pure)
    versions.py    the peers' pinned versions, in one place
    venvs.py       each peer's own virtualenv under .bench-venvs/
    body.py        the one job body (noop, io, cpu), run inside every system
    checks.py      lost and duplicates, the table (pure)
    entry.py       the command line of the peer modules: enqueue, worker
    with_*.py      one module per system, run with that system's interpreter

Nothing here is imported by qwsup; the peers are imported only by their with_*.py,
inside their own venvs.
"""

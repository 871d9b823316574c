"""The benchmark against the peers (python -m bench.peers; docs/benchmark.md).

    __main__.py    the command line: the matrix of every system, the table, the JSON, the chart
    harness.py     what both benchmarks share: the private redis-server, a run of a system
                   on a workload (jobs/s, lost, duplicates), the matrix, jobs in flight
    systems.py     each system as data: how its workers start, its setting, jobs at once
                   per workload (pure)
    versions.py    the peers' pinned versions, in one place
    venvs.py       each peer's own virtualenv under .bench-venvs/
    body.py        the one job body (noop, io, cpu; hold for the memory), inside every system
    checks.py      lost and duplicates, the table (pure)
    entry.py       the command line of the peer modules: enqueue, worker
    with_*.py      one module per system, run with that system's interpreter

Nothing here is imported by qwsup; the peers are imported only by their with_*.py,
inside their own venvs.
"""

# The two set-up commands of the README: `make run` and `make test`.
# Each creates the virtualenv and installs what it needs on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: run test unit lint chaos bench bench-peers bench-limits bench-web screenshots

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[embedded,test,otel]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/qwsup -c conf/workers.toml

lint: $(VENV)/.installed
	$(BIN)/ruff check qwsup tests bench testkit
	$(BIN)/ruff format --check qwsup tests bench testkit
	$(BIN)/mypy

test: lint
	scripts/system-packages
	$(BIN)/pytest

# The pure tier alone, in seconds: no redis-server, no process. A test marked redis or
# process in a module of unit tests (tests/test_config.py) is left out.
unit: $(VENV)/.installed
	$(BIN)/pytest -m "unit and not redis and not process"

# The long chaos run: jobs lost must be 0 (see the README for the last figures).
chaos: $(VENV)/.installed
	$(BIN)/python tests/chaos.py --jobs 10000 --seconds 900

# qwsup against the article's plain loop on the noop, io and cpu workloads (backlog and
# arrival, 1, 2, 4 workers, 3 runs), the goals, the worker memory per concurrent job, the
# latency: tables, bench-results/latest.json and .png. About 8 minutes on 2 CPUs.
# Options: make bench ARGS="--costs --trivial" or ARGS="--systems plain qwsup dramatiq"
# (docs/benchmark.md).
bench: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench $(ARGS)

# qwsup, the plain loop and the peers (rq, celery, huey, dramatiq, arq, saq, taskiq,
# bullmq), each peer in its own virtualenv under .bench-venvs/: bench-results/peers.json
# and peers.png.
# Options: make bench-peers ARGS="--systems qwsup rq --jobs 200" (docs/benchmark.md).
bench-peers: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.peers $(ARGS)

# Rate and concurrency limits over two masters on one Redis (README "Rate limits and
# concurrency limits"): about a minute.
bench-limits: $(VENV)/.installed
	$(BIN)/python -m bench.limits $(ARGS)

# The dashboard's pages with a million jobs queued and ten thousand failed: the median
# and slowest time of each (README, "The web dashboard").
bench-web: $(VENV)/.installed
	$(BIN)/python -m bench.web $(ARGS)

# docs/web-overview.png and docs/web-job.png (and the phone's), from a real qwsup web
# in headless Chromium (Debian's chromium and chromium-driver: scripts/system-packages).
screenshots: $(VENV)/.installed
	$(BIN)/python tests/screenshots.py docs

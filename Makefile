# The two set-up commands of the README: `make run` and `make test`.
# Each creates the virtualenv and installs exactly what uv.lock holds on a fresh machine:
# the same versions months from now. `make upgrade` moves the lock to the newest
# releases on purpose; `make test-latest` tries them without touching it.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
# uv is bootstrapped with pip at the version the lock holds (tests/test_lock.py ties the two)
UV_VERSION = 0.13.8
UV = $(BIN)/uv
EXTRAS = --extra embedded --extra otel
# uv uses the machine's Python, never one it downloads; it syncs the virtualenv named above
export UV_PYTHON_DOWNLOADS = never
export UV_PROJECT_ENVIRONMENT = $(VENV)

.PHONY: run test unit lint upgrade test-latest test-redis-lowest chaos bench bench-peers bench-limits bench-web screenshots

$(VENV)/.installed: pyproject.toml uv.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(UV) sync --locked --quiet $(EXTRAS)
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

# The lock re-resolved to the newest releases (the ranges of pyproject.toml), then the
# suite: commit uv.lock when it passes.
upgrade:
	$(MAKE) $(VENV)/.installed
	$(UV) lock --upgrade
	$(MAKE) test

# The suite against the newest releases, in a virtualenv of its own (.venv-latest),
# without touching uv.lock: drift found on purpose.
test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install --quiet uv==$(UV_VERSION)
	.venv-latest/bin/uv pip install --quiet --python .venv-latest/bin/python --upgrade \
		-e '.[embedded,otel]' --group dev
	touch .venv-latest/.installed
	$(MAKE) test VENV=.venv-latest

# The suite against the oldest redis-py that pyproject.toml's range allows (the lock holds
# the newest), in .venv-redis-lowest; lint is left out (mypy types against the lock's).
REDIS_LOWEST = 6.0.0
test-redis-lowest:
	$(MAKE) .venv-redis-lowest/.installed VENV=.venv-redis-lowest
	.venv-redis-lowest/bin/uv pip install --quiet --python .venv-redis-lowest/bin/python \
		redis==$(REDIS_LOWEST)
	scripts/system-packages
	.venv-redis-lowest/bin/pytest

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
	$(UV) sync --locked --quiet $(EXTRAS) --extra bench
	$(BIN)/python -m bench $(ARGS)

# qwsup, the plain loop and the peers (rq, celery, huey, dramatiq, arq, saq, taskiq,
# bullmq), each peer in its own virtualenv under .bench-venvs/: bench-results/peers.json
# and peers.png.
# Options: make bench-peers ARGS="--systems qwsup rq --jobs 200" (docs/benchmark.md).
bench-peers: $(VENV)/.installed
	$(UV) sync --locked --quiet $(EXTRAS) --extra bench
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

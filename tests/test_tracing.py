"""Traces (tracing.py): an enqueue's span and the job's `traceparent`, an attempt's span
continuing it, with the SDK's in-memory exporter in this process (against a real
Redis, and the real Runner); then a real master with `[otel] enabled = true` and the
console exporter: its worker's spans carry the producer's trace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from qwsup.config import parse
from qwsup.errors import ConfigError
from qwsup.produce.producer import Producer
from qwsup.store.feed import Feed
from qwsup.store.keys import Keys
from qwsup.store.records import Job
from qwsup.tracing import TRACEPARENT, Attempts
from qwsup.worker.runner import InHand, Runner
from support import Qwsup
from testkit import ROOT, RedisServer, wait_until, write_config

EXPORTER = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
trace.set_tracer_provider(_provider)  # this process's, once: what tracing.start keeps


@pytest.fixture
def spans() -> Iterator[Callable[[], list[ReadableSpan]]]:
    EXPORTER.clear()
    yield lambda: list(EXPORTER.get_finished_spans())
    EXPORTER.clear()


def traceparent(span: ReadableSpan) -> str:
    context = span.get_span_context()
    assert context is not None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


@pytest.mark.redis
def test_an_enqueue_is_a_span_whose_context_the_job_carries(
    client: redis.Redis, spans: Callable[[], list[ReadableSpan]]
) -> None:
    tracer = trace.get_tracer("the web app")
    with tracer.start_as_current_span("POST /orders") as request:
        job = Producer(client, tracing=True).enqueue({"order": "7"}, queue="mail")
    enqueue, web = spans()
    assert web.name == "POST /orders" and enqueue.name == "enqueue mail"
    assert enqueue.kind is trace.SpanKind.PRODUCER and enqueue.parent is not None
    assert enqueue.parent.span_id == request.get_span_context().span_id
    assert enqueue.attributes is not None
    assert dict(enqueue.attributes) == {
        "messaging.system": "qwsup", "messaging.destination.name": "mail",
        "messaging.operation.type": "send", "messaging.operation.name": "enqueue",
        "messaging.message.id": job,
    }  # fmt: skip
    assert client.hget(f"job:{job}", TRACEPARENT) == traceparent(enqueue).encode()


@pytest.mark.redis
def test_a_bulk_enqueue_is_one_span_and_a_producers_own_context_is_kept(
    client: redis.Redis, spans: Callable[[], list[ReadableSpan]]
) -> None:
    producer = Producer(client, tracing=True)
    ids = producer.enqueue_many([{"n": str(i)} for i in range(3)])
    [batch] = spans()
    assert batch.attributes is not None and batch.attributes["messaging.batch.message_count"] == 3
    assert {client.hget(f"job:{i}", TRACEPARENT) for i in ids} == {traceparent(batch).encode()}
    theirs = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    job = producer.enqueue({"n": "x", TRACEPARENT: theirs})
    assert client.hget(f"job:{job}", TRACEPARENT) == theirs.encode()
    plain = Producer(client).enqueue({"n": "y"})  # tracing off: no field, no span
    assert client.hget(f"job:{plain}", TRACEPARENT) is None and len(spans()) == 2


def run_traced(
    handler: Callable[[str, dict[str, str]], object], fields: dict[bytes, bytes]
) -> None:
    """A run of job j1 taken by a traced worker (take.lua adds its attempts and queue)."""
    runner = Runner(handler, "job:", 0, tracing=Attempts("default", "h.1"))
    in_hand = InHand()
    in_hand.start(time.monotonic(), b"j1")
    taken = {**fields, b"qwsup:attempts": b"2", b"qwsup:queue": b"mail"}
    runner.run(Job(b"j1", "hash", taken), in_hand)


@pytest.mark.unit
def test_an_attempt_continues_the_trace_its_job_carries(
    spans: Callable[[], list[ReadableSpan]],
) -> None:
    with trace.get_tracer("the web app").start_as_current_span("POST /orders"):
        pass
    [request] = spans()
    inner = trace.get_tracer("the handler")

    seen: list[dict[str, str]] = []

    def handler(job_id: str, data: dict[str, str]) -> None:
        seen.append(data)
        with inner.start_as_current_span("charge the card"):
            pass

    run_traced(handler, {b"order": b"7", TRACEPARENT.encode(): traceparent(request).encode()})
    assert seen == [{"order": "7", TRACEPARENT: traceparent(request)}]  # not qwsup's fields
    _, charge, attempt = spans()
    assert attempt.name == "process mail" and attempt.kind is trace.SpanKind.CONSUMER
    assert attempt.context is not None and request.context is not None
    assert attempt.context.trace_id == request.context.trace_id  # one trace
    assert attempt.parent is not None and attempt.parent.span_id == request.context.span_id
    assert charge.parent is not None and charge.parent.span_id == attempt.context.span_id
    assert attempt.attributes is not None
    assert dict(attempt.attributes) == {
        "messaging.system": "qwsup", "messaging.destination.name": "mail",
        "messaging.operation.type": "process", "messaging.operation.name": "process",
        "messaging.message.id": "j1", "qwsup.pool": "default", "qwsup.worker": "h.1",
        "qwsup.attempt": 3, "qwsup.outcome": "done",
    }  # fmt: skip
    assert attempt.status.status_code is trace.StatusCode.UNSET


@pytest.mark.unit
def test_a_failed_attempt_says_why_and_a_job_without_context_starts_a_trace(
    spans: Callable[[], list[ReadableSpan]],
) -> None:
    def handler(job_id: str, data: dict[str, str]) -> None:
        raise ValueError("no such order")

    run_traced(handler, {b"order": b"8"})
    [attempt] = spans()
    assert attempt.parent is None  # no traceparent: a trace of its own
    assert attempt.attributes is not None and attempt.attributes["qwsup.outcome"] == "raised"
    assert attempt.status.status_code is trace.StatusCode.ERROR
    assert attempt.status.description == "ValueError: no such order"


@pytest.mark.unit
def test_otel_needs_a_known_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse("c.toml", "[otel]\nenabled = true\n").otel.enabled  # the SDK is here
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin-or-so")
    with pytest.raises(ConfigError, match=r"otel\.enabled: OTEL_TRACES_EXPORTER must be"):
        parse("c.toml", "[otel]\nenabled = true\n")


@pytest.mark.process
def test_a_masters_workers_trace_each_attempt_in_the_producers_trace(
    start_qwsup: Callable[..., Qwsup], r: redis.Redis, env: dict[str, str], tmp_path: Path,
    spans: Callable[[], list[ReadableSpan]],
) -> None:  # fmt: skip
    env.update(OTEL_TRACES_EXPORTER="console", OTEL_SERVICE_NAME="shop-workers")
    qw = start_qwsup(workers={"count": 1}, otel={"enabled": True})
    qw.wait_workers(1)
    job = Producer(r, tracing=True).enqueue({"order": "9"})
    [enqueue] = spans()
    wait_until(lambda: r.llen("test:done") == 1, 20, "the job")
    qw.close()  # the worker sends its spans as it exits
    found = [s for s in _console_spans(qw.log()) if s["name"] == "process all"]
    assert len(found) == 1, qw.log()
    [attempt] = found
    assert enqueue.context is not None
    assert attempt["context"]["trace_id"] == f"0x{enqueue.context.trace_id:032x}"
    assert attempt["parent_id"] == f"0x{enqueue.context.span_id:016x}"
    assert attempt["attributes"]["messaging.message.id"] == job
    assert attempt["attributes"]["qwsup.outcome"] == "done"
    assert attempt["attributes"]["qwsup.attempt"] == 1  # as take.lua gave it
    assert attempt["attributes"]["messaging.destination.name"] == "all"
    assert attempt["resource"]["attributes"]["service.name"] == "shop-workers"


def _console_spans(log: str) -> list[dict[str, object]]:
    """The spans the console exporter printed (indented JSON objects, one after another)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (at := log.find("{\n", at)) >= 0:
        try:
            value, end = decoder.raw_decode(log, at)
        except ValueError:
            at += 1
            continue
        if isinstance(value, dict) and "context" in value:
            found.append(value)
        at = end
    return found


@pytest.mark.process
def test_qwsup_enqueue_traces_its_enqueue(tmp_path: Path, server: RedisServer) -> None:
    config = write_config(tmp_path / "c.toml", server.url, otel={"enabled": True})
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "console", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "qwsup", "-c", str(config), "enqueue", "order=10"],
        capture_output=True, text=True, timeout=30, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    job = done.stdout.split()[0]
    [span] = [s for s in _console_spans(done.stdout) if s["name"] == "enqueue all"]
    assert span["kind"] == "SpanKind.PRODUCER"
    assert span["attributes"]["messaging.message.id"] == job
    context = span["context"]
    stored = server.client().hget(f"job:{job}", TRACEPARENT)
    assert stored is not None and stored.decode().split("-")[1:3] == [
        context["trace_id"].removeprefix("0x"), context["span_id"].removeprefix("0x"),
    ]  # fmt: skip


@pytest.mark.redis
def test_a_traced_worker_takes_each_job_with_its_attempts_and_queue(client: redis.Redis) -> None:
    [job] = Producer(client).enqueue_many([{"n": "1"}], queue="mail")
    client.hset(f"job:{job}", "qwsup:attempts", 2)
    traced = Feed(client, Keys(), "h.1", "h", ("mail",), blocks_on="mail", traced=True)
    [taken] = traced.take(b"", 1).jobs
    assert taken.fields[b"qwsup:attempts"] == b"2" and taken.fields[b"qwsup:queue"] == b"mail"
    [other] = Producer(client).enqueue_many([{"n": "2"}], queue="mail")
    plain = Feed(client, Keys(), "h.2", "h", ("mail",), blocks_on="mail")
    [taken] = plain.take(b"", 1).jobs
    assert taken.id == other.encode() and set(taken.fields) == {b"n"}  # off: nothing more

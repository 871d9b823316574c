"""OpenTelemetry traces, optional (`pip install qwsup[otel]`, `[otel] enabled = true`,
or `Producer(..., tracing=True)` in an application that set up its own tracing).

A producer's enqueue is a span (kind PRODUCER) whose context goes into the job as the
field `traceparent` (and `tracestate` when there is one): W3C Trace Context, which a
producer in any language can write itself. Each attempt of a worker is a span (kind
CONSUMER) that continues that context, so one trace holds the request that enqueued
the job and every run of its handler; a job without the field starts a trace of its
own. The handler runs inside its attempt's span: its own spans are children of it.

Off (the default), nothing of OpenTelemetry is imported, and an enqueue or an attempt
costs one test of an attribute. On, qwsup sets up the SDK in each process that traces
(each worker after it is forked, the CLI) from the standard environment variables:
OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER, OTEL_EXPORTER_OTLP_*
and OTEL_TRACES_EXPORTER ("otlp", the default: OTLP over HTTP; "console"; "none"),
unless the process has a tracer provider already (an application's own).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from qwsup.errors import QwsupError

TRACEPARENT = "traceparent"  # the job field holding its enqueue's trace context
TRACESTATE = "tracestate"
SCOPE = "qwsup"
SYSTEM = "qwsup"  # messaging.system
FLUSH_MS = 2_000  # the most a worker's exit waits for its spans to be sent

_provider: Any = None  # the SDK's TracerProvider this module set up (None: none)


class TracingError(QwsupError):
    """Tracing cannot be set up as the environment asks."""


def start(service: str = "qwsup") -> None:
    """Set up the SDK in this process (once), unless it has a tracer provider already."""
    global _provider
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    if _provider is not None or isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": service}
    provider = TracerProvider(resource=Resource.create(attributes))
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    if exporter == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            raise TracingError(
                "OTEL_TRACES_EXPORTER=otlp needs opentelemetry-exporter-otlp-proto-http: "
                "pip install 'qwsup[otel]' (or set OTEL_TRACES_EXPORTER=console or none)"
            ) from None
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    elif exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider = provider


def stop() -> None:
    """Send the spans still buffered (a worker does this before it exits: it leaves
    with os._exit, past any atexit), waiting at most FLUSH_MS."""
    global _provider
    if _provider is not None:
        _provider.force_flush(timeout_millis=FLUSH_MS)  # bounded: a collector away
        _provider = None  # costs the worker at most that long


class Enqueues:
    """A producer's spans: one per enqueue call (a bulk enqueue is one span for its
    batch), its context written into each job that does not carry one already."""

    def __init__(self) -> None:
        from opentelemetry import propagate, trace

        self._tracer = trace.get_tracer(SCOPE)
        self._inject = propagate.inject
        self._kind = trace.SpanKind.PRODUCER

    @contextlib.contextmanager
    def enqueue(
        self, queue: str, jobs: list[tuple[str, dict[str, str]]]
    ) -> Iterator[list[tuple[str, dict[str, str]]]]:
        """Around the enqueue of `jobs` on `queue`: the jobs to send, with the span's
        context in their fields."""
        attributes: dict[str, Any] = {
            "messaging.system": SYSTEM, "messaging.destination.name": queue,
            "messaging.operation.type": "send", "messaging.operation.name": "enqueue",
        }  # fmt: skip
        if len(jobs) == 1:
            attributes["messaging.message.id"] = jobs[0][0]
        else:
            attributes["messaging.batch.message_count"] = len(jobs)
        with self._tracer.start_as_current_span(
            f"enqueue {queue}", kind=self._kind, attributes=attributes
        ):
            carrier: dict[str, str] = {}
            self._inject(carrier)
            yield [
                (job_id, fields if TRACEPARENT in fields else {**fields, **carrier})
                for job_id, fields in jobs
            ]


class Attempts:
    """A worker's spans: one per attempt, continuing the context its job carries."""

    def __init__(self, pool: str, worker: str) -> None:
        from opentelemetry import propagate, trace

        self._trace = trace
        self._tracer = trace.get_tracer(SCOPE)
        self._extract = propagate.extract
        self.pool, self.worker = pool, worker

    @contextlib.contextmanager
    def attempt(
        self, job_id: str, data: dict[str, str], attempt: int | None, queue: str | None
    ) -> Iterator[Any]:
        """Around one run of the handler (in the thread or task that runs it); its
        attempt and queue None when they could not be read."""
        attributes: dict[str, Any] = {
            "messaging.system": SYSTEM, "messaging.operation.type": "process",
            "messaging.operation.name": "process", "messaging.message.id": job_id,
            "qwsup.pool": self.pool, "qwsup.worker": self.worker,
        }  # fmt: skip
        if queue is not None:
            attributes["messaging.destination.name"] = queue
        if attempt is not None:
            attributes["qwsup.attempt"] = attempt
        context = self._extract({k: data[k] for k in (TRACEPARENT, TRACESTATE) if k in data})
        with self._tracer.start_as_current_span(
            f"process {queue}" if queue else "process", context=context,
            kind=self._trace.SpanKind.CONSUMER,
            attributes=attributes, record_exception=False, set_status_on_exception=False,
        ) as span:  # fmt: skip
            yield span

    def ended(self, span: Any, outcome: str, error: str | None) -> None:
        """The attempt's outcome on its span: done, failed, timed out, cancelled, or
        unreadable; an error status with the error's line when it failed (`error` not
        None)."""
        span.set_attribute("qwsup.outcome", outcome)
        if error is not None:
            status = self._trace.Status(self._trace.StatusCode.ERROR, error)
            span.set_status(status)

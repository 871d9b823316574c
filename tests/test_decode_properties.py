"""Property: whatever bytes a job hash holds, the worker hands the handler strings or
fails the job with a one-line reason; nothing else happens."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qwsup.store.keys import FIELD_PREFIX
from qwsup.store.records import Job
from qwsup.worker.runner import decode_job

pytestmark = pytest.mark.unit

names = st.one_of(st.binary(max_size=30), st.text(max_size=20).map(str.encode),
                  st.text(max_size=10).map(lambda t: (FIELD_PREFIX + t).encode()))  # fmt: skip
hashes = st.dictionaries(names, st.one_of(st.binary(max_size=50), st.text().map(str.encode)))


@settings(max_examples=500, deadline=None)
@given(hashes, st.text(max_size=30), st.sampled_from(["hash", "none", "string", "list"]))
def test_job_data_is_strings_or_a_one_line_reason(
    fields: dict[bytes, bytes], job_id: str, kind: str
) -> None:
    data, problem = decode_job(Job(job_id.encode(), kind, fields), "job:" + job_id)
    if problem is not None:
        assert data == {} and "\n" not in problem and "\r" not in problem
        return
    assert kind == "hash"
    producer_fields = {
        k.decode(): v.decode() for k, v in fields.items() if not k.startswith(FIELD_PREFIX.encode())
    }
    assert data == producer_fields
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in data.items())

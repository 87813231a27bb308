"""Zero 5xx: every operation of the app's own OpenAPI document, fuzzed in process.

Schemathesis draws requests that fit the document; the harness then gives some of the
operation's path and query parameters and body fields hostile values (tests/fuzz/
hostile.py). Whatever comes back must be below 500. Operations are read from
/openapi.json, so a route added tomorrow is fuzzed from its first day.

`make test` runs FUZZ_EXAMPLES (default 25) examples per operation, derandomized, so
every run sends the same requests; `make fuzz` runs many more.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core import NOT_SET

from candlelab.web.app import create_app
from tests.fuzz.hostile import mutated, path_text, path_value, query_text

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
# The document is the same whatever database the app is over; this one is never reached.
DOCUMENT = create_app("postgresql://fuzz@127.0.0.1:1/none").openapi()
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
OPERATIONS = sorted((path, method.upper()) for path, methods in DOCUMENT["paths"].items()
                    for method in methods)  # fmt: skip
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                suppress_health_check=list(HealthCheck))  # fmt: skip


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_no_operation_answers_5xx_to_hostile_input(
    signed_in: TestClient, path: str, method: str
) -> None:
    spec = DOCUMENT["paths"][path][method.lower()]

    @FUZZ
    @given(case=SCHEMA[path][method].as_strategy(), data=st.data())
    def attack(case: Any, data: st.DataObject) -> None:
        request = _request(case, spec, data)
        answer = signed_in.request(**request)
        assert answer.status_code < 500, (request, answer.text[:500])

    attack()


def _request(case: Any, spec: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """The case as a request, some of its parameters and fields made hostile."""
    params = {p["name"]: p for p in spec.get("parameters", [])}
    ids = {n: data.draw(path_value(p["schema"]), label=n) for n, p in params.items()
           if p["in"] == "path"}  # fmt: skip
    # One or two of the query parameters and top-level body fields are made hostile.
    schemas = {("query", n): p["schema"] for n, p in params.items() if p["in"] == "query"}
    values = {("query", n): v for n, v in case.query.items()}
    body = case.body
    if isinstance(body, dict):
        schemas |= {("body", n): field for n, field in _fields(spec).items()}
        values |= {("body", n): v for n, v in body.items()}
    values = mutated(values, schemas, data)
    url = case.path.format(**{n: path_text(v) for n, v in ids.items()})
    query = {n: query_text(v) for (place, n), v in values.items() if place == "query"}
    request: dict[str, Any] = {"method": case.method, "url": url, "params": query}
    if body is not NOT_SET:
        if isinstance(body, dict):
            body = {n: v for (place, n), v in values.items() if place == "body"}
        # json.dumps writes NaN and Infinity, which a careless client may send
        request["content"] = json.dumps(body).encode()
        request["headers"] = {"Content-Type": "application/json"}
    return request


def _fields(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The body's top-level fields and their schemas, from the document's components."""
    schema = spec["requestBody"]["content"]["application/json"]["schema"]
    while "$ref" in schema:
        schema = DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return dict(schema.get("properties", {}))

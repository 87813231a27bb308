"""Zero 5xx: every operation of the app's own OpenAPI document, fuzzed in process.

Operations are read from /openapi.json, so a route added tomorrow is fuzzed from its
first day, two ways:
- a sweep: from the simplest request schemathesis finds for the operation, each query
  parameter and top-level body field takes, in turn, every hostile value of its kind
  (tests/fuzz/hostile.py), on the rows behind REAL_IDS (a time on each of them);
- an attack: schemathesis draws requests that fit the document, and one or two of their
  parameters and fields are made hostile; FUZZ_EXAMPLES (default 15) examples per
  operation, derandomized, so every run of `make test` sends the same requests.
  `make fuzz` runs many more.
Whatever comes back must be below 500.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from schemathesis.core import NOT_SET

from candlelab.web.app import create_app
from tests.fuzz.hostile import (
    EVERYTHING,
    KINDS,
    REAL_IDS,
    kind,
    mutated,
    path_text,
    path_value,
    query_text,
)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
# The document is the same whatever database the app is over; this one is never reached.
DOCUMENT = create_app("postgresql://fuzz@127.0.0.1:1/none").openapi()
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
OPERATIONS = sorted((path, method.upper()) for path, methods in DOCUMENT["paths"].items()
                    for method in methods)  # fmt: skip
NAMES = [f"{m} {p}" for p, m in OPERATIONS]
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                suppress_health_check=list(HealthCheck))  # fmt: skip
# The first request drawn, not shrunk: shrinking a body takes seconds.
SIMPLEST = settings(database=None, derandomize=True, phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck))  # fmt: skip
Place = tuple[str, str]  # ("query" or "body", name)


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=NAMES)
def test_every_parameter_takes_every_hostile_value_of_its_kind_without_a_5xx(
    signed_in: TestClient, path: str, method: str
) -> None:
    spec = DOCUMENT["paths"][path][method.lower()]
    simplest = find(SCHEMA[path][method].as_strategy(), lambda _: True, settings=SIMPLEST)
    schemas, values = _hostile_places(simplest, spec)
    values |= {p: REAL_IDS[-1] for p in schemas if p[1].endswith("_id")}  # rows that exist
    fills = list(_real_ids(spec))
    for place, schema in schemas.items():
        for n, value in enumerate(KINDS.get(kind(schema), EVERYTHING)):
            # A time is tried on every chart (each has its calendar); any other value
            # on the rows behind REAL_IDS in turn.
            for ids in fills if kind(schema) == "date-time" else [fills[n % len(fills)]]:
                request = _request(simplest, ids, values | {place: value})
                answer = signed_in.request(**request)
                assert answer.status_code < 500, (request, answer.text[:500])


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=NAMES)
def test_no_operation_answers_5xx_to_hostile_input(
    signed_in: TestClient, path: str, method: str
) -> None:
    spec = DOCUMENT["paths"][path][method.lower()]
    paths = {p["name"]: p["schema"] for p in spec.get("parameters", []) if p["in"] == "path"}

    @FUZZ
    @given(case=SCHEMA[path][method].as_strategy(), data=st.data())
    def attack(case: Any, data: st.DataObject) -> None:
        ids = {name: data.draw(path_value(schema), label=name) for name, schema in paths.items()}
        schemas, values = _hostile_places(case, spec)
        request = _request(case, ids, mutated(values, schemas, data))
        answer = signed_in.request(**request)
        assert answer.status_code < 500, (request, answer.text[:500])

    attack()


def _hostile_places(case: Any, spec: dict[str, Any]) -> tuple[dict[Place, Any], dict[Place, Any]]:
    """The query parameters and top-level body fields of an operation (their schemas),
    and the case's values for them."""
    params = spec.get("parameters", [])
    schemas = {("query", p["name"]): p["schema"] for p in params if p["in"] == "query"}
    values = {("query", n): v for n, v in case.query.items()}
    if isinstance(case.body, dict):
        schemas |= {("body", n): field for n, field in _fields(spec).items()}
        values |= {("body", n): v for n, v in case.body.items()}
    return schemas, values


def _real_ids(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every way of filling the operation's path parameters with REAL_IDS."""
    names = [p["name"] for p in spec.get("parameters", []) if p["in"] == "path"]
    for ids in itertools.product(REAL_IDS, repeat=len(names)):
        yield dict(zip(names, ids, strict=True))


def _request(case: Any, ids: dict[str, Any], values: dict[Place, Any]) -> dict[str, Any]:
    """The case as a request, with these path parameters, query parameters and fields."""
    url = case.path.format(**{n: path_text(v) for n, v in ids.items()})
    query = {n: query_text(v) for (place, n), v in values.items() if place == "query"}
    request: dict[str, Any] = {"method": case.method, "url": url, "params": query}
    body = case.body
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

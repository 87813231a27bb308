from __future__ import annotations

from pathlib import Path

import candlelab
from candlelab.store.queries import load_queries

PACKAGE = Path(candlelab.__file__).parent


def test_a_query_file_is_split_into_named_queries(tmp_path: Path) -> None:
    (tmp_path / "things.sql").write_text(
        "-- first_query --\n-- What it does.\nSELECT 1;\n\n"
        "-- second_query --\n-- Another.\nSELECT %(x)s\nFROM t;\n"
    )
    queries = load_queries(str(tmp_path / "things.py"))
    assert queries == {"first_query": "SELECT 1", "second_query": "SELECT %(x)s\nFROM t"}


def test_every_shipped_query_is_used_by_its_module() -> None:
    for sql_file in PACKAGE.rglob("*.sql"):
        module = sql_file.with_suffix(".py").read_text()
        for name in load_queries(str(sql_file)):
            assert f'"{name}"' in module, f"{sql_file.name}: {name} is never run"


def test_every_query_has_a_description() -> None:
    for sql_file in PACKAGE.rglob("*.sql"):
        text = sql_file.read_text().splitlines()
        for index, line in enumerate(text):
            if line.startswith("-- ") and line.endswith(" --"):
                assert text[index + 1].startswith("-- "), f"{sql_file.name}: {line} undescribed"

"""The NumPy-built COPY payload reads back exactly, NULLs included; the server's binary COPY
output is read field by field."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from candlelab.store.binary_copy import (
    CopyColumn,
    binary_copy_buffer,
    binary_copy_chunks,
    copied_rows,
    not_null,
)
from candlelab.store.database import Connection


def test_values_and_nulls_survive_a_binary_copy(conn: Connection) -> None:
    conn.execute("CREATE TEMP TABLE t (id bigint, at timestamptz, x double precision, n bigint)")
    ids = np.arange(5, dtype=np.int64)
    times = np.array(
        ["1999-12-31T23:59:59.5", "2000-01-01", "2024-02-29T12:00", "2038-01-20", "1970-01-01"],
        dtype="datetime64[us]",
    )
    x = np.array([1.5, -0.0, 1e300, 3.25, 7.0])
    n = np.array([10, 20, 30, 40, 50], dtype=np.int64)
    payload = binary_copy_buffer(
        [
            CopyColumn("bigint", ids),
            CopyColumn("timestamptz", times),
            CopyColumn("double precision", x, nulls=np.array([False, True, False, False, True])),
            CopyColumn("bigint", n, nulls=np.array([True, False, False, True, False])),
        ]
    )
    with conn.cursor().copy("COPY t FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(payload)
    rows = conn.execute("SELECT * FROM t ORDER BY id").fetchall()
    assert rows == [
        (0, datetime(1999, 12, 31, 23, 59, 59, 500000, tzinfo=UTC), 1.5, None),
        (1, datetime(2000, 1, 1, tzinfo=UTC), None, 20),
        (2, datetime(2024, 2, 29, 12, tzinfo=UTC), 1e300, 30),
        (3, datetime(2038, 1, 20, tzinfo=UTC), 3.25, None),
        (4, datetime(1970, 1, 1, tzinfo=UTC), None, 50),
    ]


def test_the_payload_in_chunks_is_the_payload_in_one_piece() -> None:
    values = np.arange(10, dtype=np.int64)
    nulls = values % 3 == 0
    columns = [CopyColumn("bigint", values), CopyColumn("double precision", values * 1.5, nulls)]
    assert b"".join(binary_copy_chunks(columns, rows=4)) == binary_copy_buffer(columns)


def test_the_servers_binary_copy_reads_back_field_by_field(conn: Connection) -> None:
    query = ("COPY (SELECT i::bigint, CASE WHEN i % 2 = 0 THEN NULL ELSE repeat('ab', i)::bytea "
             "END, float8send(i / 4.0) FROM generate_series(1, 5) AS i ORDER BY i) "
             "TO STDOUT (FORMAT BINARY)")  # fmt: skip
    with conn.cursor().copy(query) as copy:
        rows = [[bytes(f) if f is not None else None for f in row] for row in copied_rows(copy)]
    assert [int.from_bytes(r[0] or b"", "big") for r in rows] == [1, 2, 3, 4, 5]
    assert [r[1] for r in rows] == [b"ab", None, b"ababab", None, b"ab" * 5]
    assert [np.frombuffer(r[2] or b"", ">f8")[0] for r in rows] == [0.25, 0.5, 0.75, 1.0, 1.25]


def test_rows_read_from_chunks_of_several_rows_but_not_from_a_cut_row() -> None:
    values = np.arange(6, dtype=np.int64)
    columns = [CopyColumn("bigint", values), CopyColumn("double precision", values * 1.5,
                                                          values % 4 == 1)]  # fmt: skip
    rows = list(copied_rows(binary_copy_chunks(columns, rows=4)))
    assert [int.from_bytes(r[0] or b"", "big") for r in rows] == values.tolist()
    assert [r[1] is None for r in rows] == (values % 4 == 1).tolist()
    assert not_null(rows[0]) == rows[0]
    with pytest.raises(ValueError, match="NULL"):
        not_null(rows[1])
    payload = binary_copy_buffer(columns)
    with pytest.raises(ValueError, match="cut across chunks"):
        list(copied_rows([payload[:30], payload[30:]]))
    with pytest.raises(ValueError, match="header"):
        list(copied_rows([payload[1:]]))

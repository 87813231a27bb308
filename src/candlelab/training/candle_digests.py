"""The digest of a training set's candles over whole charts, from its blocks' hash sums.

Every feature block stores, beside its candles, the sums (mod 2^64) of two 64-bit hashes
of each of its bars' open time and OHLCV (`feature_blocks.candles_hash`, store/schema.py).
A sum does not depend on how a chart's bars are cut into blocks, so the digest is that of
each chart's bar count and sums: it changes when any bar of the charts does (its open or
a value), and is the same for the same bars whether they were built at once, appended to,
or cut and rebuilt. A training read takes 16 bytes a block instead of the candles.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from candlelab.store.database import Connection
from candlelab.store.queries import load_queries
from candlelab.training.barriers import Ints

QUERIES = load_queries(__file__)
LANES = 2  # the sums of the hashes under seeds 1 and 2, big-endian int64s


def candles_digest(chart_id: Ints, bars: Ints, hashes: Sequence[bytes]) -> str:
    """The digest of blocks given by chart (sorted), bars and hash sums: per chart, its
    id, bar count and sums (mod 2^64), hashed."""
    digest = hashlib.sha256()
    if len(chart_id):
        sums = np.frombuffer(b"".join(hashes), ">u8").reshape(-1, LANES)
        charts, firsts = np.unique(chart_id, return_index=True)
        per_chart = [charts, np.add.reduceat(bars, firsts)]
        per_chart += [np.add.reduceat(sums[:, lane], firsts) for lane in range(LANES)]
        digest.update(np.column_stack(per_chart).astype("<u8").tobytes())
    return digest.hexdigest()


def stored_candles_digest(conn: Connection, set_id: int, chart_ids: Sequence[int]) -> str:
    """The digest of the set's blocks on the charts as the store holds them now; a block
    without candles (its build gone stale) is hashed from the candles table."""
    params = {"set_id": set_id, "chart_ids": list(chart_ids)}
    rows = conn.execute(QUERIES["block_hashes"], params).fetchall()
    chart_id = np.array([r[0] for r in rows], dtype=np.int64)
    bars = np.array([r[1] for r in rows], dtype=np.int64)
    return candles_digest(chart_id, bars, [bytes(r[2]) for r in rows])

"""The names of the candle file formats, and how a value from a file is quoted back.

Apart from `candle_files` (pandas, Polars, Arrow) so that the command line can list the
formats in its help and quote a bad option without importing the readers.
"""

from __future__ import annotations

from candlelab.errors import cut

FORMATS = ("csv", "tsv", "parquet", "binance", "yahoo")
SHOWN = 100  # characters of a value quoted back in a message


def shown(value: object, limit: int = SHOWN) -> str:
    """A value as quoted back to the user: at most `limit` characters, cut with "…"."""
    return cut(str(value), limit - 1)

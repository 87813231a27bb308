"""Every format reads into the same shape: standard column names, and the line of each row."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from candlelab.errors import InputError
from candlelab.market.candle_files import raw_from_frame, read_candle_file

FIXTURES = Path(__file__).parent.parent / "fixtures" / "candles"
HEADER = "Timestamp,O,H,L,C,Vol\n"
ROW = "2024-01-01T00:00:00Z,1,2,0.5,1.5,10\n"


def read_one(path: Path, fmt: str | None = None) -> pl.DataFrame:
    (raw,) = read_candle_file(path, fmt)
    return raw.frame


def test_headers_are_recognised_by_their_usual_names(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(HEADER + ROW)
    frame = read_one(path)
    assert frame.columns == ["time", "open", "high", "low", "close", "volume", "line"]
    assert frame.row(0) == ("2024-01-01T00:00:00Z", "1", "2", "0.5", "1.5", "10", 2)


def test_tsv_gzip_and_zip_read_the_same(tmp_path: Path) -> None:
    (tmp_path / "a.tsv").write_text((HEADER + ROW).replace(",", "\t"))
    with gzip.open(tmp_path / "b.csv.gz", "wt") as handle:
        handle.write(HEADER + ROW)
    with zipfile.ZipFile(tmp_path / "c.zip", "w") as archive:
        archive.writestr("inner.csv", HEADER + ROW)
    frames = [read_one(tmp_path / name) for name in ("a.tsv", "b.csv.gz", "c.zip")]
    assert frames[0].equals(frames[1])
    assert frames[0].equals(frames[2])


def test_binance_klines_are_recognised_without_a_header() -> None:
    (raw,) = read_candle_file(FIXTURES / "BTCUSDT-1h-2025-01.zip")
    assert raw.format == "binance"
    assert raw.name.endswith("BTCUSDT-1h-2025-01.zip:BTCUSDT-1h-2025-01.csv")
    assert {"trades", "taker_buy_volume", "quote_volume"} <= set(raw.frame.columns)
    assert raw.frame["line"].to_list() == [1, 2, 3, 4, 5, 6]


def test_yahoo_files_keep_their_null_rows_for_validation() -> None:
    (raw,) = read_candle_file(FIXTURES / "yahoo_AAPL_1d.csv")
    assert raw.format == "yahoo"
    assert "Adj Close" not in raw.frame.columns
    null_row = raw.frame.filter(pl.col("line") == 11)
    assert null_row["open"].to_list() == [None]


def test_parquet_keeps_its_types(tmp_path: Path) -> None:
    pl.DataFrame(
        {"open_time": [1704067200000], "open": [1.0], "high": [2.0], "low": [0.5],
         "close": [1.5], "volume": [10.0]}
    ).write_parquet(tmp_path / "a.parquet")  # fmt: skip
    frame = read_one(tmp_path / "a.parquet")
    assert frame.schema["time"] == pl.Int64
    assert frame.schema["open"] == pl.Float64


def test_frames_from_pandas_polars_and_arrow_read_alike() -> None:
    data = {"time": ["2024-01-01T00:00:00Z"], "open": [1.0], "high": [2.0], "low": [0.5],
            "close": [1.5], "volume": [10.0]}  # fmt: skip
    indexed = pd.DataFrame(data).set_index(pd.DatetimeIndex(["2024-01-01T00:00:00Z"]))
    indexed = indexed.drop(columns="time")
    indexed.index.name = "Date"
    frames = [
        raw_from_frame(pl.DataFrame(data)).frame,
        raw_from_frame(pd.DataFrame(data)).frame,
        raw_from_frame(pa.table(data)).frame,
        raw_from_frame(indexed).frame,
    ]
    assert all(
        f.columns == ["time", "open", "high", "low", "close", "volume", "line"] for f in frames
    )


def test_a_file_without_a_close_column_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("time,open,high,low,volume\n2024-01-01,1,2,0.5,10\n")
    with pytest.raises(InputError, match=r"bad.csv: no column for close in the header"):
        read_one(path)


def test_an_unknown_format_or_unreadable_zip_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    path.write_text("not a zip")
    with pytest.raises(InputError, match="cannot read it"):
        read_one(path)
    with pytest.raises(InputError, match="unknown format 'xlsx'"):
        read_one(path, "xlsx")


def test_a_binance_file_with_a_header_row_is_read_by_its_header(tmp_path: Path) -> None:
    header = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,"
              "taker_buy_volume,taker_buy_quote_volume,ignore\n")  # fmt: skip
    body = (FIXTURES / "BTCUSDT-1h-2024-12.csv").read_text()
    path = tmp_path / "with-header.csv"
    path.write_text(header + body)
    (raw,) = read_candle_file(path, "binance")
    assert raw.format == "binance"
    assert raw.frame.height == 6
    assert raw.frame["line"][0] == 2
    assert raw.frame["trades"][0] == "300"


def test_a_headerless_file_of_six_columns_reads_them_in_the_usual_order(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    path.write_text("1704067200,1,2,0.5,1.5,10,ignored\n")
    frame = read_one(path)
    assert frame.columns == ["time", "open", "high", "low", "close", "volume", "line"]


def pandas_candles(index: pd.DatetimeIndex) -> pd.DataFrame:
    """Candles as most people hold them: a pandas frame indexed by time, capitalised names."""
    close = [100.0 + i for i in range(len(index))]
    return pd.DataFrame(
        {"Open": close, "High": [c + 1 for c in close], "Low": [c - 1 for c in close],
         "Close": close, "Volume": [10.0] * len(index)},
        index=index,
    )  # fmt: skip


PANDAS_INDEXES = {
    "daily": pd.date_range("2024-01-01", periods=5, freq="D"),
    "daily in New York": pd.date_range("2024-01-01", periods=5, freq="D", tz="America/New_York"),
    "hourly in UTC": pd.date_range("2024-03-09 22:00", periods=5, freq="h", tz="UTC"),
    "minutes, naive": pd.date_range("2024-03-10 01:58", periods=5, freq="min"),
}


@pytest.mark.parametrize("kind", PANDAS_INDEXES)
def test_a_csv_written_by_pandas_reads_its_index_as_the_time(tmp_path: Path, kind: str) -> None:
    frame = pandas_candles(PANDAS_INDEXES[kind])
    frame.to_csv(tmp_path / "a.csv")
    frame.to_csv(tmp_path / "b.csv.gz")
    assert (tmp_path / "a.csv").read_text().startswith(",Open,High,Low,Close,Volume\n")
    for name in ("a.csv", "b.csv.gz"):
        read = read_one(tmp_path / name)
        assert read.columns == ["time", "open", "high", "low", "close", "volume", "line"]
        written = pd.read_csv(tmp_path / name, dtype=str).iloc[:, 0].tolist()
        assert read["time"].to_list() == written


def test_a_csv_whose_index_has_another_name_is_refused_naming_the_header(
    tmp_path: Path,
) -> None:
    pandas_candles(PANDAS_INDEXES["daily"].rename("bar_open")).to_csv(tmp_path / "a.csv")
    with pytest.raises(InputError, match=r"no column for time in the header \(bar_open, Open"):
        read_one(tmp_path / "a.csv")


@pytest.mark.parametrize("kind", PANDAS_INDEXES)
@pytest.mark.parametrize("index_name", [None, "bar_open", "Date"])
def test_a_parquet_written_by_pandas_reads_its_index_as_the_time(
    tmp_path: Path, kind: str, index_name: str | None
) -> None:
    index = PANDAS_INDEXES[kind].rename(index_name)
    pandas_candles(index).to_parquet(tmp_path / "a.parquet")
    read = read_one(tmp_path / "a.parquet")
    assert list(read["time"].to_pandas()) == list(index)
    assert read.columns == ["time", "open", "high", "low", "close", "volume", "line"]


def test_a_pandas_row_number_index_is_not_taken_for_the_time(tmp_path: Path) -> None:
    pandas_candles(PANDAS_INDEXES["daily"]).reset_index(drop=True).to_csv(tmp_path / "a.csv")
    with pytest.raises(InputError, match="no column for time"):
        read_one(tmp_path / "a.csv")


def test_a_csv_read_back_by_pandas_keeps_its_unnamed_index_column(tmp_path: Path) -> None:
    frame = pandas_candles(PANDAS_INDEXES["hourly in UTC"])
    frame.to_csv(tmp_path / "a.csv")
    pd.read_csv(tmp_path / "a.csv").to_csv(tmp_path / "b.csv", index=False)  # "Unnamed: 0"
    assert (tmp_path / "b.csv").read_text().startswith("Unnamed: 0,")
    assert read_one(tmp_path / "b.csv")["time"].to_list() == [str(t) for t in frame.index]


def test_a_column_named_like_a_time_wins_over_the_index(tmp_path: Path) -> None:
    frame = pandas_candles(PANDAS_INDEXES["daily"]).rename_axis("when")
    frame.insert(0, "Date", [f"2023-06-0{i + 1}" for i in range(len(frame))])
    frame.to_csv(tmp_path / "a.csv")
    assert read_one(tmp_path / "a.csv")["time"].to_list()[0] == "2023-06-01"

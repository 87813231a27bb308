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
from candlelab.market import candle_files
from candlelab.market.candle_files import Limits, raw_from_frame, read_candle_file

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


def refusal(path: Path, fmt: str | None = None, **kwargs: object) -> str:
    """The one-line error reading `path` gives."""
    with pytest.raises(InputError) as caught:
        list(read_candle_file(path, fmt, **kwargs))  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("twin", ["close", "Close", "last", "c"])
def test_a_header_naming_a_column_twice_is_refused_naming_both(tmp_path: Path, twin: str) -> None:
    path = tmp_path / "twice.csv"
    path.write_text(f"time,open,high,low,close,{twin}\n2024-01-01,1,2,0.5,1.5,1.6\n")
    assert f"twice.csv: the columns 'close' and '{twin}' both name close" in refusal(path)


def test_a_header_only_csv_reads_as_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text(HEADER)
    assert read_one(path).height == 0


def gzip_bomb(path: Path, size: int) -> Path:
    with gzip.open(path, "wb") as handle:
        handle.write(HEADER.encode() + b"0" * size)
    return path


def test_a_gzip_bomb_stops_at_the_limit_naming_the_file_and_the_limit(tmp_path: Path) -> None:
    bomb = gzip_bomb(tmp_path / "bomb.csv.gz", 50_000_000)
    assert bomb.stat().st_size < 100_000
    message = refusal(bomb, limits=Limits(max_expanded=1_000_000))
    assert message.startswith(f"{bomb}: expands to more than 1,000,000 bytes, the limit")


def test_a_zip_bomb_stops_at_the_limit_over_all_its_members(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        for index in range(3):  # each under the limit, together over it
            archive.writestr(f"m{index}.csv", HEADER + ROW * 10_000)
    message = refusal(bomb, limits=Limits(max_expanded=len(HEADER + ROW * 25_000)))
    assert f"{bomb}:m2.csv: expands to more than" in message


def test_a_ten_megabyte_line_is_refused_quickly_without_being_echoed(tmp_path: Path) -> None:
    path = tmp_path / "line.csv"
    path.write_text(HEADER + ROW + "x" * 10_000_000 + "\n" + ROW)
    message = refusal(path)
    assert message == f"{path}: line 3 is longer than 65,536 bytes, the limit; refused"


def test_a_million_column_header_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(1_000_000)) + "\n" + ROW)
    assert "wide.csv: line 1 is longer than 65,536 bytes" in refusal(path)
    narrow = tmp_path / "narrow.csv"  # short names: under the line limit, over the columns'
    narrow.write_text(",".join("c" for _ in range(1000)) + "\n" + ROW)
    assert refusal(narrow) == f"{narrow}: line 1 has 1,000 columns, more than the limit of 64"


def test_a_badly_quoted_csv_is_one_line_with_its_line_number(tmp_path: Path) -> None:
    path = tmp_path / "quoted.csv"
    path.write_text(HEADER + ROW + '2024-01-01T01:00:00Z,"1,2,0.5,1.5,10\n' + ROW)
    assert refusal(path) == (
        f'{path}: line 3: not readable as CSV: a quote (") is not closed on its line'
    )


def test_unreadable_files_are_one_line_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(HEADER + ROW)
    (tmp_path / "fake.parquet").write_text(HEADER + ROW)
    (tmp_path / "corrupt.parquet").write_bytes(b"PAR1" + b"\0" * 100 + b"PAR1")
    (tmp_path / "corrupt.csv.gz").write_bytes(gzip.compress((HEADER + ROW).encode())[:-12])
    (tmp_path / "text.csv.gz").write_text("secret first line\n")
    cases = {
        "fake.parquet": (None, "not a readable Parquet file"),
        "corrupt.parquet": (None, "not a readable Parquet file"),
        "a.csv": ("parquet", "not a readable Parquet file"),
        "corrupt.csv.gz": (None, "cannot read it: it is cut short"),
        "text.csv.gz": (None, "cannot read it: not gzip data"),
    }
    for name, (fmt, reason) in cases.items():
        message = refusal(tmp_path / name, fmt)
        assert message.startswith(f"{tmp_path / name}: {reason}"), message
        assert "secret" not in message
    assert refusal(tmp_path) == f"{tmp_path}: is a directory, not a file"


def test_errors_name_the_file_by_its_display_name(tmp_path: Path) -> None:
    path = tmp_path / "tmpx8y7.csv"
    path.write_text("time,open,high,low,volume\n2024-01-01,1,2,0.5,10\n")
    message = refusal(path, name="my upload.csv")
    assert message.startswith("my upload.csv: no column for close")
    assert "tmpx8y7" not in message
    path.write_text(HEADER + ROW)
    (raw,) = read_candle_file(path, name="my upload.csv")
    assert raw.name == "my upload.csv"


def test_a_big_csv_comes_in_chunks_with_the_same_rows_and_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(HEADER + "".join(ROW.replace("00:00:00", f"{i // 3600:02d}:{i // 60 % 60:02d}"
                                      f":{i % 60:02d}") for i in range(20_000)))  # fmt: skip
    (whole,) = read_candle_file(path)
    assert not whole.streamed
    monkeypatch.setattr(candle_files, "CHUNK_BYTES", 16384)
    (raw,) = read_candle_file(path)
    chunks = list(raw.chunks())
    assert raw.streamed
    assert len(chunks) > 10
    assert pl.concat(chunks).equals(whole.frame)
    assert whole.frame["line"].to_list() == list(range(2, 20_002))


def test_a_big_parquet_comes_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    n = 1000
    pl.DataFrame({"time": range(n), "open": [1.0] * n, "high": [2.0] * n, "low": [0.5] * n,
                  "close": [1.5] * n}).write_parquet(tmp_path / "a.parquet")  # fmt: skip
    monkeypatch.setattr(candle_files, "CHUNK_ROWS", 300)
    (raw,) = read_candle_file(tmp_path / "a.parquet")
    chunks = list(raw.chunks())
    assert raw.streamed
    assert [c.height for c in chunks] == [300, 300, 300, 100]
    assert pl.concat(chunks)["line"].to_list() == list(range(1, n + 1))


def test_a_gzip_damaged_past_its_first_chunk_is_one_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = "".join(f"2024-01-01T00:00:00Z,1,2,0.5,1.5,{i}\n" for i in range(200_000)).encode()
    path = tmp_path / "late.csv.gz"
    path.write_bytes(gzip.compress(HEADER.encode() + body)[:-2000])
    monkeypatch.setattr(candle_files, "CHUNK_BYTES", 64 << 10)
    (raw,) = read_candle_file(path)
    with pytest.raises(InputError, match=r"late\.csv\.gz: cannot read it: it is cut short"):
        list(raw.chunks())

"""Every error candlelab raises on purpose, grouped by what the caller must do.

- `OperationalError`: a person must act (fix a setting, start a server, free a directory).
- `TemporaryError`: nothing is wrong with the request; trying again may succeed.
- `DataError`: the data handed in breaks a rule of the schema.

Each class's docstring is its default message. A message quotes what it was given
through `cut` or `quoted`: a 10 MB value never comes back whole.
"""

SHOWN = 100  # characters of a value an error message quotes


def cut(text: str, limit: int = SHOWN) -> str:
    """`text` cut to its first `limit` characters and "…" when it is longer."""
    return text if len(text) <= limit else text[:limit] + "…"


def quoted(value: str, limit: int = SHOWN) -> str:
    """A value as a message quotes it: repr'd (control characters visible), then cut."""
    return cut(repr(value), limit)


class CandlelabError(Exception):
    """candlelab failed."""

    exit_code = 1

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class OperationalError(CandlelabError):
    """candlelab cannot run until something around it is fixed."""


class ConfigError(OperationalError):
    """A setting is invalid."""

    exit_code = 2


class HomeError(OperationalError):
    """CANDLELAB_HOME cannot be used."""


class DatabaseUnavailable(OperationalError):
    """The database cannot be reached."""


class EmbeddedServerError(OperationalError):
    """The embedded PostgreSQL server failed."""


class SchemaOutOfDate(OperationalError):
    """The database schema is not the one this candlelab expects; run `candlelab db upgrade`."""


class ProviderUnavailable(OperationalError):
    """A market data provider did not answer, even after retries."""


class ProviderRefused(OperationalError):
    """A market data provider refused the request (an unknown symbol, a wrong interval)."""


class TemporaryError(CandlelabError):
    """The database asked us to retry."""


class DataError(CandlelabError):
    """The data breaks a rule of the schema."""


class AlreadyExists(DataError):
    """A row with the same key already exists."""


class ChartExists(AlreadyExists):
    """A chart with this symbol, timeframe and source already exists."""


class DuplicateCandle(AlreadyExists):
    """A candle at this time already exists in this chart."""


class LabelExists(AlreadyExists):
    """A label or annotation type with this name or hotkey already exists."""


class RunExists(AlreadyExists):
    """A training run with this run id already exists."""


class InvalidCandle(DataError):
    """A candle breaks OHLC consistency (low <= open, close <= high) or has negative volume."""


class InvalidSpan(DataError):
    """A span ends before it starts, or its source, status or confidence is invalid."""


class InvalidValue(DataError):
    """A value is outside what its column allows."""


class UnknownReference(DataError):
    """A row refers to a missing chart, label type, run or signal, or is still referred to."""


class InvalidFeature(DataError):
    """A feature definition is invalid; nothing was written."""


class InvalidTarget(DataError):
    """A target definition is invalid; nothing was written."""


class DatasetError(DataError):
    """A training set cannot be made from the data asked for; nothing was recorded."""


class TrainingFailed(DataError):
    """A training run started and failed; it is recorded as failed with this error."""


class InputError(DataError):
    """An input file cannot be read as candles."""


class FileRefused(DataError):
    """An input file was refused as a whole; nothing of it was written."""


class ImportRefused(DataError):
    """A legacy import was refused; nothing was written."""


class ConflictingBars(DataError):
    """Bars in the input differ from bars already stored (--on-conflict error)."""


class InvalidField(DataError):
    """A field of a request breaks a rule: named, with the value, for the one who sent it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.reason = field, message


class NotFound(DataError):
    """The row asked for does not exist."""


class VersionConflict(DataError):
    """The row was changed by someone else since it was read: the save names an old version."""

    def __init__(self, message: str, current: object) -> None:
        super().__init__(message)
        self.current = current


class NotPredictable(DataError):
    """A model cannot predict this bar: the chart lacks it, it has not closed, or it falls
    before the features' warm-up."""

    def __init__(self, chart_id: int, time: object, reason: str) -> None:
        super().__init__(f"chart {chart_id}, bar {time}: {reason}")
        self.chart_id, self.time, self.reason = chart_id, time, reason


class LeaseLost(DataError):
    """A worker reported on a job it no longer holds (rescued, taken by another worker, or
    ended); nothing was written."""

    def __init__(self, job_id: int, lease: int, message: str) -> None:
        super().__init__(f"job {job_id}, lease {lease}: {message}")
        self.job_id, self.lease = job_id, lease

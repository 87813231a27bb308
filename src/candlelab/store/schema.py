"""The application's tables, defined once. Alembic migrations create them; nothing else does.

Constraint names follow one convention (pk_/fk_/uq_/ck_/ix_ + table + columns) because
`database.CONSTRAINT_ERRORS` turns violations into domain errors by those names.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    Interval,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

OHLC_CHECK = "low <= open AND low <= close AND high >= open AND high >= close"
VOLUME_CHECK = (
    "volume >= 0"
    " AND (taker_buy_volume IS NULL OR (taker_buy_volume >= 0 AND taker_buy_volume <= volume))"
    " AND (trades IS NULL OR trades >= 0) AND (quote_volume IS NULL OR quote_volume >= 0)"
)
# Type names are one name whatever their case and surrounding spaces (`labels.fields`).
NAME_KEY = text("lower(btrim(name))")
NAMING_CONVENTION = {
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
}
metadata = MetaData(naming_convention=NAMING_CONVENTION)

NOW = text("now()")
SPAN_SOURCES = ("manual", "model", "import")
SPAN_STATUSES = ("accepted", "proposed", "rejected")
RUN_STATUSES = ("running", "finished", "failed", "killed")
QUEUE_STATUSES = ("pending", "processing", "completed", "failed")
OUTCOMES = ("win", "loss", "timeout", "ambiguous")
REFERENCE_KINDS = ("feature", "prediction")


def _id() -> Column[int]:
    return Column("id", BigInteger, Identity(always=False), primary_key=True)


def _timestamp(name: str, *, nullable: bool = False, default: bool = True) -> Column[object]:
    return Column(
        name, DateTime(timezone=True), nullable=nullable, server_default=NOW if default else None
    )


def _one_of(column: str, values: tuple[str, ...]) -> str:
    listed = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({listed})"


def _chart_fk(*, nullable: bool = False) -> Column[int]:
    return Column(
        "chart_id", BigInteger, ForeignKey("charts.id", ondelete="CASCADE"), nullable=nullable
    )


def _feature_set_fk() -> Column[int]:
    return Column(
        "feature_set_id",
        BigInteger,
        ForeignKey("feature_sets.id", ondelete="CASCADE"),
        nullable=False,
    )


charts = Table(
    "charts",
    metadata,
    _id(),
    Column("symbol", Text, nullable=False),
    Column("timeframe", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("timezone", Text, nullable=False, server_default=text("'UTC'")),
    # The trading calendar gaps are measured against: "24/7", or an exchange code (XNYS).
    Column("calendar", Text, nullable=False, server_default=text("'24/7'")),
    # A resampled chart's source chart: its bars are derived from the base's, kept current.
    Column("base_chart_id", BigInteger, ForeignKey("charts.id", ondelete="CASCADE")),
    Column("bar_offset", Text, nullable=False, server_default=text("'0m'")),
    # Kept by every write of candles in its own transaction, so listing charts never
    # counts bars (a count of a 5M-bar chart takes ~300 ms).
    Column("bar_count", BigInteger, nullable=False, server_default=text("0")),
    Column("first_bar", DateTime(timezone=True)),
    Column("last_bar", DateTime(timezone=True)),
    _timestamp("created_at"),
    UniqueConstraint("symbol", "timeframe", "source"),
    Index(None, "base_chart_id"),
)

candles = Table(
    "candles",
    metadata,
    # No foreign key: checking it per row made bulk COPY 3x slower. candles.load_bars, the
    # one write path, checks the chart once per batch, and deleting a chart deletes its bars.
    Column("chart_id", BigInteger, nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("open", Double, nullable=False),
    Column("high", Double, nullable=False),
    Column("low", Double, nullable=False),
    Column("close", Double, nullable=False),
    Column("volume", Double, nullable=False),
    Column("vwap", Double),
    Column("trades", BigInteger),
    Column("taker_buy_volume", Double),
    Column("quote_volume", Double),
    PrimaryKeyConstraint("chart_id", "time"),
    # Plain comparisons: least()/greatest() made every COPY 30% slower.
    CheckConstraint(OHLC_CHECK, name="ohlc"),
    CheckConstraint(VOLUME_CHECK, name="volume"),
)


def _version() -> Column[int]:
    """Bumped by every update: a save naming an older version is refused (409), so two
    people editing one row never overwrite each other silently."""
    return Column("version", Integer, nullable=False, server_default=text("1"))


annotation_types = Table(
    "annotation_types",
    metadata,
    _id(),
    Column("name", Text, nullable=False),
    Column("color", Text, nullable=False),
    Column("shape", Text, nullable=False, server_default=text("'circle'")),
    Column("is_active", Boolean, nullable=False, server_default=text("true")),
    _timestamp("created_at"),
    UniqueConstraint("name"),
    Index("uq_annotation_types_name_key", NAME_KEY, unique=True),
)

annotations = Table(
    "annotations",
    metadata,
    _id(),
    _chart_fk(),
    Column("time", DateTime(timezone=True), nullable=False),
    Column(
        "annotation_type_id",
        BigInteger,
        ForeignKey("annotation_types.id", ondelete="SET NULL"),
    ),
    Column("geometry", JSONB),
    Column("price", Double),  # an optional price level the mark points at
    Column("note", Text),
    Column("created_by", Text),
    _timestamp("created_at"),
    _timestamp("updated_at"),
    _version(),
    Index(None, "chart_id", "time"),
)

span_label_types = Table(
    "span_label_types",
    metadata,
    _id(),
    Column("name", Text, nullable=False),
    Column("color", Text, nullable=False),
    Column("description", Text),
    Column("hotkey", Text),
    Column("direction", SmallInteger, nullable=False, server_default=text("0")),
    Column("is_active", Boolean, nullable=False, server_default=text("true")),
    _timestamp("created_at"),
    UniqueConstraint("name"),
    UniqueConstraint("hotkey"),
    Index("uq_span_label_types_name_key", NAME_KEY, unique=True),
    CheckConstraint("direction IN (-1, 0, 1)", name="direction"),
)

training_runs = Table(
    "training_runs",
    metadata,
    Column("run_id", Text, primary_key=True),
    Column("model_type", Text, nullable=False),
    Column("experiment_name", Text, nullable=False),
    Column("pipeline_config_hash", Text),
    Column("dataset_version", Text, ForeignKey("datasets.version")),
    Column("metrics", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("params", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("status", Text, nullable=False, server_default=text("'running'")),
    Column("error", Text),
    Column("chart_ids", ARRAY(BigInteger), nullable=False, server_default=text("'{}'")),
    Column("data_start", DateTime(timezone=True)),
    Column("data_end", DateTime(timezone=True)),
    Column("total_samples", BigInteger),
    Column("created_by", Text),
    _timestamp("created_at"),
    _timestamp("completed_at", nullable=True, default=False),
    # The process training the run touches this while it works; a running run whose
    # heartbeat is older than the timeout was left by a process that died.
    _timestamp("heartbeat_at"),
    Column("model_name", Text),
    Column("model_version", Integer),
    Column("artifact_sha256", Text),
    CheckConstraint(_one_of("status", RUN_STATUSES), name="status"),
    # Serves "newest first" too: PostgreSQL reads a B-tree index backwards.
    Index(None, "created_at"),
)

# One reproducible training set. Its rows are not copied (the feature store and the
# candles hold them); what is kept proves that a later read is the same data: the digest
# of the candles read, of the per-row labels, and which span versions taught.
datasets = Table(
    "datasets",
    metadata,
    Column("version", Text, primary_key=True),
    Column("feature_set_id", BigInteger, ForeignKey("feature_sets.id"), nullable=False),
    Column("target_hash", Text, nullable=False),
    Column("definition", JSONB, nullable=False),
    Column("chart_ids", ARRAY(BigInteger), nullable=False),
    Column("data_start", DateTime(timezone=True)),
    Column("data_end", DateTime(timezone=True)),
    Column("rows", BigInteger, nullable=False),
    Column("classes", ARRAY(Text), nullable=False),  # in the model's output order
    Column("class_counts", JSONB, nullable=False),
    Column("ambiguous", BigInteger, nullable=False),
    Column("candles_digest", Text, nullable=False),
    Column("label_digest", Text, nullable=False),
    Column("spans", JSONB, nullable=False),
    _timestamp("created_at"),
    CheckConstraint("rows >= 0 AND ambiguous >= 0", name="counts"),
)

span_annotations = Table(
    "span_annotations",
    metadata,
    _id(),
    _chart_fk(),
    Column(
        "label_type_id",
        BigInteger,
        ForeignKey("span_label_types.id", ondelete="RESTRICT"),
        nullable=False,
    ),
    Column("start_time", DateTime(timezone=True), nullable=False),
    Column("end_time", DateTime(timezone=True), nullable=False),
    Column("source", Text, nullable=False, server_default=text("'manual'")),
    Column("status", Text, nullable=False, server_default=text("'accepted'")),
    Column("confidence", Double),
    Column("sub_spans", JSONB),
    Column("model_prediction", JSONB),
    Column("training_run_id", Text, ForeignKey("training_runs.run_id", ondelete="SET NULL")),
    Column("created_by", Text),
    Column("reviewed_by", Text),
    Column("reviewed_at", DateTime(timezone=True)),
    _timestamp("created_at"),
    _timestamp("updated_at"),
    _version(),
    CheckConstraint("end_time >= start_time", name="time_order"),
    CheckConstraint(_one_of("source", SPAN_SOURCES), name="source"),
    CheckConstraint(_one_of("status", SPAN_STATUSES), name="status"),
    CheckConstraint("confidence IS NULL OR confidence BETWEEN 0 AND 1", name="confidence"),
    Index(None, "chart_id", "source", "start_time"),
    Index(None, "training_run_id"),
)

feature_sets = Table(
    "feature_sets",
    metadata,
    _id(),
    Column("name", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("definition_hash", Text, nullable=False),
    Column("columns", ARRAY(Text), nullable=False),
    Column("definition", JSONB, nullable=False),
    _timestamp("created_at"),
    UniqueConstraint("definition_hash"),
    UniqueConstraint("name", "version"),
)

# Which bars of a chart a feature set has values for, and from where they must be
# recomputed (`stale_from`: a bar inside the range was added, changed or deleted since).
# `depends_on` lists the other charts read (a longer timeframe of the same symbol).
feature_builds = Table(
    "feature_builds",
    metadata,
    _feature_set_fk(),
    _chart_fk(),
    Column("first_bar", DateTime(timezone=True), nullable=False),
    Column("last_bar", DateTime(timezone=True), nullable=False),
    Column("bars", BigInteger, nullable=False),
    Column("warmup", ARRAY(BigInteger), nullable=False),  # NaN values per column
    Column("depends_on", ARRAY(BigInteger), nullable=False, server_default=text("'{}'")),
    Column("stale_from", DateTime(timezone=True)),
    _timestamp("built_at"),
    # The recursive indicators' state after last_bar, for the next increment to continue
    # from (features/continuation.py), packed as little-endian float64; NULL: none
    # carried, the next increment reads the warm-up.
    Column("state", LargeBinary),
    PrimaryKeyConstraint("feature_set_id", "chart_id"),
    CheckConstraint("first_bar <= last_bar AND bars > 0", name="range"),
    Index(None, "chart_id"),
)

# Feature values packed by runs of bars: `times` holds each bar's open (int64 µs since
# 1970, little-endian), `vectors` the bars' values (float64, little-endian, bar-major:
# `width` values per bar, NaN where a feature has no value yet). A read of a training
# matrix is one bytea per block instead of one array per bar; `feature_values` and
# `feature_values_long` unpack them for psql (docs/benchmarks.md says why). `step_us`
# is the microseconds from each open to the next when they are all equal (NULL when they
# are not, or for one bar): bar k then opens at first_time + k * step_us, which a
# point-in-time join computes instead of reading `times`.
feature_blocks = Table(
    "feature_blocks",
    metadata,
    _feature_set_fk(),
    _chart_fk(),
    Column("first_time", DateTime(timezone=True), nullable=False),
    Column("last_time", DateTime(timezone=True), nullable=False),
    Column("bars", Integer, nullable=False),
    Column("width", SmallInteger, nullable=False),
    Column("times", LargeBinary, nullable=False),
    Column("vectors", LargeBinary, nullable=False),
    Column("nans", ARRAY(BigInteger), nullable=False),  # NaN values per column
    Column("step_us", BigInteger),
    # The block's bars' open, high, low, close, volume (float8send, 40 bytes a bar), filled
    # from `candles` by a trigger (FEATURE_STORE_SQL); NULL where they are not the bars.
    Column("candles", LargeBinary),
    # The sums (mod 2^64, big-endian int64s) of two hashes of each of those bars (open time
    # and OHLCV, FEATURE_STORE_SQL's candle_hash): sums of blocks add up to those of their
    # bars however they are cut, which a dataset's version hashes instead of the candles.
    # NULL where `candles` is.
    Column("candles_hash", LargeBinary),
    PrimaryKeyConstraint("feature_set_id", "chart_id", "first_time"),
    CheckConstraint(
        "first_time <= last_time AND bars > 0 AND width > 0"
        " AND octet_length(times) = 8 * bars AND octet_length(vectors) = 8 * bars * width",
        name="packing",
    ),
    CheckConstraint(
        "step_us IS NULL OR (step_us > 0 AND bars > 1"
        " AND last_time = first_time + (bars - 1) * step_us * interval '1 microsecond')",
        name="step",
    ),
    CheckConstraint("candles IS NULL OR octet_length(candles) = 40 * bars", name="candles"),
    CheckConstraint("candles_hash IS NULL OR octet_length(candles_hash) = 16", name="candles_hash"),
)

# Target values kept beside the feature blocks (training/target_blocks.py): a block's
# values under a target definition (`target_hash`) as computed by the formula's version
# (`formula`) from the candles of the chart's blocks, packed column after column,
# little-endian: y, the long and the short result (float64), judged_to as bars after the
# bar (int32), ambiguous (uint8). `reaches` is the last bar any of them looked at (NULL: a
# horizon ran past the chart's last bar). A block written or deleted voids the target
# blocks it could change (FEATURE_STORE_SQL's feature_blocks_targets trigger).
target_blocks = Table(
    "target_blocks",
    metadata,
    Column("feature_set_id", BigInteger, nullable=False),
    Column("chart_id", BigInteger, nullable=False),
    Column("first_time", DateTime(timezone=True), nullable=False),
    Column("target_hash", Text, nullable=False),
    Column("formula", SmallInteger, nullable=False),
    Column("bars", Integer, nullable=False),
    Column("reaches", DateTime(timezone=True)),
    Column("packed", LargeBinary, nullable=False),
    PrimaryKeyConstraint("feature_set_id", "chart_id", "first_time", "target_hash", "formula"),
    ForeignKeyConstraint(
        ["feature_set_id", "chart_id", "first_time"],
        ["feature_blocks.feature_set_id", "feature_blocks.chart_id", "feature_blocks.first_time"],
        name="fk_target_blocks_feature_blocks",
        ondelete="CASCADE",
    ),
    CheckConstraint("bars > 0 AND octet_length(packed) = 29 * bars", name="packing"),
)

DEPLOYMENT_ACTIONS = ("promote", "rollback", "sync", "retire")

# The audit trail of MLflow's aliases (`models/deployments.py`): a row says what an alias
# names after a move (NULL: the move took it away) and what it named before. Append-only:
# DEPLOYMENTS_SQL's triggers refuse UPDATE, DELETE and TRUNCATE.
model_deployments = Table(
    "model_deployments",
    metadata,
    _id(),
    Column("model_name", Text, nullable=False),
    Column("version", Integer),
    Column("alias", Text, nullable=False),
    Column("traffic_share", Double, nullable=False, server_default=text("1.0")),
    Column("changed_by", Text),
    Column("reason", Text),
    _timestamp("changed_at"),
    Column("replaced_version", Integer),
    Column("shadow", Boolean, nullable=False, server_default=text("false")),
    Column("action", Text, nullable=False, server_default=text("'promote'")),
    CheckConstraint("traffic_share BETWEEN 0 AND 1", name="traffic_share"),
    CheckConstraint(_one_of("action", DEPLOYMENT_ACTIONS), name="action"),
    CheckConstraint("(version IS NULL) = (action = 'retire') OR action = 'sync'", name="removal"),
    CheckConstraint("NOT shadow OR traffic_share = 0", name="shadow"),
    Index(None, "model_name", "alias", "changed_at"),
)

signals = Table(
    "signals",
    metadata,
    _id(),
    _chart_fk(),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("model_name", Text, nullable=False),
    Column("model_version", Integer, nullable=False),
    Column("alias", Text),  # the alias the version was asked by (None: by its number)
    Column("pred", Text, nullable=False),  # the class as a word: long / short / none, a label
    Column("proba", Double),
    Column("label", Text),  # the human label of the bar, where an accepted span covers it
    Column("features", JSONB),
    Column("latency_ms", Double),
    Column("outcome", Text),  # win / loss / timeout / ambiguous (monitoring/outcomes.py)
    Column("realized_rr", Double),
    Column("evaluated_at", DateTime(timezone=True)),
    _timestamp("created_at"),
    # Made by a shadow beside the version that served the request, never returned.
    Column("shadow", Boolean, nullable=False, server_default=text("false")),
    # A judgement without a trade says why (`not traded`, `no risk unit`); one with a trade
    # its bars held, excursions in R, and the last bar it read: a bar written at or before
    # it voids the judgement (OUTCOMES_SQL).
    Column("outcome_reason", Text),
    Column("held_bars", Integer),
    Column("mae_r", Double),
    Column("mfe_r", Double),
    Column("judged_to", DateTime(timezone=True)),
    # Its index serves the phase-1 spec's (chart, time) lookups too, and the one below
    # (model, version): neither is duplicated.
    UniqueConstraint("chart_id", "time", "model_name", "model_version"),
    CheckConstraint("proba IS NULL OR proba BETWEEN 0 AND 1", name="proba"),
    CheckConstraint("latency_ms IS NULL OR latency_ms >= 0", name="latency"),
    CheckConstraint(f"outcome IS NULL OR {_one_of('outcome', OUTCOMES)}", name="outcome"),
    Index(None, "model_name", "model_version", "time"),
    # Containment and jsonpath equality on the features (`features @> '{"hour": 3}'`); a
    # backtest's signals have none (the feature store has their vectors) and no entry.
    Index(
        None,
        "features",
        postgresql_using="gin",
        postgresql_ops={"features": "jsonb_path_ops"},
        postgresql_where=text("features IS NOT NULL"),
    ),
    # A judgement rewrites its signal's row in place (a HOT update: no index entry
    # written), which needs room for the new version on the row's page: a page is filled
    # to 40 %, and no index holds a column a judgement writes (`outcome_queue` and
    # `outcome_reach` find the signals to judge and to void instead).
    postgresql_with={"fillfactor": 40},
)

# The charts and model versions with signals to judge, from which bar on: every signal
# whose `evaluated_at` is NULL opens at or after the least `since` of its chart and
# version's rows. A row is added by each statement that inserts signals to judge (a
# trigger) and by voiding (`mark_outcomes_stale`); a run of `candlelab evaluate` deletes
# the rows it read and adds one for the signals it left pending. Rows, not an update of
# one row per chart, so that neither a backtest nor a prediction waits for another's row
# lock; the plan reads them, not the signals.
outcome_queue = Table(
    "outcome_queue",
    metadata,
    _id(),
    _chart_fk(),
    Column("model_name", Text, nullable=False),
    Column("model_version", Integer, nullable=False),
    Column("since", DateTime(timezone=True), nullable=False),
    Index(None, "chart_id"),
)

# Per chart, the longest a judgement there read past its signal's bar (`judged_to` -
# `time`): a bar written at `first` voids judgements of signals from `first - reach` on
# only, found by the (chart, time) key.
outcome_reach = Table(
    "outcome_reach",
    metadata,
    Column("chart_id", BigInteger, ForeignKey("charts.id", ondelete="CASCADE"), primary_key=True),
    Column("reach", Interval, nullable=False),
)

# Per training run, the distribution each feature had in the rows the final model was fit
# on, and that of its predictions there (`training/references.py`): what drift compares a
# serving window against (`monitoring/drift.py`). One row per feature and one for the
# predictions. `edges` are the inner bin edges (bins open at both ends, each closed on
# its left), `counts` the rows per bin, `missing` the NaN rows apart; `quantiles` the
# 0th..100th percentiles; a prediction row has its class names in `categories` and a
# count per class.
drift_references = Table(
    "drift_references",
    metadata,
    Column("run_id", Text, ForeignKey("training_runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("position", Integer, nullable=False),  # the column's place in the feature set
    Column("rows", BigInteger, nullable=False),  # rows counted (a sample of the taught rows)
    Column("edges", ARRAY(Double), nullable=False),
    Column("counts", ARRAY(BigInteger), nullable=False),
    Column("missing", BigInteger, nullable=False),
    Column("quantiles", ARRAY(Double), nullable=False),
    Column("categories", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("mean", Double),
    Column("std", Double),
    Column("nan_share", Double, nullable=False),
    PrimaryKeyConstraint("run_id", "kind", "name"),
    CheckConstraint(_one_of("kind", REFERENCE_KINDS), name="kind"),
)

# Each model version's latest drift check (`monitoring/drift.py`), replaced by the next:
# what /metrics shows as its worst PSI. The worst feature and its PSI are both known or
# both not (a version whose references name no feature).
drift_checks = Table(
    "drift_checks",
    metadata,
    Column("model_name", Text, nullable=False),
    Column("model_version", Integer, nullable=False),
    _timestamp("checked_at"),
    Column("window_start", DateTime(timezone=True), nullable=False),
    Column("window_end", DateTime(timezone=True), nullable=False),
    Column("signals", Integer, nullable=False),  # with features, compared
    Column("worst_feature", Text),
    Column("worst_feature_psi", Double),
    Column("prediction_psi", Double),
    PrimaryKeyConstraint("model_name", "model_version"),
    CheckConstraint("(worst_feature IS NULL) = (worst_feature_psi IS NULL)", name="worst_feature"),
)

WINDOW_KINDS = ("day", "week", "month", "all")
PERFORMANCE_FIGURES = (
    "signals", "trades", "wins", "win_rate", "win_rate_low", "win_rate_high",
    "profit_factor", "expectancy_r", "sqn", "sharpe", "sortino", "max_drawdown_r",
    "max_drawdown_days", "brier", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms",
)  # fmt: skip
_COUNTS = ("signals", "trades", "wins", "max_drawdown_days")

# A model version's measured performance over one window (`monitoring/performance.py`):
# of one chart, or of all its charts (chart_id NULL); the window a UTC day, week
# (from Monday), month, or all its signals ('all': window_start 1970-01-01, no end).
model_performance = Table(
    "model_performance",
    metadata,
    _id(),
    Column("model_name", Text, nullable=False),
    Column("model_version", Integer, nullable=False),
    _chart_fk(nullable=True),
    Column("window_kind", Text, nullable=False),
    Column("window_start", DateTime(timezone=True), nullable=False),
    Column("window_end", DateTime(timezone=True)),  # exclusive; NULL for 'all'
    *(Column(name, Integer if name in _COUNTS else Double) for name in PERFORMANCE_FIGURES),
    Column("reliability", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("first_signal", DateTime(timezone=True)),
    Column("last_signal", DateTime(timezone=True)),
    _timestamp("computed_at"),
    CheckConstraint(_one_of("window_kind", WINDOW_KINDS), name="window_kind"),
    CheckConstraint("window_end IS NULL OR window_end > window_start", name="window_order"),
    # One row per window; all charts (NULL) as chart 0, which no chart is (ids start at 1).
    Index(
        "uq_model_performance_window",
        "model_name",
        "model_version",
        text("coalesce(chart_id, 0)"),
        "window_kind",
        "window_start",
        unique=True,
    ),
    # Each version's overall record ('all', every chart), what /metrics reads at every
    # scrape: without it a scrape scanned every window of every chart (0028).
    Index(
        None,
        "model_name",
        "model_version",
        postgresql_where=text("chart_id IS NULL AND window_kind = 'all'"),
    ),
)

ALERT_KINDS = ("feature_drift", "prediction_drift", "performance", "latency", "stale_data")
SEVERITIES = ("warn", "alert")

# A condition a check found (`monitoring/alerts.py`): raised once, updated (last_seen,
# figures) while it holds, resolved when a check finds it no longer. A model version's,
# or a chart's (stale data: no model). Webhook delivery is recorded on the row.
alerts = Table(
    "alerts",
    metadata,
    _id(),
    Column("kind", Text, nullable=False),
    Column("model_name", Text),
    Column("model_version", Integer),
    _chart_fk(nullable=True),
    Column("dedupe_key", Text, nullable=False),  # kind:subject, one open alert per key
    Column("severity", Text, nullable=False),
    Column("figures", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("message", Text, nullable=False),
    _timestamp("first_seen"),
    _timestamp("last_seen"),
    _timestamp("resolved_at", nullable=True, default=False),
    _timestamp("acknowledged_at", nullable=True, default=False),
    Column("acknowledged_by", Text),
    _timestamp("delivered_at", nullable=True, default=False),
    Column("delivery_attempts", Integer, nullable=False, server_default=text("0")),
    Column("delivery_error", Text),
    _timestamp("next_delivery_at", nullable=True, default=False),
    CheckConstraint(_one_of("kind", ALERT_KINDS), name="kind"),
    CheckConstraint(_one_of("severity", SEVERITIES), name="severity"),
    CheckConstraint(
        "kind = 'stale_data' OR (model_name IS NOT NULL AND model_version IS NOT NULL)",
        name="subject",
    ),
    Index(
        "uq_alerts_open_dedupe_key",
        "dedupe_key",
        unique=True,
        postgresql_where=text("resolved_at IS NULL"),
    ),
    # The cooldown's look-up: the newest resolution of a key.
    Index(None, "dedupe_key", "resolved_at"),
)

retrain_queue = Table(
    "retrain_queue",
    metadata,
    _id(),
    Column("signal_id", BigInteger, ForeignKey("signals.id", ondelete="SET NULL")),
    Column("model_name", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("priority", SmallInteger, nullable=False, server_default=text("3")),  # 1 low, 5 high
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    _timestamp("inserted_at"),
    _timestamp("started_at", nullable=True, default=False),
    _timestamp("heartbeat_at", nullable=True, default=False),
    _timestamp("completed_at", nullable=True, default=False),
    Column("error_message", Text),
    Column("training_run_id", Text, ForeignKey("training_runs.run_id", ondelete="SET NULL")),
    Column("worker_id", Text),  # the worker that holds the job, or held it last
    # The fencing token: raised by every claim, so a worker that lost the job (rescued
    # while it slept) matches no row when it reports back.
    Column("lease", BigInteger, nullable=False, server_default=text("0")),
    Column("max_attempts", Integer, nullable=False, server_default=text("3")),
    _timestamp("run_after"),  # not claimed before: backoff after a failure, schedules
    Column("timeout_seconds", Integer),  # the job's time limit from its start; NULL: none
    CheckConstraint("priority BETWEEN 1 AND 5", name="priority"),
    CheckConstraint(_one_of("status", QUEUE_STATUSES), name="status"),
    CheckConstraint("attempts >= 0", name="attempts"),
    CheckConstraint("lease >= 0", name="lease"),
    CheckConstraint("max_attempts >= 1", name="max_attempts"),
    CheckConstraint("timeout_seconds > 0", name="timeout_seconds"),
    # At most one open request per model: a second one merges into it (`jobs.queue.enqueue`).
    Index(
        "uq_retrain_queue_model_name_open",
        "model_name",
        unique=True,
        postgresql_where=text("status IN ('pending', 'processing')"),
    ),
)
# Workers take the most urgent pending request first: the highest priority, then the oldest.
Index(
    "ix_retrain_queue_pending",
    retrain_queue.c.priority.desc(),
    retrain_queue.c.inserted_at,
    postgresql_where=text("status = 'pending'"),
)

SCHEDULE_KINDS = ("retrain", "evaluate", "drift", "decide")

# What workers run on a schedule (`jobs/schedules.py`): a model's retrain, or a task over
# every model (evaluate, drift, the policy's decisions). A worker takes a due row by
# moving its next_run_at past now in one statement, so a period runs at most once however
# many workers look; the last run's outcome is kept on the row.
schedules = Table(
    "schedules",
    metadata,
    _id(),
    Column("kind", Text, nullable=False),
    Column("model_name", Text),  # the retrained model; NULL: a task over every model
    Column("every", Interval),  # NULL: no periodic run (the spans-changed trigger only)
    _timestamp("next_run_at", nullable=True, default=False),
    Column("reason", Text),  # a retrain request's reason
    Column("priority", SmallInteger, nullable=False, server_default=text("2")),  # 1 low, 5 high
    # Retrain when this many accepted spans of the model's training charts changed since
    # its last training run (`span_changes`); NULL: not on spans.
    Column("spans_changed", Integer),
    _timestamp("spans_fired_at", nullable=True, default=False),
    _timestamp("last_run_at", nullable=True, default=False),
    Column("last_worker", Text),
    _timestamp("last_finished_at", nullable=True, default=False),
    Column("last_result", Text),
    Column("last_error", Text),  # NULL when the last run succeeded
    Column("created_by", Text),
    _timestamp("created_at"),
    _timestamp("updated_at"),
    CheckConstraint(_one_of("kind", SCHEDULE_KINDS), name="kind"),
    CheckConstraint("(kind = 'retrain') = (model_name IS NOT NULL)", name="subject"),
    CheckConstraint("every >= interval '1 minute'", name="every"),
    CheckConstraint("(every IS NULL) = (next_run_at IS NULL)", name="next_run"),
    CheckConstraint("every IS NOT NULL OR spans_changed IS NOT NULL", name="trigger"),
    CheckConstraint("spans_changed >= 1", name="spans_changed"),
    CheckConstraint("priority BETWEEN 1 AND 5", name="priority"),
    # One row per task kind and model (NULL: every model).
    Index("uq_schedules_kind_model_name", "kind", text("coalesce(model_name, '')"), unique=True),
    Index(None, "next_run_at"),
)

# Accepted spans changed, counted per chart and statement by triggers on span_annotations
# (SPAN_CHANGES_SQL): a span inserted, updated or deleted that is or was accepted. What a
# retrain schedule's spans-changed trigger counts; deletions leave no row to count
# otherwise. No foreign key: a chart's deletion logs its spans going with it.
span_changes = Table(
    "span_changes",
    metadata,
    _id(),
    Column("chart_id", BigInteger, nullable=False),
    _timestamp("changed_at"),
    Column("spans", Integer, nullable=False),
    Index(None, "chart_id", "changed_at"),
)

# Imports of legacy SQLite annotator files: one row per file and table group imported,
# written in the group's own transaction, so a re-run knows what is done.
legacy_imports = Table(
    "legacy_imports",
    metadata,
    Column("file_sha256", Text, nullable=False),
    Column("table_group", Text, nullable=False),
    Column("file_name", Text, nullable=False),
    Column("remapped", Boolean, nullable=False),
    Column("report", JSONB, nullable=False),
    _timestamp("imported_at"),
    PrimaryKeyConstraint("file_sha256", "table_group"),
)

# Where each imported row went: its id in the legacy file and in candlelab (the same
# unless --remap-ids). References of later table groups are rewritten through it.
legacy_ids = Table(
    "legacy_ids",
    metadata,
    Column("file_sha256", Text, nullable=False),
    Column("table_name", Text, nullable=False),
    Column("legacy_id", BigInteger, nullable=False),
    Column("new_id", BigInteger, nullable=False),
    # A type whose name the target had already: the legacy row was merged into that one.
    Column("merged", Boolean, nullable=False, server_default=text("false")),
    PrimaryKeyConstraint("file_sha256", "table_name", "legacy_id"),
)

# What the schema holds beyond the tables: functions, triggers and views of the feature
# store, created in this order by the migration (and by tests that build from metadata).
FEATURE_STORE_SQL = (
    # Blocks are read whole or sliced by offset; compressing float64 gains little and
    # would make every slice decompress the whole value.
    "ALTER TABLE feature_blocks ALTER COLUMN times SET STORAGE EXTERNAL",
    "ALTER TABLE feature_blocks ALTER COLUMN vectors SET STORAGE EXTERNAL",
    "ALTER TABLE feature_blocks ALTER COLUMN candles SET STORAGE EXTERNAL",
    # A block's candles, from the table, on every insert: every write path stores them.
    # A training read takes them instead of deforming a heap row of `candles` per bar.
    """
CREATE FUNCTION block_candles(chart bigint, first timestamptz, last timestamptz, bars integer)
RETURNS bytea LANGUAGE sql STABLE AS $$
SELECT CASE WHEN count(*) = bars THEN string_agg(float8send(open) || float8send(high)
    || float8send(low) || float8send(close) || float8send(volume), '' ORDER BY time) END
FROM candles
WHERE chart_id = chart AND time BETWEEN first AND last
$$""",
    # A bar's hash: PostgreSQL's float8 hash chained over its open (µs since 1970, exact
    # as a float8 for 1685-2255) and OHLCV. Chained, not combined linearly, so that the
    # sums of many bars' hashes still tie each value to its bar. (The float8 hash takes
    # -0 for 0, and every NaN for one: no candle holds either.)
    """
CREATE FUNCTION candle_hash(opened timestamptz, open float8, high float8, low float8,
                            close float8, volume float8, seed bigint)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT hashfloat8extended(volume, hashfloat8extended(close, hashfloat8extended(low,
    hashfloat8extended(high, hashfloat8extended(open, hashfloat8extended(
        (extract(epoch FROM opened - timestamptz '1970-01-01 00:00:00+00') * 1000000)::float8,
        seed))))))
$$""",
    # An exact sum of int8s (NULL: of none) taken mod 2^64, as an int8 (two's complement).
    """
CREATE FUNCTION wrapped_int8(n numeric) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT (s - 18446744073709551616 * floor((s + 9223372036854775808) / 18446744073709551616))::bigint
FROM (SELECT coalesce(n, 0) AS s) AS sum
$$""",
    # The sums of the hashes of a chart's bars in [first, last], seeds 1 and 2: 16 bytes.
    """
CREATE FUNCTION candles_hash(chart bigint, first timestamptz, last timestamptz)
RETURNS bytea LANGUAGE sql STABLE AS $$
SELECT int8send(wrapped_int8(sum(candle_hash(time, open, high, low, close, volume, 1))))
    || int8send(wrapped_int8(sum(candle_hash(time, open, high, low, close, volume, 2))))
FROM candles
WHERE chart_id = chart AND time BETWEEN first AND last
$$""",
    """
CREATE FUNCTION fill_block_candles() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.candles := block_candles(NEW.chart_id, NEW.first_time, NEW.last_time, NEW.bars);
    NEW.candles_hash := CASE WHEN NEW.candles IS NOT NULL
        THEN candles_hash(NEW.chart_id, NEW.first_time, NEW.last_time) END;
    RETURN NEW;
END
$$""",
    "CREATE TRIGGER feature_blocks_candles BEFORE INSERT ON feature_blocks "
    "FOR EACH ROW EXECUTE FUNCTION fill_block_candles()",
    # Target values are read whole, like the blocks' values.
    "ALTER TABLE target_blocks ALTER COLUMN packed SET STORAGE EXTERNAL",
    # The target blocks a block written from `first` on could change: from there on (their
    # ATR reads its bars), those whose values looked at its bars, and those whose horizon
    # ran past the chart's end (new bars decide them).
    """
CREATE FUNCTION void_target_blocks(feature_set bigint, chart bigint, first timestamptz)
RETURNS void LANGUAGE sql AS $$
DELETE FROM target_blocks
WHERE feature_set_id = feature_set AND chart_id = chart
  AND (first_time >= first OR reaches IS NULL OR reaches >= first)
$$""",
    """
CREATE FUNCTION feature_block_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM void_target_blocks(NEW.feature_set_id, NEW.chart_id, NEW.first_time);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM void_target_blocks(OLD.feature_set_id, OLD.chart_id, OLD.first_time);
    ELSE
        PERFORM void_target_blocks(OLD.feature_set_id, OLD.chart_id,
                                   least(OLD.first_time, NEW.first_time));
        PERFORM void_target_blocks(NEW.feature_set_id, NEW.chart_id,
                                   least(OLD.first_time, NEW.first_time));
    END IF;
    RETURN NULL;
END
$$""",
    "CREATE TRIGGER feature_blocks_targets AFTER INSERT OR UPDATE OR DELETE ON feature_blocks "
    "FOR EACH ROW EXECUTE FUNCTION feature_block_written()",
    # The i-th little-endian int64 / float64 of a bytea, exactly, for the views.
    """
CREATE FUNCTION packed_int8(packed bytea, i integer) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
SELECT (get_byte(packed, 8 * i + 7)::bit(8) || get_byte(packed, 8 * i + 6)::bit(8)
     || get_byte(packed, 8 * i + 5)::bit(8) || get_byte(packed, 8 * i + 4)::bit(8)
     || get_byte(packed, 8 * i + 3)::bit(8) || get_byte(packed, 8 * i + 2)::bit(8)
     || get_byte(packed, 8 * i + 1)::bit(8) || get_byte(packed, 8 * i)::bit(8))::bit(64)::bigint
$$""",
    """
CREATE FUNCTION packed_float8(packed bytea, i integer) RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
SELECT CASE
    WHEN e = 2047 AND m <> 0 THEN 'NaN'::float8
    WHEN e = 2047 THEN s * 'Infinity'::float8
    WHEN e = 0 THEN s * m * 2::float8 ^ -1074
    ELSE s * (1 + m * 2::float8 ^ -52) * 2::float8 ^ (e - 1023)
END
FROM (SELECT packed_int8(packed, i) AS bits) b,
LATERAL (SELECT CASE WHEN bits < 0 THEN -1 ELSE 1 END::float8 AS s,
                ((bits >> 52) & 2047)::integer AS e,
                (bits & 4503599627370495)::float8 AS m) p
$$""",
    # A chart's feature builds (and those of charts that read it) must recompute from
    # `first` on when a bar at or before their last built bar was written there.
    """
CREATE FUNCTION mark_features_stale(chart bigint, first timestamptz) RETURNS void
LANGUAGE sql AS $$
UPDATE feature_builds SET stale_from = least(stale_from, first)
WHERE (chart_id = chart OR chart = ANY(depends_on)) AND first <= last_bar
  AND (stale_from IS NULL OR stale_from > first)
$$""",
    # Updates and deletes from anywhere (psql included) mark the builds and the signals'
    # judgements they touch (OUTCOMES_SQL, created with the functions it calls);
    # inserts are marked by the statements that write them (`market/candles.sql`), so
    # a bulk COPY pays nothing for a transition table.
    """
CREATE FUNCTION candles_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        PERFORM mark_features_stale(chart_id, first), mark_outcomes_stale(chart_id, first)
        FROM (
            SELECT chart_id, min(time) AS first FROM (
                SELECT chart_id, time FROM old_rows UNION ALL SELECT chart_id, time FROM new_rows
            ) changed GROUP BY chart_id
        ) charts;
    ELSE
        PERFORM mark_features_stale(chart_id, first), mark_outcomes_stale(chart_id, first)
        FROM (SELECT chart_id, min(time) AS first FROM old_rows GROUP BY chart_id) charts;
    END IF;
    RETURN NULL;
END
$$""",
    """
CREATE TRIGGER candles_updated AFTER UPDATE ON candles
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION candles_changed()""",
    """
CREATE TRIGGER candles_deleted AFTER DELETE ON candles
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION candles_changed()""",
    # One row per bar with its vector, NULL where a feature has no value yet.
    """
CREATE VIEW feature_values AS
SELECT b.feature_set_id, b.chart_id,
       timestamptz 'epoch' + packed_int8(b.times, i) * interval '1 microsecond' AS time,
       ARRAY(SELECT nullif(packed_float8(b.vectors, i * b.width + j), 'NaN')
             FROM generate_series(0, b.width - 1) AS j ORDER BY j) AS "values"
FROM feature_blocks b
CROSS JOIN LATERAL generate_series(0, b.bars - 1) AS i""",
    # Feature values one per row, with their names: what psql and pandas users query.
    """
CREATE VIEW feature_values_long AS
SELECT v.feature_set_id, v.chart_id, v.time, f.name AS feature, f.value
FROM feature_values v
JOIN feature_sets s ON s.id = v.feature_set_id
CROSS JOIN LATERAL unnest(s.columns, v."values") AS f(name, value)""",
    # A fingerprint of a chart's bars in (after, upto]: an increment computed outside the
    # chart's lock proves under it that the bars it read are unchanged. One row, from a
    # SQL function: the planner inlines it where it is called in FROM, with no call cost.
    """
CREATE FUNCTION candles_digest(chart bigint, after timestamptz, upto timestamptz)
RETURNS SETOF text LANGUAGE sql STABLE AS $$
SELECT md5(coalesce(string_agg(c::text, '|' ORDER BY c.time), ''))
FROM candles c WHERE c.chart_id = chart AND c.time > after AND c.time <= upto
$$""",
    # A chart's increment (features/increments.py), checked and written in one call: under
    # its locks, only if its build and new bars are still those computed from.
    """
CREATE FUNCTION append_feature_increment(
    load_class integer, lock_class integer, feature_set bigint, chart bigint,
    built_to timestamptz, newest timestamptz, digest text, block_first timestamptz,
    block_bars integer, block_width integer, block_times bytea, block_step bigint,
    block_vectors bytea, block_nans bigint[], new_state bytea
) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    -- The locks of features/builds.sql's lock_build, in its order (load lock first), and
    -- its commit without waiting for the WAL flush. Each statement below is planned once
    -- a session: custom plans for their parameters were chosen, and made, on every call
    -- (half the function's time).
    PERFORM pg_advisory_xact_lock(load_class, chart::integer),
            pg_advisory_xact_lock(lock_class, hashtext(feature_set::text || ':' || chart::text)),
            set_config('synchronous_commit', 'off', true),
            set_config('plan_cache_mode', 'force_generic_plan', true);
    -- Its snapshot taken once the locks are held (read committed): it sees the bars of a
    -- load that held the load lock, and the stale mark its correction set.
    UPDATE feature_builds
    SET last_bar = newest, bars = bars + block_bars, built_at = now(), state = new_state,
        warmup = CASE WHEN block_nans IS NULL THEN warmup ELSE ARRAY(
            SELECT w + n FROM unnest(warmup, block_nans) WITH ORDINALITY AS u(w, n, k)
            ORDER BY k
        ) END
    WHERE feature_set_id = feature_set AND chart_id = chart AND last_bar = built_to
      AND stale_from IS NULL
      AND (SELECT d FROM candles_digest(chart, built_to, newest) AS d) = digest;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO feature_blocks (feature_set_id, chart_id, first_time, last_time, bars, width,
                                times, step_us, vectors, nans)
    VALUES (feature_set, chart, block_first, newest, block_bars, block_width, block_times,
            block_step, block_vectors,
            coalesce(block_nans, array_fill(0::bigint, ARRAY[block_width])));
    RETURN true;
END
$$""",
    # The increments of many charts in one statement (a round trip for them all), each
    # chart its own transaction. CALL it outside a transaction block (autocommit).
    """
CREATE PROCEDURE append_feature_increments(
    load_class integer, lock_class integer, feature_set bigint, charts bigint[],
    built_to timestamptz[], newest timestamptz[], digests text[], block_first timestamptz[],
    block_bars integer[], block_width integer, block_times bytea[], block_steps bigint[],
    block_vectors bytea[], nan_rows bigint[], nan_row integer[], new_states bytea[],
    INOUT written boolean[]
) LANGUAGE plpgsql AS $$
BEGIN
    written := '{}';
    FOR i IN 1 .. cardinality(charts) LOOP
        written := written || append_feature_increment(
            load_class, lock_class, feature_set, charts[i], built_to[i], newest[i], digests[i],
            block_first[i], block_bars[i], block_width, block_times[i], block_steps[i],
            block_vectors[i],
            nan_rows[(nan_row[i] - 1) * block_width + 1 : nan_row[i] * block_width],
            new_states[i]);
        COMMIT;  -- each chart its own transaction: a killed build keeps those done
    END LOOP;
END
$$""",
)

# A signal's judgement read the bars up to its `judged_to` (and, through the ATR, every
# bar before): a bar written at or before it voids the judgement, for `candlelab evaluate`
# to make again, and queues the chart from each version's first signal voided. Called where feature
# builds are marked stale, in the same transaction. Only signals from `first - reach` on
# can have read `first`: a range of the (chart, time) key.
OUTCOMES_SQL = (
    """
CREATE FUNCTION mark_outcomes_stale(chart bigint, first timestamptz) RETURNS void
LANGUAGE sql AS $$
WITH voided AS (
    UPDATE signals SET outcome = NULL, outcome_reason = NULL, realized_rr = NULL,
                       held_bars = NULL, mae_r = NULL, mfe_r = NULL, judged_to = NULL,
                       evaluated_at = NULL
    WHERE chart_id = chart AND judged_to >= first
      AND time >= first - (SELECT reach FROM outcome_reach WHERE chart_id = chart)
    RETURNING model_name, model_version, time
)
INSERT INTO outcome_queue (chart_id, model_name, model_version, since)
SELECT chart, model_name, model_version, min(time) FROM voided
GROUP BY model_name, model_version
$$""",
    # Inserted signals (a prediction, a backtest, psql) with no judgement queue their
    # chart and version from the first; those inserted judged widen its reach. One statement-level
    # trigger: a backtest's batch pays one grouped scan of its rows, not a call per row.
    """
CREATE FUNCTION signals_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outcome_queue (chart_id, model_name, model_version, since)
    SELECT chart_id, model_name, model_version, min(time) FROM new_rows
    WHERE evaluated_at IS NULL GROUP BY chart_id, model_name, model_version;
    INSERT INTO outcome_reach AS r (chart_id, reach)
    SELECT chart_id, max(judged_to - time) FROM new_rows WHERE judged_to IS NOT NULL
    GROUP BY chart_id
    ON CONFLICT (chart_id) DO UPDATE SET reach = greatest(r.reach, EXCLUDED.reach);
    RETURN NULL;
END
$$""",
    """
CREATE TRIGGER signals_inserted AFTER INSERT ON signals
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION signals_added()""",
)

# What the schema holds beyond the tables for the deployments' audit trail.
DEPLOYMENTS_SQL = (
    """
CREATE FUNCTION model_deployments_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'model_deployments is append-only: ' || TG_OP || ' refused',
        ERRCODE = 'insufficient_privilege',
              HINT = 'record a new move (candlelab models promote, rollback or sync)';
END
$$""",
    "CREATE TRIGGER model_deployments_unchanged BEFORE UPDATE OR DELETE ON model_deployments "
    "FOR EACH ROW EXECUTE FUNCTION model_deployments_append_only()",
    "CREATE TRIGGER model_deployments_kept BEFORE TRUNCATE ON model_deployments "
    "FOR EACH STATEMENT EXECUTE FUNCTION model_deployments_append_only()",
)

# The model registry for psql users: MLflow's registered versions (schema mlflow, owned
# by MLflow's migrations) beside their training runs. MLflow's tables are made after
# candlelab's (`Workspace.upgrade`), so the view reads them through a PL/pgSQL function,
# whose body is looked up when called: no rows while MLflow's tables do not exist.
MODELS_SQL = (
    """
CREATE FUNCTION model_registry_rows() RETURNS TABLE (
    model_name text, version integer, model_type text, run_id text, trained_at timestamptz,
    metrics jsonb, hyperparameters jsonb, feature_set text, feature_columns text[],
    artifact_path text, aliases text[], is_active boolean, tags jsonb, description text
) LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
BEGIN
    IF to_regclass('mlflow.model_versions') IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT v.name::text, v.version::integer, r.model_type, v.run_id::text,
           coalesce(r.completed_at, to_timestamp(v.creation_time / 1000.0)),
           r.metrics, r.params, s.name || '@' || s.version, s.columns,
           v.source::text, a.aliases, coalesce('champion' = ANY(a.aliases), false),
           t.tags, coalesce(nullif(v.description, ''), m.description)::text
    FROM mlflow.model_versions v
    JOIN mlflow.registered_models m ON m.name = v.name
    LEFT JOIN training_runs r ON r.run_id = v.run_id
    LEFT JOIN datasets d ON d.version = r.dataset_version
    LEFT JOIN feature_sets s ON s.id = d.feature_set_id
    LEFT JOIN LATERAL (
        SELECT array_agg(m.alias::text ORDER BY m.alias) AS aliases
        FROM mlflow.registered_model_aliases m
        WHERE m.name = v.name AND m.version = v.version
    ) a ON true
    LEFT JOIN LATERAL (
        SELECT jsonb_object_agg(g.key, g.value) AS tags
        FROM mlflow.model_version_tags g
        WHERE g.name = v.name AND g.version = v.version
    ) t ON true
    WHERE v.current_stage IS DISTINCT FROM 'Deleted_Internal';
END
$$""",
    "CREATE VIEW model_registry AS SELECT * FROM model_registry_rows()",
)

# The triggers that log accepted spans' changes in `span_changes`: one row per chart and
# statement, from the statement's transition tables (a bulk import costs one insert).
SPAN_CHANGES_SQL = (
    """
CREATE FUNCTION log_span_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO span_changes (chart_id, spans)
        SELECT chart_id, count(*) FROM new_spans WHERE status = 'accepted' GROUP BY chart_id;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO span_changes (chart_id, spans)
        SELECT chart_id, count(*) FROM old_spans WHERE status = 'accepted' GROUP BY chart_id;
    ELSE
        INSERT INTO span_changes (chart_id, spans)
        SELECT n.chart_id, count(*) FROM new_spans n JOIN old_spans o ON o.id = n.id
        WHERE 'accepted' IN (n.status, o.status) GROUP BY n.chart_id;
    END IF;
    RETURN NULL;
END
$$""",
    "CREATE TRIGGER span_changes_inserted AFTER INSERT ON span_annotations "
    "REFERENCING NEW TABLE AS new_spans FOR EACH STATEMENT EXECUTE FUNCTION log_span_changes()",
    "CREATE TRIGGER span_changes_updated AFTER UPDATE ON span_annotations "
    "REFERENCING OLD TABLE AS old_spans NEW TABLE AS new_spans "
    "FOR EACH STATEMENT EXECUTE FUNCTION log_span_changes()",
    "CREATE TRIGGER span_changes_deleted AFTER DELETE ON span_annotations "
    "REFERENCING OLD TABLE AS old_spans FOR EACH STATEMENT EXECUTE FUNCTION log_span_changes()",
)

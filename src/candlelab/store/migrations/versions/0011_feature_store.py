"""The feature store: builds per chart with their stale range, values packed by blocks.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 08:00:00

`feature_values` (one float8 array per bar) becomes a view over `feature_blocks`, which
packs runs of bars into one bytea: a training read takes one value per block instead of
one array per bar (docs/benchmarks.md). No feature values were written before this
revision, so nothing is carried over. Bars written into a built range mark the build
stale: updates and deletes by trigger, inserts by candlelab's own write statements.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

FEATURE_STORE_SQL = (
    # Blocks are read whole or sliced by offset; compressing float64 gains little and
    # would make every slice decompress the whole value.
    "ALTER TABLE feature_blocks ALTER COLUMN times SET STORAGE EXTERNAL",
    "ALTER TABLE feature_blocks ALTER COLUMN vectors SET STORAGE EXTERNAL",
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
    # Updates and deletes from anywhere (psql included) mark the builds they touch;
    # inserts are marked by the statements that write them (`market/candles.sql`), so
    # a bulk COPY pays nothing for a transition table.
    """
CREATE FUNCTION candles_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        PERFORM mark_features_stale(chart_id, min(time)) FROM (
            SELECT chart_id, time FROM old_rows UNION ALL SELECT chart_id, time FROM new_rows
        ) changed GROUP BY chart_id;
    ELSE
        PERFORM mark_features_stale(chart_id, min(time)) FROM old_rows GROUP BY chart_id;
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
)


FEATURE_VALUES_LONG = """
CREATE VIEW feature_values_long AS
SELECT v.feature_set_id, v.chart_id, v.time, f.name AS feature, f.value
FROM feature_values v
JOIN feature_sets s ON s.id = v.feature_set_id
CROSS JOIN LATERAL unnest(s.columns, v.values) AS f(name, value)
"""


def _feature_set_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["feature_set_id"], ["feature_sets.id"],
        name=op.f(f"fk_{table}_feature_set_id_feature_sets"), ondelete="CASCADE",
    )  # fmt: skip


def _chart_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["chart_id"], ["charts.id"], name=op.f(f"fk_{table}_chart_id_charts"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.execute("DROP VIEW feature_values_long")
    op.drop_table("feature_values")
    op.create_table(
        "feature_builds",
        sa.Column("feature_set_id", sa.BigInteger(), nullable=False),
        sa.Column("chart_id", sa.BigInteger(), nullable=False),
        sa.Column("first_bar", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_bar", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bars", sa.BigInteger(), nullable=False),
        sa.Column("warmup", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column(
            "depends_on",
            postgresql.ARRAY(sa.BigInteger()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("stale_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "built_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.CheckConstraint(
            "first_bar <= last_bar AND bars > 0", name=op.f("ck_feature_builds_range")
        ),
        _chart_fk("feature_builds"),
        _feature_set_fk("feature_builds"),
        sa.PrimaryKeyConstraint("feature_set_id", "chart_id", name=op.f("pk_feature_builds")),
    )
    op.create_index(op.f("ix_feature_builds_chart_id"), "feature_builds", ["chart_id"])
    op.create_table(
        "feature_blocks",
        sa.Column("feature_set_id", sa.BigInteger(), nullable=False),
        sa.Column("chart_id", sa.BigInteger(), nullable=False),
        sa.Column("first_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bars", sa.Integer(), nullable=False),
        sa.Column("width", sa.SmallInteger(), nullable=False),
        sa.Column("times", sa.LargeBinary(), nullable=False),
        sa.Column("vectors", sa.LargeBinary(), nullable=False),
        sa.Column("nans", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.CheckConstraint(
            "first_time <= last_time AND bars > 0 AND width > 0"
            " AND octet_length(times) = 8 * bars AND octet_length(vectors) = 8 * bars * width",
            name=op.f("ck_feature_blocks_packing"),
        ),
        _chart_fk("feature_blocks"),
        _feature_set_fk("feature_blocks"),
        sa.PrimaryKeyConstraint(
            "feature_set_id", "chart_id", "first_time", name=op.f("pk_feature_blocks")
        ),
    )
    for statement in FEATURE_STORE_SQL:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP VIEW feature_values_long")
    op.execute("DROP VIEW feature_values")
    op.execute("DROP TRIGGER candles_deleted ON candles")
    op.execute("DROP TRIGGER candles_updated ON candles")
    for function in ("candles_changed()", "mark_features_stale(bigint, timestamptz)",
                     "packed_float8(bytea, integer)", "packed_int8(bytea, integer)"):  # fmt: skip
        op.execute(f"DROP FUNCTION {function}")
    op.drop_table("feature_blocks")
    op.drop_table("feature_builds")
    op.create_table(
        "feature_values",
        sa.Column("feature_set_id", sa.BigInteger(), nullable=False),
        sa.Column("chart_id", sa.BigInteger(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("values", postgresql.ARRAY(sa.Double()), nullable=False),
        _chart_fk("feature_values"),
        _feature_set_fk("feature_values"),
        sa.PrimaryKeyConstraint(
            "feature_set_id", "chart_id", "time", name=op.f("pk_feature_values")
        ),
    )
    op.execute(FEATURE_VALUES_LONG)

"""The whole schema: charts and candles, labels, features, runs, deployments, signals, retraining.

Revision ID: 0001
Revises:
Create Date: 2026-11-21 22:39:37.225293
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen here, not imported: a migration must keep creating what it created on the day it shipped.
FEATURE_VALUES_LONG = """
CREATE VIEW feature_values_long AS
SELECT v.feature_set_id, v.chart_id, v.time, f.name AS feature, f.value
FROM feature_values v
JOIN feature_sets s ON s.id = v.feature_set_id
CROSS JOIN LATERAL unnest(s.columns, v.values) AS f(name, value)
"""


def upgrade() -> None:
    op.create_table(
        "annotation_types",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("color", sa.Text(), nullable=False),
        sa.Column("shape", sa.Text(), server_default=sa.text("'circle'"), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotation_types")),
        sa.UniqueConstraint("name", name=op.f("uq_annotation_types_name")),
    )
    op.create_table(
        "charts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("symbol", sa.Text(), nullable=False),
        sa.Column("timeframe", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("timezone", sa.Text(), server_default=sa.text("'UTC'"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charts")),
        sa.UniqueConstraint(
            "symbol", "timeframe", "source", name=op.f("uq_charts_symbol_timeframe_source")
        ),
    )
    op.create_table(
        "feature_sets",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition_hash", sa.Text(), nullable=False),
        sa.Column("columns", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("definition", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_sets")),
        sa.UniqueConstraint("definition_hash", name=op.f("uq_feature_sets_definition_hash")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_feature_sets_name_version")),
    )
    op.create_table(
        "model_deployments",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("model_name", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("alias", sa.Text(), nullable=False),
        sa.Column("traffic_share", sa.Double(), server_default=sa.text("1.0"), nullable=False),
        sa.Column("changed_by", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "traffic_share BETWEEN 0 AND 1", name=op.f("ck_model_deployments_traffic_share")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_deployments")),
    )
    op.create_index(
        op.f("ix_model_deployments_model_name_alias_changed_at"),
        "model_deployments",
        ["model_name", "alias", "changed_at"],
        unique=False,
    )
    op.create_table(
        "span_label_types",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("color", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("hotkey", sa.Text(), nullable=True),
        sa.Column("direction", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("direction IN (-1, 0, 1)", name=op.f("ck_span_label_types_direction")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_span_label_types")),
        sa.UniqueConstraint("hotkey", name=op.f("uq_span_label_types_hotkey")),
        sa.UniqueConstraint("name", name=op.f("uq_span_label_types_name")),
    )
    op.create_table(
        "training_runs",
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("model_type", sa.Text(), nullable=False),
        sa.Column("experiment_name", sa.Text(), nullable=False),
        sa.Column("pipeline_config_hash", sa.Text(), nullable=True),
        sa.Column("dataset_version", sa.Text(), nullable=True),
        sa.Column(
            "metrics",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "params",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("status", sa.Text(), server_default=sa.text("'running'"), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "chart_ids",
            postgresql.ARRAY(sa.BigInteger()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("data_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("data_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("total_samples", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'finished', 'failed', 'killed')",
            name=op.f("ck_training_runs_status"),
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_training_runs")),
    )
    op.create_index(
        op.f("ix_training_runs_created_at"), "training_runs", ["created_at"], unique=False
    )
    op.create_table(
        "annotations",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("chart_id", sa.BigInteger(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("annotation_type_id", sa.BigInteger(), nullable=True),
        sa.Column("geometry", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["annotation_type_id"],
            ["annotation_types.id"],
            name=op.f("fk_annotations_annotation_type_id_annotation_types"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["chart_id"],
            ["charts.id"],
            name=op.f("fk_annotations_chart_id_charts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotations")),
    )
    op.create_index(
        op.f("ix_annotations_chart_id_time"), "annotations", ["chart_id", "time"], unique=False
    )
    op.create_table(
        "candles",
        sa.Column("chart_id", sa.BigInteger(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("open", sa.Double(), nullable=False),
        sa.Column("high", sa.Double(), nullable=False),
        sa.Column("low", sa.Double(), nullable=False),
        sa.Column("close", sa.Double(), nullable=False),
        sa.Column("volume", sa.Double(), nullable=False),
        sa.Column("vwap", sa.Double(), nullable=True),
        sa.Column("trades", sa.BigInteger(), nullable=True),
        sa.Column("taker_buy_volume", sa.Double(), nullable=True),
        sa.CheckConstraint(
            "low <= least(open, close) AND high >= greatest(open, close)",
            name=op.f("ck_candles_ohlc"),
        ),
        sa.CheckConstraint(
            "volume >= 0 AND (taker_buy_volume IS NULL OR taker_buy_volume BETWEEN 0 AND volume) AND (trades IS NULL OR trades >= 0)",
            name=op.f("ck_candles_volume"),
        ),
        sa.ForeignKeyConstraint(
            ["chart_id"], ["charts.id"], name=op.f("fk_candles_chart_id_charts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("chart_id", "time", name=op.f("pk_candles")),
    )
    op.create_table(
        "feature_values",
        sa.Column("feature_set_id", sa.BigInteger(), nullable=False),
        sa.Column("chart_id", sa.BigInteger(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("values", postgresql.ARRAY(sa.Double()), nullable=False),
        sa.ForeignKeyConstraint(
            ["chart_id"],
            ["charts.id"],
            name=op.f("fk_feature_values_chart_id_charts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["feature_set_id"],
            ["feature_sets.id"],
            name=op.f("fk_feature_values_feature_set_id_feature_sets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "feature_set_id", "chart_id", "time", name=op.f("pk_feature_values")
        ),
    )
    op.create_table(
        "model_performance",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("model_name", sa.Text(), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("chart_id", sa.BigInteger(), nullable=True),
        sa.Column("metrics", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "window_end >= window_start", name=op.f("ck_model_performance_window_order")
        ),
        sa.ForeignKeyConstraint(
            ["chart_id"],
            ["charts.id"],
            name=op.f("fk_model_performance_chart_id_charts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_performance")),
    )
    op.create_index(
        op.f("ix_model_performance_model_name_model_version_window_end"),
        "model_performance",
        ["model_name", "model_version", "window_end"],
        unique=False,
    )
    op.create_table(
        "signals",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("chart_id", sa.BigInteger(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_name", sa.Text(), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("pred", sa.Double(), nullable=False),
        sa.Column("proba", sa.Double(), nullable=True),
        sa.Column("features", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("latency_ms", sa.Double(), nullable=True),
        sa.Column("outcome", sa.Double(), nullable=True),
        sa.Column("realized_rr", sa.Double(), nullable=True),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "latency_ms IS NULL OR latency_ms >= 0", name=op.f("ck_signals_latency")
        ),
        sa.CheckConstraint("proba IS NULL OR proba BETWEEN 0 AND 1", name=op.f("ck_signals_proba")),
        sa.ForeignKeyConstraint(
            ["chart_id"], ["charts.id"], name=op.f("fk_signals_chart_id_charts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signals")),
        sa.UniqueConstraint(
            "chart_id",
            "time",
            "model_name",
            "model_version",
            name=op.f("uq_signals_chart_id_time_model_name_model_version"),
        ),
    )
    op.create_index(
        op.f("ix_signals_model_name_model_version_time"),
        "signals",
        ["model_name", "model_version", "time"],
        unique=False,
    )
    op.create_table(
        "span_annotations",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("chart_id", sa.BigInteger(), nullable=False),
        sa.Column("label_type_id", sa.BigInteger(), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.Text(), server_default=sa.text("'manual'"), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'accepted'"), nullable=False),
        sa.Column("confidence", sa.Double(), nullable=True),
        sa.Column("sub_spans", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("model_prediction", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("training_run_id", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("reviewed_by", sa.Text(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "source IN ('manual', 'model', 'import')", name=op.f("ck_span_annotations_source")
        ),
        sa.CheckConstraint(
            "status IN ('accepted', 'proposed', 'rejected')",
            name=op.f("ck_span_annotations_status"),
        ),
        sa.CheckConstraint(
            "confidence IS NULL OR confidence BETWEEN 0 AND 1",
            name=op.f("ck_span_annotations_confidence"),
        ),
        sa.CheckConstraint("end_time >= start_time", name=op.f("ck_span_annotations_time_order")),
        sa.ForeignKeyConstraint(
            ["chart_id"],
            ["charts.id"],
            name=op.f("fk_span_annotations_chart_id_charts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["label_type_id"],
            ["span_label_types.id"],
            name=op.f("fk_span_annotations_label_type_id_span_label_types"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["training_run_id"],
            ["training_runs.run_id"],
            name=op.f("fk_span_annotations_training_run_id_training_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_span_annotations")),
    )
    op.create_index(
        op.f("ix_span_annotations_chart_id_source_start_time"),
        "span_annotations",
        ["chart_id", "source", "start_time"],
        unique=False,
    )
    op.create_index(
        op.f("ix_span_annotations_training_run_id"),
        "span_annotations",
        ["training_run_id"],
        unique=False,
    )
    op.create_table(
        "retrain_queue",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("signal_id", sa.BigInteger(), nullable=True),
        sa.Column("model_name", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("priority", sa.SmallInteger(), server_default=sa.text("3"), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "inserted_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("training_run_id", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'processing', 'completed', 'failed')",
            name=op.f("ck_retrain_queue_status"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_retrain_queue_attempts")),
        sa.CheckConstraint("priority BETWEEN 1 AND 5", name=op.f("ck_retrain_queue_priority")),
        sa.ForeignKeyConstraint(
            ["signal_id"],
            ["signals.id"],
            name=op.f("fk_retrain_queue_signal_id_signals"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["training_run_id"],
            ["training_runs.run_id"],
            name=op.f("fk_retrain_queue_training_run_id_training_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retrain_queue")),
    )
    op.create_index(
        "ix_retrain_queue_pending",
        "retrain_queue",
        ["priority", "inserted_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.execute(FEATURE_VALUES_LONG)


def downgrade() -> None:
    op.execute("DROP VIEW feature_values_long")
    op.drop_index(
        "ix_retrain_queue_pending",
        table_name="retrain_queue",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_table("retrain_queue")
    op.drop_index(op.f("ix_span_annotations_training_run_id"), table_name="span_annotations")
    op.drop_index(
        op.f("ix_span_annotations_chart_id_source_start_time"), table_name="span_annotations"
    )
    op.drop_table("span_annotations")
    op.drop_index(op.f("ix_signals_model_name_model_version_time"), table_name="signals")
    op.drop_table("signals")
    op.drop_index(
        op.f("ix_model_performance_model_name_model_version_window_end"),
        table_name="model_performance",
    )
    op.drop_table("model_performance")
    op.drop_table("feature_values")
    op.drop_table("candles")
    op.drop_index(op.f("ix_annotations_chart_id_time"), table_name="annotations")
    op.drop_table("annotations")
    op.drop_index(op.f("ix_training_runs_created_at"), table_name="training_runs")
    op.drop_table("training_runs")
    op.drop_table("span_label_types")
    op.drop_index(
        op.f("ix_model_deployments_model_name_alias_changed_at"), table_name="model_deployments"
    )
    op.drop_table("model_deployments")
    op.drop_table("feature_sets")
    op.drop_table("charts")
    op.drop_table("annotation_types")

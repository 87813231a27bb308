"""Signals as the phase-1 spec has them, and the model registry as a view.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 18:00:00

`signals.pred` and `outcome` become words (the class a model predicted, the outcome
win / loss / timeout / ambiguous); a signal keeps the alias its version was asked by and
the human label of its bar. A GIN index (jsonb_path_ops) serves containment and jsonpath
equality on the features. The spec's (chart, time) and (model, version) indexes are
the leading columns of the unique constraint and of the (model, version, time) index
already there, so they are not made twice. `model_registry` shows MLflow's registered
versions with their training runs (`store/schema.py` says why through a function).
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# As store/schema.py has them at this revision.
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


def upgrade() -> None:
    op.execute(
        "ALTER TABLE signals ALTER COLUMN pred TYPE text USING pred::text, "
        "ALTER COLUMN outcome TYPE text USING outcome::text"
    )
    op.execute("ALTER TABLE signals ADD COLUMN alias text, ADD COLUMN label text")
    op.execute("CREATE INDEX ix_signals_features ON signals USING gin (features jsonb_path_ops)")
    for statement in MODELS_SQL:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP VIEW model_registry")
    op.execute("DROP FUNCTION model_registry_rows()")
    op.execute("DROP INDEX ix_signals_features")
    op.execute("ALTER TABLE signals DROP COLUMN label, DROP COLUMN alias")
    # A word has no number: a class or outcome that is not one is lost going back.
    for column, missing in (("pred", "'NaN'"), ("outcome", "NULL")):
        op.execute(
            f"ALTER TABLE signals ALTER COLUMN {column} TYPE double precision USING "
            f"CASE WHEN {column} ~ '^-?[0-9]+(\\.[0-9]+)?$' THEN {column}::float8 "
            f"ELSE {missing} END"
        )

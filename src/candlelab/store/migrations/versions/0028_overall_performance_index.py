"""Each model version's overall performance record found by an index.

Revision ID: 0028
Revises: 0026
Create Date: 2026-12-06 02:00:00

`/metrics` reads every version's overall record (window 'all', every chart) at each
scrape. The table holds a row per window, chart and version (515,000 for 100 versions of
hourly signals on 100 charts), and no index served that filter: every scrape scanned
them all. A partial index holds only the overall rows.
"""

from alembic import op

revision = "0028"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_model_performance_model_name_model_version ON model_performance "
               "(model_name, model_version) WHERE chart_id IS NULL AND window_kind = 'all'")  # fmt: skip


def downgrade() -> None:
    op.execute("DROP INDEX ix_model_performance_model_name_model_version")

"""Label and annotation type names unique whatever their case and surrounding spaces.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 01:00:00

A database may already hold names that differ only so (`uptrend` and `UPTREND `, from
before this revision or from a legacy import). The first of each such group (lowest id)
keeps its name; each later one is renamed `<name> (duplicate <id>)`, trimmed, so the
index can be built and nothing is lost: the spans and marks keep their type by id, and a
person can merge or rename the types afterwards. (Were such a new name itself taken, the
upgrade would stop on the index's unique error, in its transaction, having changed nothing.)
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

NAME_KEY = sa.text("lower(btrim(name))")  # as store/schema.py defines the indexes
RENAMES = (
    "UPDATE span_label_types t SET name = btrim(t.name) || ' (duplicate ' || t.id || ')' "
    "WHERE EXISTS (SELECT 1 FROM span_label_types o WHERE o.id < t.id "
    "AND lower(btrim(o.name)) = lower(btrim(t.name)))",
    "UPDATE annotation_types t SET name = btrim(t.name) || ' (duplicate ' || t.id || ')' "
    "WHERE EXISTS (SELECT 1 FROM annotation_types o WHERE o.id < t.id "
    "AND lower(btrim(o.name)) = lower(btrim(t.name)))",
)
TABLES = ("span_label_types", "annotation_types")


def upgrade() -> None:
    for rename in RENAMES:
        op.execute(rename)
    for table in TABLES:
        op.create_index(f"uq_{table}_name_key", table, [NAME_KEY], unique=True)


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"uq_{table}_name_key", table_name=table)

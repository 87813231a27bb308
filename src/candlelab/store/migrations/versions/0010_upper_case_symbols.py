"""Symbols stored as the one rule has them: trimmed and upper-cased.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 02:00:00

Before this revision the command line kept a symbol's case while the upload upper-cased
it, so `btcusdt` could be stored; every entry point now stores `BTCUSDT`
(`market/symbols.py`), and a chart stored as `btcusdt` would be out of reach of the
commands that name it. Such charts take the stored form here, unless a chart of that
form already exists for the same timeframe and source: those pairs are left as they are
(merging two charts' bars and labels is a person's decision), and stay reachable by id.
Only printable ASCII symbols are changed, where PostgreSQL's upper() and Python's agree.
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UPPER_CASED = """
UPDATE charts c SET symbol = upper(btrim(c.symbol))
WHERE c.symbol <> upper(btrim(c.symbol)) AND btrim(c.symbol) ~ '^[ -~]+$'
  AND NOT EXISTS (
      SELECT 1 FROM charts o
      WHERE o.id <> c.id AND o.timeframe = c.timeframe AND o.source = c.source
        AND upper(btrim(o.symbol)) = upper(btrim(c.symbol))
  )
"""


def upgrade() -> None:
    op.execute(UPPER_CASED)


def downgrade() -> None:
    """Nothing to undo: an upper-cased symbol is a valid symbol before this revision too."""

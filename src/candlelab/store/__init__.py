"""Database plumbing, below every stage: it knows PostgreSQL, not candles.

`database` connects and turns driver errors into domain errors (by constraint name);
`schema` defines every table of schema `public`; `migrations/` (Alembic) creates and
upgrades them; `embedded` runs candlelab's own PostgreSQL server; `urls` writes each
client's URL form; `queries` loads the named SQL files that sit beside the modules
owning each table; `binary_copy` writes PostgreSQL's binary COPY format from NumPy.
It owns no table's rows: it owns their definitions and their migrations.
"""

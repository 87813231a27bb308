-- version_table --
-- Alembic's version table (where Alembic looks for it), or NULL: never migrated.
SELECT to_regclass('alembic_version')

-- current --
-- The revision the database is at; no row once downgraded to base.
SELECT version_num FROM alembic_version

-- set_by_hash --
-- The stored version with this definition hash, if any.
SELECT id, name, version, definition_hash, columns, definition, created_at
FROM feature_sets WHERE definition_hash = %(hash)s;

-- insert_set --
-- A new version of a set: one more than the newest of its name. The table's unique
-- (name, version) refuses a concurrent twin; the caller retries.
INSERT INTO feature_sets (name, version, definition_hash, columns, definition)
SELECT %(name)s, coalesce(max(version), 0) + 1, %(hash)s, %(columns)s, %(definition)s
FROM feature_sets WHERE name = %(name)s
RETURNING id, name, version, definition_hash, columns, definition, created_at;

-- lock_set_name --
-- Versions of one name are numbered one at a time.
SELECT pg_advisory_xact_lock(%(lock_class)s, hashtext(%(name)s));

-- newest_set --
-- The newest version of a set.
SELECT id, name, version, definition_hash, columns, definition, created_at
FROM feature_sets WHERE name = %(name)s ORDER BY version DESC LIMIT 1;

-- set_version --
-- One version of a set, by number.
SELECT id, name, version, definition_hash, columns, definition, created_at
FROM feature_sets WHERE name = %(name)s AND version = %(version)s;

-- set_by_hash_prefix --
-- Versions of a set whose hash starts with a prefix (more than one: ambiguous).
SELECT id, name, version, definition_hash, columns, definition, created_at
FROM feature_sets WHERE name = %(name)s AND starts_with(definition_hash, %(prefix)s)
ORDER BY version LIMIT 2;

-- all_sets --
-- Every version of every set, with what is materialised of it.
SELECT s.id, s.name, s.version, s.definition_hash, s.columns, s.definition, s.created_at,
       count(b.chart_id), coalesce(sum(b.bars), 0), count(b.stale_from)
FROM feature_sets s LEFT JOIN feature_builds b ON b.feature_set_id = s.id
GROUP BY s.id ORDER BY s.name, s.version;

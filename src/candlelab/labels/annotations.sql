-- annotation_types --
-- Every annotation type, active ones first, then by name.
SELECT id, name, color, shape, is_active, created_at
FROM annotation_types ORDER BY is_active DESC, name;

-- annotation_type --
-- One annotation type.
SELECT id, name, color, shape, is_active, created_at FROM annotation_types WHERE id = %(id)s;

-- add_annotation_type --
-- A new annotation type; returns its id.
INSERT INTO annotation_types (name, color, shape) VALUES (%(name)s, %(color)s, %(shape)s)
RETURNING id;

-- update_annotation_type --
-- Each field given replaces the stored one; NULL keeps it.
UPDATE annotation_types SET
    name = coalesce(%(name)s, name),
    color = coalesce(%(color)s, color),
    shape = coalesce(%(shape)s, shape),
    is_active = coalesce(%(is_active)s, is_active)
WHERE id = %(id)s
RETURNING id;

-- annotations_in_window --
-- A chart's point annotations in [start, end], in time order, with their type's look.
SELECT a.id, a.chart_id, a.time, a.annotation_type_id, t.name, t.color, t.shape, a.price,
       a.note, a.created_by, a.created_at, a.updated_at, a.version
FROM annotations a
LEFT JOIN annotation_types t ON t.id = a.annotation_type_id
WHERE a.chart_id = %(chart_id)s AND a.time BETWEEN %(start)s AND %(end)s
ORDER BY a.time, a.id
LIMIT %(limit)s OFFSET %(offset)s;

-- annotation --
-- One point annotation with its type's look.
SELECT a.id, a.chart_id, a.time, a.annotation_type_id, t.name, t.color, t.shape, a.price,
       a.note, a.created_by, a.created_at, a.updated_at, a.version
FROM annotations a
LEFT JOIN annotation_types t ON t.id = a.annotation_type_id
WHERE a.id = %(id)s;

-- add_annotation --
-- A new point annotation; returns its id.
INSERT INTO annotations (chart_id, time, annotation_type_id, price, note, created_by)
VALUES (%(chart_id)s, %(time)s, %(annotation_type_id)s, %(price)s, %(note)s, %(created_by)s)
RETURNING id;

-- update_annotation --
-- Changed only if still at the version the editor read; NULL keeps a field.
UPDATE annotations SET
    annotation_type_id = coalesce(%(annotation_type_id)s, annotation_type_id),
    price = coalesce(%(price)s, price),
    note = coalesce(%(note)s, note),
    version = version + 1,
    updated_at = now()
WHERE id = %(id)s AND version = %(version)s
RETURNING id;

-- delete_annotation --
-- The annotation deleted, only if still at the version the editor read.
DELETE FROM annotations WHERE id = %(id)s AND version = %(version)s RETURNING id;

-- annotation_type_names --
-- Every annotation type's id and name, to compare by name key in Python.
SELECT id, name FROM annotation_types;

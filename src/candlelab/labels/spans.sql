-- chart_spans --
-- A chart's span annotations in time order; source NULL means every source.
SELECT s.id, s.chart_id, t.name AS label, s.start_time, s.end_time, s.source, s.status,
       s.confidence, s.training_run_id
FROM span_annotations s
JOIN span_label_types t ON t.id = s.label_type_id
WHERE s.chart_id = %(chart_id)s
  AND (%(source)s::text IS NULL OR s.source = %(source)s::text)
ORDER BY s.start_time, s.id;

-- add_label_type --
-- A new span label type; returns its id.
INSERT INTO span_label_types (name, color, description, hotkey, direction)
VALUES (%(name)s, %(color)s, %(description)s, %(hotkey)s, %(direction)s)
RETURNING id;

-- add_span --
-- A new span annotation; returns its id.
INSERT INTO span_annotations
    (chart_id, label_type_id, start_time, end_time, source, status, confidence,
     training_run_id, created_by)
VALUES (%(chart_id)s, %(label_type_id)s, %(start_time)s, %(end_time)s, %(source)s, %(status)s,
        %(confidence)s, %(training_run_id)s, %(created_by)s)
RETURNING id;

-- label_types --
-- Every span label type, active ones first, then by name.
SELECT id, name, color, description, hotkey, direction, is_active, created_at
FROM span_label_types
ORDER BY is_active DESC, name;

-- label_type --
-- One span label type.
SELECT id, name, color, description, hotkey, direction, is_active, created_at
FROM span_label_types WHERE id = %(id)s;

-- update_label_type --
-- Each field given replaces the stored one; NULL keeps it (a hotkey is cleared with '').
UPDATE span_label_types SET
    name = coalesce(%(name)s, name),
    color = coalesce(%(color)s, color),
    description = coalesce(%(description)s, description),
    hotkey = CASE WHEN %(hotkey)s::text = '' THEN NULL ELSE coalesce(%(hotkey)s, hotkey) END,
    direction = coalesce(%(direction)s, direction),
    is_active = coalesce(%(is_active)s, is_active)
WHERE id = %(id)s
RETURNING id;

-- spans_in_window --
-- A chart's spans that overlap [start, end], in time order, with their label's look and a
-- proposal's prediction; each filter NULL means any.
SELECT s.id, s.chart_id, s.label_type_id, t.name, t.color, s.start_time, s.end_time,
       s.source, s.status, s.confidence, s.created_by, s.reviewed_by, s.reviewed_at,
       s.created_at, s.updated_at, s.version, s.model_prediction
FROM span_annotations s
JOIN span_label_types t ON t.id = s.label_type_id
WHERE s.chart_id = %(chart_id)s
  AND s.start_time <= %(end)s AND s.end_time >= %(start)s
  AND (%(source)s::text IS NULL OR s.source = %(source)s::text)
  AND (%(status)s::text IS NULL OR s.status = %(status)s::text)
  AND (%(label_type_id)s::bigint IS NULL OR s.label_type_id = %(label_type_id)s::bigint)
ORDER BY s.start_time, s.id
LIMIT %(limit)s OFFSET %(offset)s;

-- span --
-- One span with its label's look and a proposal's prediction.
SELECT s.id, s.chart_id, s.label_type_id, t.name, t.color, s.start_time, s.end_time,
       s.source, s.status, s.confidence, s.created_by, s.reviewed_by, s.reviewed_at,
       s.created_at, s.updated_at, s.version, s.model_prediction
FROM span_annotations s
JOIN span_label_types t ON t.id = s.label_type_id
WHERE s.id = %(id)s;

-- update_span --
-- The span changed only if it is still at the version the editor read; NULL keeps a field.
UPDATE span_annotations SET
    label_type_id = coalesce(%(label_type_id)s, label_type_id),
    start_time = coalesce(%(start_time)s, start_time),
    end_time = coalesce(%(end_time)s, end_time),
    version = version + 1,
    updated_at = now()
WHERE id = %(id)s AND version = %(version)s
RETURNING id;

-- review_span --
-- A proposal accepted or rejected: who and when are recorded.
UPDATE span_annotations SET
    status = %(status)s, reviewed_by = %(reviewer)s, reviewed_at = now(),
    version = version + 1, updated_at = now()
WHERE id = %(id)s AND version = %(version)s
RETURNING id;

-- review_window --
-- Every proposal of the chart in [start, end] accepted or rejected at once; their ids.
UPDATE span_annotations SET
    status = %(status)s, reviewed_by = %(reviewer)s, reviewed_at = now(),
    version = version + 1, updated_at = now()
WHERE chart_id = %(chart_id)s AND status = 'proposed'
  AND start_time <= %(end)s AND end_time >= %(start)s
RETURNING id;

-- delete_span --
-- The span deleted, only if still at the version the editor read.
DELETE FROM span_annotations WHERE id = %(id)s AND version = %(version)s RETURNING id;

-- label_type_names --
-- Every span label type's id and name: few enough to compare by name key in Python,
-- where the key (trimmed, case-folded) is the one `fields.name_key` defines.
SELECT id, name FROM span_label_types;

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

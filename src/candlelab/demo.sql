-- seed_label_type --
-- A span label type the demo starts with; kept as it is when its name or key is taken.
INSERT INTO span_label_types (name, color, hotkey, direction, description)
VALUES (%(name)s, %(color)s, %(hotkey)s, %(direction)s, %(description)s)
ON CONFLICT DO NOTHING;

-- seed_annotation_type --
-- An annotation type the demo starts with; kept as it is when its name is taken.
INSERT INTO annotation_types (name, color, shape) VALUES (%(name)s, %(color)s, %(shape)s)
ON CONFLICT DO NOTHING;

-- label_ids --
-- The ids of span label types, by name.
SELECT name, id FROM span_label_types WHERE name = ANY(%(names)s);

-- has_proposals --
-- Whether the chart already has model spans (the demo proposes once).
SELECT EXISTS (SELECT 1 FROM span_annotations WHERE chart_id = %(chart_id)s AND source = 'model');

-- waiting_proposals --
-- Model spans not reviewed yet, over every chart.
SELECT count(*) FROM span_annotations WHERE source = 'model' AND status = 'proposed';

-- has_manual_spans --
-- Whether a person (or the demo's labeller) has drawn spans on the chart already.
SELECT EXISTS (SELECT 1 FROM span_annotations WHERE chart_id = %(chart_id)s AND source = 'manual');

-- first_bar --
-- The chart's first stored bar.
SELECT min(time) FROM candles WHERE chart_id = %(chart_id)s;

-- run_proposals --
-- The spans a training run proposed on a chart, with their label.
SELECT t.name, s.start_time, s.end_time
FROM span_annotations s JOIN span_label_types t ON t.id = s.label_type_id
WHERE s.chart_id = %(chart_id)s AND s.training_run_id = %(run_id)s
ORDER BY s.start_time;

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

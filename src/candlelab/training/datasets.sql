-- teaching_spans --
-- The charts' spans that decide what is taught: accepted ones, rejected model proposals
-- (evidence against their label) and proposals waiting for review (their bars are not
-- taught yet), with their label's name and direction, by chart and start.
SELECT s.chart_id, s.id, s.version, t.name, t.direction, s.start_time, s.end_time, s.status,
       s.updated_at
FROM span_annotations s
JOIN span_label_types t ON t.id = s.label_type_id
WHERE s.chart_id = ANY(%(chart_ids)s::bigint[])
  AND (s.status <> 'rejected' OR s.source = 'model')
ORDER BY s.chart_id, s.start_time, s.id;

-- record_dataset --
-- A dataset version, once: the same version made again is the same data.
INSERT INTO datasets (version, feature_set_id, target_hash, definition, chart_ids, data_start,
                      data_end, rows, classes, class_counts, ambiguous, candles_digest, label_digest,
                      spans)
VALUES (%(version)s, %(feature_set_id)s, %(target_hash)s, %(definition)s, %(chart_ids)s,
        %(data_start)s, %(data_end)s, %(rows)s, %(classes)s, %(class_counts)s, %(ambiguous)s,
        %(candles_digest)s, %(label_digest)s, %(spans)s)
ON CONFLICT (version) DO NOTHING;

-- dataset --
-- One dataset version as recorded.
SELECT version, feature_set_id, target_hash, definition, chart_ids, data_start, data_end, rows,
       classes, class_counts, ambiguous, candles_digest, label_digest, created_at
FROM datasets WHERE version = %(version)s;

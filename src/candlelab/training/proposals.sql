-- add_proposal --
-- A model's proposal, unless the same run proposed this span already, or a span a person
-- drew or reviewed overlaps it (those bars are decided); one row written or none.
INSERT INTO span_annotations
    (chart_id, label_type_id, start_time, end_time, source, status, confidence,
     model_prediction, training_run_id, created_by)
SELECT %(chart_id)s, %(label_type_id)s, %(start_time)s, %(end_time)s, 'model', 'proposed',
       %(confidence)s, %(prediction)s, %(run_id)s, %(created_by)s
WHERE NOT EXISTS (
    SELECT FROM span_annotations s
    WHERE s.chart_id = %(chart_id)s AND s.start_time <= %(end_time)s
      AND s.end_time >= %(start_time)s
      AND ((s.training_run_id = %(run_id)s AND s.label_type_id = %(label_type_id)s
            AND s.start_time = %(start_time)s AND s.end_time = %(end_time)s)
           OR s.source = 'manual' OR s.status <> 'proposed')
);

-- window_results --
-- A version's judged signals whose bar is in the window (served, shadowed or a
-- backtest's: all are judged the same way): how many, their mean result in R and how
-- many gained; and what the walk-forward validation of its training run measured on its
-- test blocks (NULL when the run recorded none).
SELECT count(s.realized_rr), avg(s.realized_rr), count(*) FILTER (WHERE s.realized_rr > 0),
       (SELECT (r.metrics ->> 'expectancy_r')::float8 FROM training_runs r
        WHERE r.model_name = %(model_name)s AND r.model_version = %(model_version)s
        ORDER BY r.created_at DESC LIMIT 1),
       (SELECT (r.metrics ->> 'hit_rate')::float8 FROM training_runs r
        WHERE r.model_name = %(model_name)s AND r.model_version = %(model_version)s
        ORDER BY r.created_at DESC LIMIT 1)
FROM signals s
WHERE s.model_name = %(model_name)s AND s.model_version = %(model_version)s
  AND s.time > %(start)s AND s.time <= %(end)s AND s.realized_rr IS NOT NULL;

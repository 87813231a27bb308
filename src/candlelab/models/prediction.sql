-- alias_version --
-- The version of a registered model that holds an alias, read from MLflow's registry
-- (read only: MLflow's migrations own schema mlflow).
SELECT version FROM mlflow.registered_model_aliases WHERE name = %(name)s AND alias = %(alias)s;

-- asked_bar --
-- A chart's own properties (as `charts.chart`) and the opens of the bar asked for: the
-- chart's two newest, newest first, when no time is asked; else the time, if the chart
-- has a bar opening then (none: empty). The first query of a prediction.
SELECT id, symbol, timeframe, source, timezone, calendar, bar_offset, base_chart_id,
       CASE WHEN %(time)s::timestamptz IS NULL
            THEN ARRAY(SELECT time FROM candles WHERE chart_id = c.id ORDER BY time DESC LIMIT 2)
            ELSE ARRAY(SELECT time FROM candles WHERE chart_id = c.id AND time = %(time)s)
       END
FROM charts c WHERE id = %(chart_id)s;

-- newest_bar_opens --
-- A chart's `bars` newest bar opens, newest first.
SELECT time FROM candles WHERE chart_id = %(chart_id)s ORDER BY time DESC LIMIT %(bars)s;

-- bar_state --
-- In one round trip, what a prediction reads of a bar once it knows the version: the
-- version's signal there (`signals.stored_signal`; NULLs: none), from which bar the
-- chart's stored vectors are stale (NULL: current, or not built), its newest stored bar
-- with that bar's vector cut out of its last block (NULL: none), and for a bar before
-- that one, its vector cut out of the block holding it (`blocks.vector_at`). The bar is
-- found by its packed time (8 bytes: `blocks.packed_times`) in the block's times; a
-- match off the 8-byte grid (bytes of two neighbours) gives NULL, and the caller reads
-- the bar as `vector_at` does.
SELECT s.id, s.chart_id, s.time, s.model_name, s.model_version, s.alias, s.pred, s.proba,
       s.label, s.features, s.latency_ms, s.created_at, s.shadow,
       (SELECT stale_from FROM feature_builds
        WHERE feature_set_id = %(set_id)s AND chart_id = %(chart_id)s),
       b.last_time, substring(b.vectors FROM (b.bars - 1) * b.width * 8 + 1 FOR b.width * 8),
       (SELECT substring(vectors FROM (hit - 1) * width + 1 FOR width * 8)
        FROM feature_blocks, position(%(packed)s IN times) AS hit
        WHERE feature_set_id = %(set_id)s AND chart_id = %(chart_id)s
          AND first_time <= %(time)s AND last_time >= %(time)s AND %(time)s < b.last_time
          AND mod(hit, 8) = 1)
FROM (SELECT) AS one
LEFT JOIN signals s
    ON s.chart_id = %(chart_id)s AND s.time = %(time)s AND s.model_name = %(model_name)s
   AND s.model_version = %(model_version)s
LEFT JOIN LATERAL (
    SELECT last_time, bars, width, vectors FROM feature_blocks
    WHERE feature_set_id = %(set_id)s AND chart_id = %(chart_id)s
    ORDER BY first_time DESC LIMIT 1
) AS b ON true;

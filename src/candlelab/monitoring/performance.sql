-- changed_versions --
-- The model versions (of one model, or every one) with a signal written or judged since
-- their overall 'all' row was computed, or with no such row: the only ones a run reads.
-- One scan of the signals, grouped.
SELECT v.model_name, v.model_version
FROM (
    SELECT model_name, model_version, max(greatest(created_at, evaluated_at)) AS changed
    FROM signals
    WHERE %(model_name)s::text IS NULL OR model_name = %(model_name)s
    GROUP BY model_name, model_version
) v
LEFT JOIN model_performance p
  ON p.model_name = v.model_name AND p.model_version = v.model_version
 AND p.chart_id IS NULL AND p.window_kind = 'all'
WHERE p.computed_at IS NULL OR v.changed > p.computed_at
ORDER BY v.model_name, v.model_version;

-- version_signals --
-- Every signal of the versions, in one read: per version, its signals' columns as arrays
-- in bar order (one binary value each: no Python object per row), the bar's open and the
-- time it was last written or judged as microseconds since 1970, the result, the
-- probability and the latency NaN where there is none.
SELECT s.model_name, s.model_version,
       array_agg(s.chart_id ORDER BY s.time, s.chart_id),
       array_agg((extract(epoch FROM s.time) * 1000000)::bigint ORDER BY s.time, s.chart_id),
       array_agg((extract(epoch FROM greatest(s.created_at, s.evaluated_at)) * 1000000)::bigint
                 ORDER BY s.time, s.chart_id),
       array_agg(coalesce(s.realized_rr, 'NaN') ORDER BY s.time, s.chart_id),
       array_agg(coalesce(s.proba, 'NaN') ORDER BY s.time, s.chart_id),
       array_agg(coalesce(s.latency_ms, 'NaN') ORDER BY s.time, s.chart_id)
FROM signals s
JOIN unnest(%(names)s::text[], %(versions)s::integer[]) AS v (model_name, model_version)
  ON s.model_name = v.model_name AND s.model_version = v.model_version
GROUP BY s.model_name, s.model_version
ORDER BY s.model_name, s.model_version;

-- stored_windows --
-- When each stored window of the versions was computed (microseconds since 1970), chart 0
-- for all charts: a window none of whose signals changed since is not computed again.
SELECT model_name, model_version, coalesce(chart_id, 0), window_kind,
       (extract(epoch FROM window_start) * 1000000)::bigint,
       (extract(epoch FROM computed_at) * 1000000)::bigint
FROM model_performance
WHERE (model_name, model_version) IN (
    SELECT * FROM unnest(%(names)s::text[], %(versions)s::integer[])
);

-- upsert_window --
-- One window's figures, replacing what was stored for it; computed_at is the
-- transaction's start, before the signals were read, so a signal judged during the run
-- makes its window computed again next time.
INSERT INTO model_performance (
    model_name, model_version, chart_id, window_kind, window_start, window_end, signals,
    trades, wins, win_rate, win_rate_low, win_rate_high, profit_factor, expectancy_r, sqn,
    sharpe, sortino, max_drawdown_r, max_drawdown_days, brier, latency_p50_ms,
    latency_p95_ms, latency_p99_ms, reliability, first_signal, last_signal, computed_at
) VALUES (
    %(model_name)s, %(model_version)s, %(chart_id)s, %(window_kind)s, %(window_start)s,
    %(window_end)s, %(signals)s, %(trades)s, %(wins)s, %(win_rate)s, %(win_rate_low)s,
    %(win_rate_high)s, %(profit_factor)s, %(expectancy_r)s, %(sqn)s, %(sharpe)s,
    %(sortino)s, %(max_drawdown_r)s, %(max_drawdown_days)s, %(brier)s, %(latency_p50_ms)s,
    %(latency_p95_ms)s, %(latency_p99_ms)s, %(reliability)s, %(first_signal)s,
    %(last_signal)s, now()
)
ON CONFLICT (model_name, model_version, (coalesce(chart_id, 0)), window_kind, window_start)
DO UPDATE SET window_end = EXCLUDED.window_end, signals = EXCLUDED.signals,
    trades = EXCLUDED.trades, wins = EXCLUDED.wins, win_rate = EXCLUDED.win_rate,
    win_rate_low = EXCLUDED.win_rate_low, win_rate_high = EXCLUDED.win_rate_high,
    profit_factor = EXCLUDED.profit_factor, expectancy_r = EXCLUDED.expectancy_r,
    sqn = EXCLUDED.sqn, sharpe = EXCLUDED.sharpe, sortino = EXCLUDED.sortino,
    max_drawdown_r = EXCLUDED.max_drawdown_r, max_drawdown_days = EXCLUDED.max_drawdown_days,
    brier = EXCLUDED.brier, latency_p50_ms = EXCLUDED.latency_p50_ms,
    latency_p95_ms = EXCLUDED.latency_p95_ms, latency_p99_ms = EXCLUDED.latency_p99_ms,
    reliability = EXCLUDED.reliability, first_signal = EXCLUDED.first_signal,
    last_signal = EXCLUDED.last_signal, computed_at = EXCLUDED.computed_at;

-- overall_windows --
-- Of each version (of one model, or every one), its overall rows (all charts): the 'all'
-- window and the newest `newest` windows of one kind (none: 0), newest first.
SELECT * FROM (
    SELECT p.*, row_number() OVER (
        PARTITION BY model_name, model_version, window_kind ORDER BY window_start DESC
    ) AS rank
    FROM model_performance p
    WHERE chart_id IS NULL AND window_kind IN ('all', %(window_kind)s)
      AND (%(model_name)s::text IS NULL OR model_name = %(model_name)s)
) ranked
WHERE window_kind = 'all' OR rank <= %(newest)s
ORDER BY model_name, model_version, window_kind = 'all' DESC, window_start DESC;

-- bars_around --
-- The opens of the chart's last bar at or before `time` and first bar at or after it: two
-- lookups through the candles' primary key; equal to `time` when a bar opens there.
SELECT (SELECT max(time) FROM candles WHERE chart_id = %(chart_id)s AND time <= %(time)s),
       (SELECT min(time) FROM candles WHERE chart_id = %(chart_id)s AND time >= %(time)s);

-- bar_prices --
-- The low and high of the chart's bar opening at `time`.
SELECT low, high FROM candles WHERE chart_id = %(chart_id)s AND time = %(time)s;

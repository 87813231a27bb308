"""Market data: charts and their candles, from files and vendors into the database.

Owns tables `charts` and `candles` (a derived chart's `base_chart_id` and `bar_offset`
are kept by `resampling`).
A file goes `candle_files` → `validation` → `ingest` → `candles.load_bars`; `timeframes`
and `calendars` say which bars a chart should have, `quality` what is wrong with the
stored ones, `backfill` fetches the missing ones from `providers/`, `resampling`
derives longer timeframes in SQL; `synthetic_market` makes the demo's market.
"""

"""Features: technical features of the candles, defined as data, stored beside them.

A feature set is a named, ordered list of feature definitions (`definitions`): TA-Lib
functions (`indicators`), expressions in a small safe language (`expressions` over
`rolling` operators), calendar fields (`calendar_features`) and features of a longer
timeframe. Its version is the hash of its canonical definition. Values at bar t use
only bars closed by t's close.
"""

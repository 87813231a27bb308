"""Monitoring: models in service judged on what happened after their signals.

`outcomes` judges every matured signal under its version's target definition
(`judgement`: training's barriers applied to the bars after the signal) and writes the
outcome into `signals`; `candlelab evaluate` runs it. `performance` keeps each version's
figures per chart and window in `model_performance` (`figures`: the NumPy of one window),
`comparison` sets a model's challenger against its champion; `evaluate --report` shows both.
`drift` compares a version's served signals with the distributions its training run
recorded (`drift_references`); `candlelab drift` runs it. `alerts` turns what drift and
`evaluate --report` find (drift, losing versions, slow ones, stale charts) into rows of
`alerts`, raised once and resolved when it passes, and POSTs new ones to a webhook; with
them it keeps each version's latest drift check (`drift_checks`), which /metrics shows.
"""

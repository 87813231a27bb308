"""Monitoring: models in service judged on what happened after their signals.

`outcomes` judges every matured signal under its version's target definition
(`judgement`: training's barriers applied to the bars after the signal) and writes the
outcome into `signals`; `candlelab evaluate` runs it.
"""

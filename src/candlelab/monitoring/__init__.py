"""Monitoring: models in service judged on what happened after their signals.

`outcomes` judges every matured signal under its version's target definition
(`judgement`: training's barriers applied to the bars after the signal) and writes the
outcome into `signals`; `candlelab evaluate` runs it. `drift` compares a version's
served signals with the distributions its training run recorded (`drift_references`);
`candlelab drift` runs it.
"""

"""Training: from labelled candles to models recorded in MLflow.

Owns table `training_runs` (`runs`) and MLflow's schema `mlflow` through `tracking`,
the only module that imports MLflow.
"""

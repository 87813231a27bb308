"""Models in service: MLflow's registry aliases, their audited moves and A/B routing
(`deployments`, `routing`); a registered version's predictions on new bars, each one
logged as a signal (`prediction`, `signals`)."""

"""Models in service: MLflow's registry aliases, their audited moves, and A/B routing."""

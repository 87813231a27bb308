"""Models in service: a registered version's predictions on new bars, each one logged as
a signal (`prediction`, `signals`)."""

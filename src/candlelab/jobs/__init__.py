"""Jobs: the retrain queue (`queue`: enqueue, claim, heartbeat, complete, fail, rescue,
each one fenced statement on `retrain_queue`) and the heartbeat a worker keeps from a
thread of its own while it trains (`heartbeat`)."""

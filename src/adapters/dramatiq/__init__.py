"""Dramatiq brokers and the job queue that enqueues by actor name (ids only, never objects)."""

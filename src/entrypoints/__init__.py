"""Composition and delivery: settings, the container, HTTP API, worker, scheduler and CLI."""

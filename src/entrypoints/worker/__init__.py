"""Dramatiq actors and the worker process."""

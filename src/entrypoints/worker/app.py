"""Module the `dramatiq` CLI loads for `footfall worker`: broker and actors from the environment."""

from __future__ import annotations

from entrypoints.container import build_container
from entrypoints.logs import configure_logging
from entrypoints.settings import load
from entrypoints.worker.actors import register_actors

configure_logging()
container = build_container(load())
broker = container.broker()
actors = register_actors(broker, container)
# Every counter exists from the start, at zero (a scrape before the first job sees them all).
container.metrics()

"""Module the `dramatiq` CLI loads for `footfall worker`: broker and actors from the environment."""

from __future__ import annotations

from entrypoints.container import build_container
from entrypoints.logs import configure_logging
from entrypoints.settings import load
from entrypoints.worker.actors import register_actors
from entrypoints.worker.signals import StopSignals

configure_logging()
container = build_container(load())
broker = container.broker()
broker.add_middleware(StopSignals())  # a stop sent to the whole group is one stop
actors = register_actors(broker, container)
# Every counter exists from the start, at zero (a scrape before the first job sees them all).
container.metrics()

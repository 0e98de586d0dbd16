"""The embedded default: with no broker URL, `footfall serve` also runs the worker and schedule."""

from __future__ import annotations

import asyncio
from typing import Any

from dramatiq import Worker

from entrypoints.container import Container, build_container
from entrypoints.scheduler import build_scheduler
from entrypoints.settings import Settings
from entrypoints.worker.actors import register_actors


class EmbeddedRuntime:
    """A Dramatiq worker on the in-process broker plus the APScheduler schedule.

    The worker's actors run on Dramatiq's own event loop thread, so they get a container
    of their own (its own engine) that shares the broker, job queue and metrics.
    """

    def __init__(self, settings: Settings, container: Container) -> None:
        self._api = container
        self._worker_container = build_container(
            settings,
            broker=container.broker,
            job_queue=container.job_queue,
            metrics=container.metrics,
            registry=container.registry,
        )
        self._worker: Any = None
        self._scheduler: Any = None

    async def start(self) -> None:
        broker = self._api.broker()
        register_actors(broker, self._worker_container)
        # A short poll timeout lets a graceful stop finish quickly.
        self._worker = Worker(broker, worker_threads=2, worker_timeout=250)
        self._worker.start()
        self._scheduler = build_scheduler(self._api, relay=False)
        self._scheduler.start()

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        if self._worker is not None:
            # Lets running jobs finish; blocking, so off the event loop.
            await asyncio.to_thread(self._worker.stop)
        await asyncio.to_thread(self._dispose_worker_engine)

    def _dispose_worker_engine(self) -> None:
        # The worker engine belongs to Dramatiq's loop, which is gone now: drop connections.
        engine = self._worker_container.engine()
        engine.sync_engine.dispose(close=False)

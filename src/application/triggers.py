"""Coalesced aggregation trigger: visits being written ask for an update_analytics run."""

from __future__ import annotations

import asyncio
import logging
import time

from ports.services import JobQueue, Metrics, QueueUnavailable

log = logging.getLogger(__name__)

AGGREGATE_JOB = "update_analytics"


class AggregationTrigger:
    """Never one job per visit: at most one enqueue attempt per ``min_interval_s`` per process,
    and the queue itself keeps at most one aggregation job pending across processes."""

    def __init__(self, queue: JobQueue, metrics: Metrics, min_interval_s: float = 5.0) -> None:
        self._queue = queue
        self._metrics = metrics
        self._min_interval_s = min_interval_s
        self._last = float("-inf")
        self._task: asyncio.Task[bool] | None = None

    def visits_written(self, count: int) -> None:
        now = time.monotonic()
        if count <= 0 or now - self._last < self._min_interval_s:
            return
        if self._task is not None and not self._task.done():
            return
        self._last = now
        self._task = asyncio.get_running_loop().create_task(self.trigger())

    async def request_now(self) -> bool:
        """Enqueues unless a run is already pending; raises QueueUnavailable."""
        return await self._queue.enqueue_coalesced(AGGREGATE_JOB)

    async def trigger(self) -> bool:
        try:
            return await self.request_now()
        except QueueUnavailable:
            self._metrics.increment("aggregation_enqueue_failures")
            log.warning("broker unavailable: aggregation will run on the schedule instead")
            return False

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
    and the queue itself keeps at most one aggregation job pending across processes.

    Visits (and beacons) written inside the interval are not forgotten: one enqueue is due
    at its end (leading and trailing edge), so the last of a burst are folded about
    ``min_interval_s`` after they were written, not at the next scheduled run."""

    def __init__(self, queue: JobQueue, metrics: Metrics, min_interval_s: float = 5.0) -> None:
        self._queue = queue
        self._metrics = metrics
        self._min_interval_s = min_interval_s
        self._last = float("-inf")
        self._task: asyncio.Task[bool] | None = None
        self._due: asyncio.TimerHandle | None = None

    def visits_written(self, count: int) -> None:
        if count <= 0 or self._due is not None:
            return  # nothing new, or an enqueue is already due and will cover these
        wait = self._last + self._min_interval_s - time.monotonic()
        if wait > 0:
            self._due = asyncio.get_running_loop().call_later(wait, self._fire)
        else:
            self._fire()

    def _fire(self) -> None:
        self._due = None
        loop = asyncio.get_running_loop()
        if self._task is not None and not self._task.done():
            # An enqueue is still on its way (a slow broker); its job may already have read
            # its window: ask again once the interval has passed.
            self._due = loop.call_later(self._min_interval_s, self._fire)
            return
        self._last = time.monotonic()
        self._task = loop.create_task(self.trigger())

    def close(self) -> None:
        """Drops an enqueue still due (at shutdown: the schedule folds what it would have)."""
        if self._due is not None:
            self._due.cancel()
            self._due = None

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

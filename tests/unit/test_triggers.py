"""AggregationTrigger: at most one enqueue per interval, and none of the visits forgotten."""

from __future__ import annotations

import asyncio

from adapters.in_memory.services import InMemoryJobQueue, InMemoryMetrics
from application.triggers import AGGREGATE_JOB, AggregationTrigger

INTERVAL_S = 0.2


def trigger_on(
    queue: InMemoryJobQueue, metrics: InMemoryMetrics | None = None
) -> AggregationTrigger:
    return AggregationTrigger(queue, metrics or InMemoryMetrics(), min_interval_s=INTERVAL_S)


def started(queue: InMemoryJobQueue) -> None:
    """What the worker does when the job starts: the next request may enqueue again."""
    queue.coalesced.discard(AGGREGATE_JOB)


async def test_visits_written_inside_the_interval_are_enqueued_at_its_end() -> None:
    queue = InMemoryJobQueue()
    trigger = trigger_on(queue)
    trigger.visits_written(3)
    await asyncio.sleep(0.01)
    assert queue.jobs == [(AGGREGATE_JOB, ())]  # the first flush: at once
    started(queue)
    for _ in range(5):  # flushes inside the interval: one enqueue due, not five
        trigger.visits_written(2)
        await asyncio.sleep(0.01)
    assert len(queue.jobs) == 1
    await asyncio.sleep(INTERVAL_S * 1.5)
    assert len(queue.jobs) == 2  # the trailing edge: those visits get their run
    started(queue)
    await asyncio.sleep(INTERVAL_S * 2)
    assert len(queue.jobs) == 2  # nothing written since: nothing enqueued
    trigger.visits_written(1)  # the interval has passed: at once again
    await asyncio.sleep(0.01)
    assert len(queue.jobs) == 3


async def test_no_visits_no_job() -> None:
    queue = InMemoryJobQueue()
    trigger = trigger_on(queue)
    trigger.visits_written(0)
    await asyncio.sleep(0.01)
    assert queue.jobs == []


async def test_an_enqueue_still_on_its_way_is_followed_by_another() -> None:
    """A slow broker: visits written while the enqueue is in flight may be missed by its job
    (it can start before they are committed), so one more is asked for after the interval."""
    gate = asyncio.Event()

    class SlowQueue(InMemoryJobQueue):
        async def enqueue_coalesced(self, job: str) -> bool:
            await gate.wait()
            return await super().enqueue_coalesced(job)

    queue = SlowQueue()
    trigger = trigger_on(queue)
    trigger.visits_written(1)
    await asyncio.sleep(INTERVAL_S * 1.5)
    trigger.visits_written(1)  # past the interval, the first enqueue still waiting
    gate.set()
    await asyncio.sleep(0.01)
    assert len(queue.jobs) == 1
    started(queue)
    await asyncio.sleep(INTERVAL_S * 1.5)
    assert len(queue.jobs) == 2


async def test_close_drops_an_enqueue_still_due() -> None:
    queue = InMemoryJobQueue()
    trigger = trigger_on(queue)
    trigger.visits_written(1)
    await asyncio.sleep(0.01)
    trigger.visits_written(1)
    trigger.close()
    await asyncio.sleep(INTERVAL_S * 1.5)
    assert len(queue.jobs) == 1


async def test_a_down_broker_is_counted_and_retried_once_more_visits_arrive() -> None:
    queue = InMemoryJobQueue()
    queue.down = True
    metrics = InMemoryMetrics()
    trigger = trigger_on(queue, metrics)
    trigger.visits_written(1)
    await asyncio.sleep(0.01)
    assert metrics.counters["aggregation_enqueue_failures"] == 1
    queue.down = False
    trigger.visits_written(1)
    await asyncio.sleep(INTERVAL_S * 1.5)
    assert queue.jobs == [(AGGREGATE_JOB, ())]

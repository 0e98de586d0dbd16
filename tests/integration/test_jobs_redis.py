"""Aggregation jobs on the real Redis broker: coalesced, never one per visit."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from dramatiq import Worker

from application.analytics import AggregationReport
from application.triggers import AGGREGATE_JOB
from entrypoints.container import build_container
from entrypoints.worker.actors import register_actors
from tests.conftest import REDIS_URL
from tests.helpers import make_settings

pytestmark = pytest.mark.integration


class CountingAnalytics:
    def __init__(self) -> None:
        self.runs = 0

    async def update_analytics(self) -> AggregationReport:
        self.runs += 1
        await asyncio.sleep(0.2)
        return AggregationReport(visits_processed=0, visits_deleted=0)


async def test_at_most_one_aggregation_job_is_pending(redis_namespace: str, tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, FOOTFALL_BROKER_URL=REDIS_URL, FOOTFALL_REDIS_PREFIX=redis_namespace
    )
    api = build_container(settings)
    worker_container = build_container(settings)
    analytics = CountingAnalytics()
    worker_container.analytics_service.override(analytics)
    broker = worker_container.broker()
    register_actors(broker, worker_container)
    queue = api.job_queue()
    # Many triggers while nothing runs: one message.
    results = [await queue.enqueue_coalesced(AGGREGATE_JOB) for _ in range(20)]
    assert results.count(True) == 1
    worker = Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while analytics.runs < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        # The job released the flag when it started: the next trigger enqueues again.
        await asyncio.sleep(0.05)
        assert await queue.enqueue_coalesced(AGGREGATE_JOB)
        deadline = time.monotonic() + 10
        while analytics.runs < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.5)
    finally:
        worker.stop()
        broker.close()
    assert analytics.runs == 2
    queue.close()


async def test_the_trigger_throttles_per_process_and_survives_a_down_broker(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, FOOTFALL_BROKER_URL="redis://127.0.0.1:1/0")
    container = build_container(settings)
    trigger = container.aggregation_trigger()
    assert await trigger.trigger() is False  # unreachable broker: logged and counted, no raise
    assert (
        container.metrics().registry.get_sample_value("footfall_aggregation_enqueue_failures_total")
        == 1
    )

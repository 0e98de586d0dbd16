import asyncio
from pathlib import Path

from adapters.in_memory.services import InMemoryJobQueue
from application.triggers import AGGREGATE_JOB
from entrypoints.container import build_container
from entrypoints.scheduler import build_scheduler
from tests.helpers import make_settings


async def test_the_schedule_enqueues_aggregation_coalesced(tmp_path: Path) -> None:
    queue = InMemoryJobQueue()
    container = build_container(
        make_settings(tmp_path, FOOTFALL_AGGREGATE_EVERY_S="0.05"), job_queue=queue
    )
    scheduler = build_scheduler(container, relay=False)
    assert [job.id for job in scheduler.get_jobs()] == ["update_analytics"]
    scheduler.start()
    try:
        await asyncio.sleep(0.3)
    finally:
        scheduler.shutdown(wait=False)
    # Several ticks, one pending job: the worker has not picked it up yet.
    assert queue.jobs == [(AGGREGATE_JOB, ())]


def test_the_standalone_scheduler_also_relays_the_outbox(tmp_path: Path) -> None:
    container = build_container(make_settings(tmp_path))
    jobs = {job.id for job in build_scheduler(container).get_jobs()}
    assert jobs == {"update_analytics", "outbox_relay"}

"""The periodic schedule (APScheduler): aggregation trigger and outbox relay.

`footfall scheduler` runs it alone (one instance per deployment); the embedded default runs
it inside `footfall serve`.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from entrypoints.container import Container

log = logging.getLogger(__name__)

RELAY_EVERY_S = 30.0


def build_scheduler(container: Container, *, relay: bool = True) -> AsyncIOScheduler:
    settings = container.settings()
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(
        container.aggregation_trigger().trigger,
        "interval",
        seconds=settings.aggregate_every_s,
        id="update_analytics",
        max_instances=1,
        coalesce=True,
    )
    if relay:
        scheduler.add_job(
            container.notification_service().relay,
            "interval",
            seconds=RELAY_EVERY_S,
            id="outbox_relay",
            max_instances=1,
            coalesce=True,
        )
    return scheduler


async def run_scheduler(container: Container) -> None:
    """Runs until SIGTERM, SIGINT or SIGHUP (a closing terminal)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    scheduler = build_scheduler(container)
    scheduler.start()
    log.info("scheduler started: aggregation every %.0fs", container.settings().aggregate_every_s)
    await stop.wait()
    scheduler.shutdown(wait=False)
    await container.engine().dispose()

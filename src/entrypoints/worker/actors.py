"""Dramatiq actors: they receive ids, call a use case, and are safe to run twice."""

from __future__ import annotations

import logging
import time
from typing import Any
from uuid import UUID

import dramatiq

from application.notifications import SEND_JOB, SendLater
from application.triggers import AGGREGATE_JOB
from domain.errors import DomainError
from ports.services import TransientEmailError

log = logging.getLogger(__name__)

MAX_RETRIES = 12
MIN_BACKOFF_MS = 1_000
MAX_BACKOFF_MS = 15 * 60_000


def register_actors(
    broker: dramatiq.Broker, container: Any, *, min_backoff_ms: int = MIN_BACKOFF_MS
) -> dict[str, dramatiq.Actor[Any, Any]]:
    """Declares the actors on ``broker``; ``container`` builds the use cases they call.

    The container must belong to the worker's event loop (its engine is created there).
    """

    async def send_product_update_email(notification_id: str) -> None:
        try:
            await container.notification_service().send_product_update_email(UUID(notification_id))
        except TransientEmailError as exc:
            if exc.retry_after_s is not None:
                raise dramatiq.Retry(str(exc), delay=int(exc.retry_after_s * 1000)) from None
            raise
        except SendLater as exc:
            raise dramatiq.Retry(str(exc), delay=int((exc.retry_after_s or 30) * 1000)) from None

    async def update_analytics() -> None:
        # Release first: visits arriving during this run may enqueue the next one.
        await container.job_queue().release(AGGREGATE_JOB)
        started = time.perf_counter()
        report = await container.analytics_service().update_analytics()
        elapsed = time.perf_counter() - started
        container.metrics().observe("aggregation_seconds", elapsed)
        log.info("aggregated %d visits in %.3fs", report.visits_processed, elapsed)

    options: dict[str, Any] = {
        "broker": broker,
        "max_retries": MAX_RETRIES,
        "min_backoff": min_backoff_ms,
        "max_backoff": MAX_BACKOFF_MS,
        "throws": (DomainError,),
    }
    return {
        SEND_JOB: dramatiq.actor(actor_name=SEND_JOB, **options)(send_product_update_email),
        AGGREGATE_JOB: dramatiq.actor(actor_name=AGGREGATE_JOB, **options)(update_analytics),
    }

"""The Litestar app factory: routes, dependencies from the container, lifespan duties."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, MediaType, Response, Router, get
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from prometheus_client import CONTENT_TYPE_LATEST

from entrypoints.background import Background
from entrypoints.container import Container
from entrypoints.embedded import EmbeddedRuntime
from entrypoints.http.admin import (
    AdminAnalyticsController,
    AdminNotificationController,
    AdminProductController,
    bearer_guard,
)
from entrypoints.http.edge import edge
from entrypoints.http.errors import documented, exception_handlers
from entrypoints.http.middleware import VisitTrackingMiddleware
from entrypoints.http.public import ProductController, SubscriptionController, VisitController
from entrypoints.http.request_metrics import RequestMetrics
from entrypoints.metrics import exposition

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
YOUNG_GC_THRESHOLD = 10_000


def _provide(provider: Any) -> Provide:
    # Call the provider per request so container overrides take effect.
    return Provide(lambda: provider(), sync_to_thread=False)


async def _say_what_is_not_ready(container: Container) -> None:
    """Once at start, plainly (an unmigrated database would otherwise show only as 503s)."""
    problem = await container.database_problem()
    if problem is not None:
        log.error("started, but not ready: %s", problem)


def create_app(container: Container, *, embedded_runtime: bool | None = None) -> Litestar:
    settings = container.settings()
    background = Background(container.notification_service())
    request_metrics = RequestMetrics(container.registry())
    embedded = (
        EmbeddedRuntime(settings, container)
        if (settings.embedded if embedded_runtime is None else embedded_runtime)
        else None
    )

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        buffer = container.visit_buffer()
        buffer.start()
        background.start()
        publisher = asyncio.create_task(request_metrics.publish_every())
        invalidation = container.cache_invalidation()
        if invalidation is not None:
            invalidation.start()
        if embedded is not None:
            await embedded.start()
        checked = asyncio.create_task(_say_what_is_not_ready(container))
        # Everything built so far lives as long as the process: keep it out of the garbage
        # collector's full passes, which otherwise stall the loop under load.
        gc.collect()
        gc.freeze()
        # Young-generation passes every 10,000 net allocations instead of 700. A tracked
        # view leaves its sighting in the buffer until the next flush (<= 100 ms); at 700,
        # passes every ~350 views kept walking those and promoting them, so older passes
        # followed (per API process under wrk, 10 s: ~150 young, ~14 middle and 1-2 full
        # passes, 80-90 ms in all; at 10,000: 3 young passes, 7-15 ms, pauses alike).
        gc.set_threshold(YOUNG_GC_THRESHOLD)
        try:
            yield
        finally:
            checked.cancel()
            publisher.cancel()
            await asyncio.gather(checked, publisher, return_exceptions=True)
            await background.stop()
            if invalidation is not None:
                await invalidation.stop()
            await buffer.close()  # graceful stop: every buffered visit is written
            container.aggregation_trigger().close()
            await container.visit_writer().close()
            if embedded is not None:
                await embedded.stop()
            await container.engine().dispose()

    @get("/health/live", tags=["operations"], include_in_schema=True)
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @get(
        "/health/ready",
        tags=["operations"],
        responses=documented(
            503,
            e503="The database or the broker does not answer, or the database's schema is "
            "older than this version (run `footfall migrate`): detail says which",
        ),
    )
    async def ready() -> Response[dict[str, Any]]:
        database, broker = await asyncio.gather(
            container.database_problem(), asyncio.to_thread(container.broker_ready)
        )
        problems = [
            found for found in (database, None if broker else "broker unavailable") if found
        ]
        if problems:
            return Response(
                {"status_code": 503, "detail": f"not ready: {'; '.join(problems)}"},
                status_code=HTTP_503_SERVICE_UNAVAILABLE,
            )
        return Response({"status": "ready"}, status_code=HTTP_200_OK)

    @get("/metrics", tags=["operations"], media_type=MediaType.TEXT)
    async def metrics() -> Response[bytes]:
        request_metrics.publish()  # this process's latest; the others' are <= 1 s old
        return Response(
            exposition(container.registry()),
            media_type=CONTENT_TYPE_LATEST,
        )

    admin = Router(
        path="/",
        route_handlers=[
            AdminProductController,
            AdminAnalyticsController,
            AdminNotificationController,
        ],
        guards=[bearer_guard(settings.admin_token)],
        security=[{"bearer": []}],
    )
    tracking = VisitTrackingMiddleware(
        container.visit_tracker,
        container.metrics,
        settings.trusted_proxies,
        enabled=settings.tracking_enabled,
    )
    app = Litestar(
        route_handlers=[
            ProductController,
            VisitController,
            SubscriptionController,
            admin,
            live,
            ready,
            metrics,
        ],
        dependencies={
            "products": _provide(container.product_service),
            "visits": _provide(container.visit_service),
            "analytics": _provide(container.analytics_service),
            "subscriptions": _provide(container.subscription_service),
            "notifications": _provide(container.notification_service),
            "trigger": _provide(container.aggregation_trigger),
            "relay": Provide(lambda: background, sync_to_thread=False),
        },
        middleware=[tracking],
        exception_handlers=exception_handlers(container.metrics),
        logging_config=None,  # entrypoints.logs configures logging; Litestar must not
        request_max_body_size=MAX_BODY_BYTES,
        # Product pages live on other origins: they read X-Visit-Id and send beacons.
        cors_config=CORSConfig(
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["X-Visit-Id"],
            max_age=3600,
        ),
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="Footfall",
            version="1.0.0",
            path="/schema",
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}
            ),
        ),
    )
    # Not a Litestar middleware: those wrap each route, after routing and inside the
    # exception handlers, and would miss unmatched paths, handled errors and HEAD.
    app.asgi_handler = edge(app.asgi_handler, request_metrics)
    return app

"""Admin endpoints behind a bearer token: products, analytics, notifications."""

from __future__ import annotations

import hmac
from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from litestar import Controller, delete, get, patch, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, ServiceUnavailableException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from application.analytics import AnalyticsService
from application.notifications import NotificationService
from application.products import ProductService
from application.triggers import AggregationTrigger
from domain.notification import NotificationStatus
from domain.product import ProductDraft
from entrypoints.background import Background
from entrypoints.http.errors import documented
from entrypoints.http.schemas import (
    AnalyticsOut,
    NotificationOut,
    PopularOut,
    ProductCreate,
    ProductOut,
    ProductPatch,
)
from ports.services import QueueUnavailable


def bearer_guard(expected: str) -> Any:
    expected_bytes = expected.encode()

    def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), expected_bytes
        ):
            raise NotAuthorizedException(
                "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )

    return guard


class AdminProductController(Controller):
    path = "/api/admin/products"
    tags = ["admin"]

    @post("/", summary="Create a product", responses=documented(400, 401, 409, 413, 422, 503))
    async def create(
        self, data: JSONBody[ProductCreate], products: NamedDependency[ProductService]
    ) -> ProductOut:
        draft = ProductDraft.create(
            sku=data.sku,
            name=data.name,
            description=data.description,
            price=data.price,
            currency=data.currency,
        )
        return ProductOut.of(await products.create(draft))

    @patch(
        "/{product_id:uuid}",
        summary="Update a product; subscribers are e-mailed asynchronously",
        responses=documented(400, 401, 404, 409, 413, 422, 503),
    )
    async def update(
        self,
        product_id: FromPath[UUID],
        data: JSONBody[ProductPatch],
        products: NamedDependency[ProductService],
        relay: NamedDependency[Background],
    ) -> ProductOut:
        product, notify = await products.update(product_id, data.changes())
        if notify:
            # The notification is already in the outbox; relaying now only saves a tick.
            relay.relay_soon()
        return ProductOut.of(product)

    @delete(
        "/{product_id:uuid}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete a product",
        responses=documented(401, 404, 503),
    )
    async def remove(
        self, product_id: FromPath[UUID], products: NamedDependency[ProductService]
    ) -> None:
        await products.delete(product_id)

    @get(
        "/{product_id:uuid}/analytics",
        summary="A product's analytics over a date range",
        responses=documented(401, 404, 422, 503),
    )
    async def analytics(
        self,
        product_id: FromPath[UUID],
        analytics: NamedDependency[AnalyticsService],
        start: Annotated[date | None, QueryParameter(name="from")] = None,
        end: Annotated[date | None, QueryParameter(name="to")] = None,
    ) -> AnalyticsOut:
        return AnalyticsOut.of(await analytics.product_analytics(product_id, start, end))


class AdminAnalyticsController(Controller):
    path = "/api/admin/analytics"
    tags = ["admin"]

    @get(
        "/popular",
        summary="Most visited products over the last days",
        responses=documented(401, 422, 503),
    )
    async def popular(
        self,
        analytics: NamedDependency[AnalyticsService],
        days: Annotated[int, QueryParameter(ge=1, le=366)] = 7,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 10,
    ) -> list[PopularOut]:
        return [PopularOut.of(p) for p in await analytics.popular(days, limit)]

    @post(
        "/refresh",
        status_code=HTTP_202_ACCEPTED,
        summary="Enqueue an aggregation run now",
        responses=documented(401, 503, e503="The job broker cannot be reached; try again later"),
    )
    async def refresh(self, trigger: NamedDependency[AggregationTrigger]) -> dict[str, bool]:
        try:
            enqueued = await trigger.request_now()
        except QueueUnavailable:
            raise ServiceUnavailableException(
                "the job broker is unavailable; try again later"
            ) from None
        # False: a run is already pending, which will include everything up to now.
        return {"enqueued": enqueued}


class AdminNotificationController(Controller):
    path = "/api/admin/notifications"
    tags = ["admin"]

    @get(
        "/",
        summary="Update e-mails and their delivery status",
        responses=documented(401, 422, 503),
    )
    async def list_notifications(
        self,
        notifications: NamedDependency[NotificationService],
        product_id: FromQuery[UUID | None] = None,
        status: FromQuery[Literal["pending", "sent", "failed"] | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> list[NotificationOut]:
        found = await notifications.search(
            product_id, NotificationStatus(status) if status else None, limit
        )
        return [NotificationOut.of(n) for n in found]

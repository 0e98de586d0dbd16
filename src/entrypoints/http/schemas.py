"""Request and response bodies (msgspec Structs); request Structs reject unknown fields."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

import msgspec

from domain.analytics import DailyStats, PopularProduct, ProductAnalytics
from domain.notification import Notification
from domain.product import Product, ProductPage

Sku = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Description = Annotated[str, msgspec.Meta(max_length=10_000)]
Currency = Annotated[
    str,
    msgspec.Meta(
        pattern="^[A-Z]{3}$", description="A current ISO 4217 currency code (not XXX or XTS)"
    ),
]
# No msgspec.Meta bound on Decimal: it fails at request time; the domain checks the range.
Price = Annotated[Decimal, msgspec.Meta(description='Decimal string, e.g. "19.99"')]
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320)]
DurationMs = Annotated[int, msgspec.Meta(gt=0, le=86_400_000)]


class Request(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class ErrorItem(msgspec.Struct, omit_defaults=True):
    key: str
    message: str
    source: str | None = None  # "body", "query", "path" where the framework knows it


class ErrorOut(msgspec.Struct, omit_defaults=True):
    """Every error's body (Litestar's standard one); ``extra`` names the fields at fault."""

    status_code: int
    detail: str
    extra: list[ErrorItem] | None = None


class ProductCreate(Request, kw_only=True):
    sku: Sku
    name: Name
    description: Description = ""
    price: Price
    currency: Currency


class ProductPatch(Request, kw_only=True):
    sku: Sku | msgspec.UnsetType = msgspec.UNSET
    name: Name | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    price: Price | msgspec.UnsetType = msgspec.UNSET
    currency: Currency | msgspec.UnsetType = msgspec.UNSET

    def changes(self) -> dict[str, Any]:
        return {
            field: value
            for field in self.__struct_fields__
            if (value := getattr(self, field)) is not msgspec.UNSET
        }


class Engagement(Request):
    duration_ms: DurationMs


class SubscriptionCreate(Request):
    email: Email


class ProductOut(msgspec.Struct):
    id: UUID
    sku: str
    name: str
    description: str
    price: Decimal
    currency: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, p: Product) -> ProductOut:
        return cls(
            p.id, p.sku, p.name, p.description, p.price, p.currency, p.created_at, p.updated_at
        )


class ProductList(msgspec.Struct):
    items: list[ProductOut]
    total: int

    @classmethod
    def of(cls, page: ProductPage) -> ProductList:
        return cls(items=[ProductOut.of(p) for p in page.items], total=page.total)


class DailyOut(msgspec.Struct):
    date: date
    visits: int
    unique_visitors: int
    avg_visit_duration_ms: float | None

    @classmethod
    def of(cls, d: DailyStats) -> DailyOut:
        return cls(d.day, d.visits, d.unique_visitors, d.avg_visit_duration_ms)


class AnalyticsOut(msgspec.Struct, rename={"start": "from", "end": "to"}):
    product_id: UUID
    start: date
    end: date
    total_visits: int
    unique_visitors: int
    avg_visit_duration_ms: float | None
    daily: list[DailyOut]
    as_of: datetime | None

    @classmethod
    def of(cls, a: ProductAnalytics) -> AnalyticsOut:
        return cls(
            a.product_id,
            a.start,
            a.end,
            a.total_visits,
            a.unique_visitors,
            a.avg_visit_duration_ms,
            [DailyOut.of(d) for d in a.daily],
            a.as_of,
        )


class PopularOut(msgspec.Struct):
    product_id: UUID
    name: str
    visits: int
    unique_visitors: int

    @classmethod
    def of(cls, p: PopularProduct) -> PopularOut:
        return cls(p.product_id, p.name, p.visits, p.unique_visitors)


class NotificationOut(msgspec.Struct):
    id: UUID
    product_id: UUID
    status: str
    recipients: int
    attempts: int
    provider_message_id: str | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, n: Notification) -> NotificationOut:
        return cls(
            n.id,
            n.product_id,
            n.status.value,
            n.recipients,
            n.attempts,
            n.provider_message_id,
            n.last_error,
            n.created_at,
            n.updated_at,
        )

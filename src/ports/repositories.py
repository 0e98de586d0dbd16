"""Persistence ports: one repository per aggregate, all reached through a unit of work."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from domain.analytics import DailyDelta, DailyStats, PendingVisit, PopularProduct
from domain.notification import Notification, NotificationStatus, Recipient, Subscription
from domain.product import Product, ProductPage
from domain.visit import Visit


class ProductRepository(Protocol):
    async def add(self, product: Product) -> None:
        """Raises DuplicateSku when the sku is taken."""

    async def get(self, product_id: UUID) -> Product | None: ...

    async def page(self, limit: int, offset: int) -> ProductPage: ...

    async def update(self, product: Product) -> None:
        """Raises DuplicateSku when the new sku is taken."""

    async def delete(self, product_id: UUID) -> bool: ...


class VisitRepository(Protocol):
    async def add_many(self, visits: Sequence[Visit]) -> None:
        """Stores a batch in one bulk write; visits start out pending aggregation."""

    async def record_duration(self, visit_id: UUID, duration_ms: int) -> bool:
        """Keeps the largest duration; False when the visit is unknown."""

    async def claim_pending(self, limit: int) -> list[PendingVisit]:
        """Locks up to ``limit`` pending visits (skipping ones another run holds)."""

    async def mark_aggregated(self, batch: Sequence[PendingVisit]) -> None:
        """Records what the aggregates now include; a visit whose duration grew meanwhile
        stays pending."""

    async def delete_aggregated_before(self, cutoff: datetime) -> int: ...


class AnalyticsRepository(Protocol):
    async def add_visitor_hashes(
        self, rows: Iterable[tuple[UUID, date, bytes]]
    ) -> dict[tuple[UUID, date], int]:
        """Insert-if-absent; returns how many were new per product and day."""

    async def apply_deltas(self, deltas: dict[tuple[UUID, date], DailyDelta]) -> None: ...

    async def daily(self, product_id: UUID, start: date, end: date) -> list[DailyStats]: ...

    async def unique_visitors(self, product_id: UUID, start: date, end: date) -> int: ...

    async def popular(self, start: date, end: date, limit: int) -> list[PopularProduct]: ...

    async def as_of(self) -> datetime | None: ...

    async def set_as_of(self, moment: datetime) -> None: ...


class SubscriptionRepository(Protocol):
    async def add(self, subscription: Subscription) -> Subscription:
        """Returns the stored subscription: the existing one when the address is already in."""

    async def delete_by_token(self, token: str) -> bool: ...

    async def count_for_product(self, product_id: UUID) -> int: ...


class NotificationRepository(Protocol):
    async def add(self, notification: Notification) -> None: ...

    async def get(self, notification_id: UUID) -> Notification | None: ...

    async def search(
        self, product_id: UUID | None, status: NotificationStatus | None, limit: int
    ) -> list[Notification]: ...

    async def save(self, notification: Notification) -> None: ...

    async def due_for_relay(self, limit: int, stale_before: datetime) -> list[UUID]:
        """Pending notifications never handed to the broker, or handed over before
        ``stale_before`` and still not done (their message was lost or gave up)."""

    async def mark_enqueued(self, notification_id: UUID, at: datetime) -> None: ...

    async def lease(self, notification_id: UUID, now: datetime, until: datetime) -> bool:
        """Takes the sending lease unless another worker holds an unexpired one."""

    async def release(self, notification_id: UUID) -> None: ...

    async def snapshot_recipients(self, notification_id: UUID, batch_size: int) -> int:
        """Freezes the current subscribers into numbered batches once; returns the count."""

    async def unsent_batches(self, notification_id: UUID) -> list[tuple[int, list[Recipient]]]: ...

    async def mark_batch_sent(
        self, notification_id: UUID, batch_no: int, provider_message_id: str, at: datetime
    ) -> None: ...

    async def sent_message_ids(self, notification_id: UUID) -> list[str]: ...


class UnitOfWork(Protocol):
    products: ProductRepository
    visits: VisitRepository
    analytics: AnalyticsRepository
    subscriptions: SubscriptionRepository
    notifications: NotificationRepository

    async def __aenter__(self) -> UnitOfWork: ...

    async def __aexit__(self, *exc_info: object) -> None:
        """Rolls back whatever was not committed."""

    async def commit(self) -> None: ...

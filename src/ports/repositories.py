"""Persistence ports: one repository per aggregate, all reached through a unit of work."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from domain.analytics import (
    AggregationWindow,
    CountedDuration,
    DailyDelta,
    DailyStats,
    NewVisit,
    PopularProduct,
    WindowReport,
)
from domain.notification import Notification, NotificationStatus, Recipient, Subscription
from domain.product import Product, ProductPage
from domain.visit import Visit


class ProductRepository(Protocol):
    async def add(self, product: Product) -> None:
        """Raises DuplicateSku when the sku is taken."""

    async def get(self, product_id: UUID) -> Product | None: ...

    async def get_many(self, product_ids: Iterable[UUID]) -> dict[UUID, Product]:
        """Those of the products that exist, by id."""

    async def page(self, limit: int, offset: int) -> ProductPage: ...

    async def update(self, product: Product) -> None:
        """Raises DuplicateSku when the new sku is taken."""

    async def delete(self, product_id: UUID) -> bool: ...


class VisitRepository(Protocol):
    async def add_many(self, visits: Sequence[Visit]) -> None:
        """Stores a batch in one bulk write."""

    async def add_engagement(self, visit_id: UUID, duration_ms: int, at: datetime) -> bool:
        """Appends a beacon; False when the visit is unknown."""

    async def open_window(self, span: int) -> AggregationWindow:
        """Locks the aggregation state (one fold at a time) and returns the next window of
        at most ``span`` sequence numbers per table; empty when nothing is new."""

    async def visits_in(self, window: AggregationWindow) -> list[NewVisit]: ...

    async def durations_in(self, window: AggregationWindow) -> dict[UUID, int]:
        """The longest duration each visit reported in the window (its own or a beacon)."""

    async def counted_durations(
        self, visit_ids: Iterable[UUID], window: AggregationWindow
    ) -> dict[UUID, CountedDuration]:
        """For each visit that still exists: its product and day, and the longest duration
        it reported before ``window`` (what the aggregates already count)."""

    async def close_window(self, window: AggregationWindow) -> None:
        """Moves the watermarks past the window (in the fold's transaction)."""

    async def fold_window(self, span: int, open_from: date | None) -> WindowReport | None:
        """Opens, folds and closes the next window inside the database, with the same
        arithmetic as the use case's step-by-step fold (visitor keys kept for days from
        ``open_from`` on, all days when None); None when the store has no such set-based
        statement (the use case then folds step by step)."""

    async def distinct_visitors(
        self, days: Iterable[tuple[UUID, date]], window: AggregationWindow
    ) -> dict[tuple[UUID, date], int]:
        """Distinct visitor hashes per product and day over the raw visits below the
        window's end (a recount, for a day whose visitor keys are no longer kept)."""

    async def delete_aggregated_before(self, cutoff: datetime) -> int:
        """Deletes raw visits and beacons older than ``cutoff`` that are already folded."""


class AnalyticsRepository(Protocol):
    async def add_visitor_keys(
        self, rows: Iterable[tuple[UUID, date, int]]
    ) -> dict[tuple[UUID, date], int]:
        """Insert-if-absent; returns how many were new per product and day."""

    async def apply_deltas(self, deltas: dict[tuple[UUID, date], DailyDelta]) -> None: ...

    async def daily(self, product_id: UUID, start: date, end: date) -> list[DailyStats]: ...

    async def unique_counts(
        self, days: Iterable[tuple[UUID, date]]
    ) -> dict[tuple[UUID, date], int]:
        """The unique_visitors of those product-days that already have a daily row."""

    async def forget_visitor_keys_before(self, day: date) -> None:
        """Deletes the visitor keys of the days before ``day``."""

    async def unique_visitors(
        self, product_id: UUID, start: date, end: date, *, per_day: bool
    ) -> int:
        """``per_day``: visitors are recognisable within a day only (daily salts), so a
        range's visitors are the sum of its days'; otherwise the distinct keys of the range."""

    async def popular(
        self, start: date, end: date, limit: int, *, per_day: bool
    ) -> list[PopularProduct]: ...

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


class StoreUnavailable(Exception):
    """The store could not be reached or lost the connection (refused, out of connections,
    timed out, cut mid-transaction): nothing the request did is wrong, so it may be retried.
    A write cut during its commit may or may not have been applied."""


class SchemaBehind(StoreUnavailable):
    """The store answers, but its schema is older than this code (never migrated, or not
    since an upgrade); the message says what to run."""


class UnitOfWork(Protocol):
    """Raises StoreUnavailable when the store cannot be reached or drops the connection."""

    products: ProductRepository
    visits: VisitRepository
    analytics: AnalyticsRepository
    subscriptions: SubscriptionRepository
    notifications: NotificationRepository

    async def __aenter__(self) -> UnitOfWork: ...

    async def __aexit__(self, *exc_info: object) -> None:
        """Rolls back whatever was not committed."""

    async def commit(self) -> None: ...

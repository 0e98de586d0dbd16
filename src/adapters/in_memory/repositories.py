"""Repositories and unit of work over plain dicts, with commit/rollback semantics."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any
from uuid import UUID

from domain.analytics import DailyDelta, DailyStats, PendingVisit, PopularProduct
from domain.errors import DuplicateSku
from domain.notification import Notification, NotificationStatus, Recipient, Subscription
from domain.product import Product, ProductPage
from domain.visit import Visit


@dataclass
class StoredVisit:
    visit: Visit
    counted: bool = False
    aggregated_duration_ms: int | None = None
    pending: bool = True


@dataclass
class Store:
    products: dict[UUID, Product] = field(default_factory=dict)
    visits: dict[UUID, StoredVisit] = field(default_factory=dict)
    visitor_days: set[tuple[UUID, date, bytes]] = field(default_factory=set)
    daily: dict[tuple[UUID, date], DailyStats] = field(default_factory=dict)
    as_of: datetime | None = None
    subscriptions: dict[UUID, Subscription] = field(default_factory=dict)
    notifications: dict[UUID, Notification] = field(default_factory=dict)
    enqueued: dict[UUID, datetime] = field(default_factory=dict)
    leases: dict[UUID, datetime] = field(default_factory=dict)
    recipients: dict[UUID, list[tuple[int, UUID]]] = field(default_factory=dict)
    batches_sent: dict[tuple[UUID, int], str] = field(default_factory=dict)


class InMemoryProductRepository:
    def __init__(self, store: Store) -> None:
        self._s = store

    async def add(self, product: Product) -> None:
        if any(p.sku == product.sku for p in self._s.products.values()):
            raise DuplicateSku(product.sku)
        self._s.products[product.id] = product

    async def get(self, product_id: UUID) -> Product | None:
        return self._s.products.get(product_id)

    async def page(self, limit: int, offset: int) -> ProductPage:
        ordered = sorted(self._s.products.values(), key=lambda p: (p.created_at, p.id))
        return ProductPage(items=ordered[offset : offset + limit], total=len(ordered))

    async def update(self, product: Product) -> None:
        if any(p.sku == product.sku and p.id != product.id for p in self._s.products.values()):
            raise DuplicateSku(product.sku)
        self._s.products[product.id] = product

    async def delete(self, product_id: UUID) -> bool:
        if self._s.products.pop(product_id, None) is None:
            return False
        for sub in [s for s in self._s.subscriptions.values() if s.product_id == product_id]:
            del self._s.subscriptions[sub.id]
        return True


class InMemoryVisitRepository:
    def __init__(self, store: Store) -> None:
        self._s = store

    async def add_many(self, visits: Sequence[Visit]) -> None:
        for visit in visits:
            self._s.visits[visit.id] = StoredVisit(visit)

    async def record_duration(self, visit_id: UUID, duration_ms: int) -> bool:
        stored = self._s.visits.get(visit_id)
        if stored is None:
            return False
        if stored.visit.duration_ms is None or duration_ms > stored.visit.duration_ms:
            stored.visit = replace(stored.visit, duration_ms=duration_ms)
            stored.pending = True
        return True

    async def claim_pending(self, limit: int) -> list[PendingVisit]:
        pending = sorted(
            (s for s in self._s.visits.values() if s.pending), key=lambda s: s.visit.occurred_at
        )[:limit]
        return [
            PendingVisit(
                id=s.visit.id,
                product_id=s.visit.product_id,
                day=s.visit.day,
                visitor_hash=s.visit.visitor_hash,
                counted=s.counted,
                aggregated_duration_ms=s.aggregated_duration_ms,
                duration_ms=s.visit.duration_ms,
            )
            for s in pending
        ]

    async def mark_aggregated(self, batch: Sequence[PendingVisit]) -> None:
        for item in batch:
            stored = self._s.visits[item.id]
            stored.counted = True
            stored.aggregated_duration_ms = item.duration_ms
            stored.pending = stored.visit.duration_ms != item.duration_ms

    async def delete_aggregated_before(self, cutoff: datetime) -> int:
        old = [
            k for k, s in self._s.visits.items() if s.visit.occurred_at < cutoff and not s.pending
        ]
        for key in old:
            del self._s.visits[key]
        return len(old)


class InMemoryAnalyticsRepository:
    def __init__(self, store: Store) -> None:
        self._s = store

    async def add_visitor_hashes(
        self, rows: Iterable[tuple[UUID, date, bytes]]
    ) -> dict[tuple[UUID, date], int]:
        new: dict[tuple[UUID, date], int] = {}
        for row in rows:
            if row not in self._s.visitor_days:
                self._s.visitor_days.add(row)
                new[row[:2]] = new.get(row[:2], 0) + 1
        return new

    async def apply_deltas(self, deltas: dict[tuple[UUID, date], DailyDelta]) -> None:
        for (product_id, day), d in deltas.items():
            row = self._s.daily.get((product_id, day), DailyStats(day=day))
            self._s.daily[(product_id, day)] = DailyStats(
                day=day,
                visits=row.visits + d.visits,
                unique_visitors=row.unique_visitors + d.unique_visitors,
                durations=row.durations + d.durations,
                duration_total_ms=row.duration_total_ms + d.duration_total_ms,
            )

    async def daily(self, product_id: UUID, start: date, end: date) -> list[DailyStats]:
        return [
            row
            for (pid, day), row in self._s.daily.items()
            if pid == product_id and start <= day <= end
        ]

    async def unique_visitors(self, product_id: UUID, start: date, end: date) -> int:
        return len(
            {h for pid, day, h in self._s.visitor_days if pid == product_id and start <= day <= end}
        )

    async def popular(self, start: date, end: date, limit: int) -> list[PopularProduct]:
        totals: dict[UUID, int] = {}
        for (pid, day), row in self._s.daily.items():
            if start <= day <= end and pid in self._s.products:
                totals[pid] = totals.get(pid, 0) + row.visits
        ranked = sorted(totals, key=lambda pid: (-totals[pid], self._s.products[pid].name, pid))
        return [
            PopularProduct(
                product_id=pid,
                name=self._s.products[pid].name,
                visits=totals[pid],
                unique_visitors=await self.unique_visitors(pid, start, end),
            )
            for pid in ranked[:limit]
        ]

    async def as_of(self) -> datetime | None:
        return self._s.as_of

    async def set_as_of(self, moment: datetime) -> None:
        if self._s.as_of is None or moment > self._s.as_of:
            self._s.as_of = moment


class InMemorySubscriptionRepository:
    def __init__(self, store: Store) -> None:
        self._s = store

    async def add(self, subscription: Subscription) -> Subscription:
        for existing in self._s.subscriptions.values():
            if (existing.product_id, existing.email) == (
                subscription.product_id,
                subscription.email,
            ):
                return existing
        self._s.subscriptions[subscription.id] = subscription
        return subscription

    async def delete_by_token(self, token: str) -> bool:
        for sub in list(self._s.subscriptions.values()):
            if sub.token == token:
                del self._s.subscriptions[sub.id]
                return True
        return False

    async def count_for_product(self, product_id: UUID) -> int:
        return sum(1 for s in self._s.subscriptions.values() if s.product_id == product_id)


class InMemoryNotificationRepository:
    def __init__(self, store: Store) -> None:
        self._s = store

    async def add(self, notification: Notification) -> None:
        self._s.notifications[notification.id] = notification

    async def save(self, notification: Notification) -> None:
        self._s.notifications[notification.id] = notification

    async def get(self, notification_id: UUID) -> Notification | None:
        return self._s.notifications.get(notification_id)

    async def search(
        self, product_id: UUID | None, status: NotificationStatus | None, limit: int
    ) -> list[Notification]:
        found = [
            n
            for n in self._s.notifications.values()
            if (product_id is None or n.product_id == product_id)
            and (status is None or n.status == status)
        ]
        return sorted(found, key=lambda n: n.created_at, reverse=True)[:limit]

    async def due_for_relay(self, limit: int, stale_before: datetime) -> list[UUID]:
        waiting = [
            n
            for n in self._s.notifications.values()
            if n.status == NotificationStatus.PENDING
            and (n.id not in self._s.enqueued or self._s.enqueued[n.id] < stale_before)
        ]
        return [n.id for n in sorted(waiting, key=lambda n: n.created_at)][:limit]

    async def mark_enqueued(self, notification_id: UUID, at: datetime) -> None:
        self._s.enqueued[notification_id] = at

    async def lease(self, notification_id: UUID, now: datetime, until: datetime) -> bool:
        held = self._s.leases.get(notification_id)
        if held is not None and held >= now:
            return False
        self._s.leases[notification_id] = until
        return True

    async def release(self, notification_id: UUID) -> None:
        self._s.leases.pop(notification_id, None)

    async def snapshot_recipients(self, notification_id: UUID, batch_size: int) -> int:
        if notification_id not in self._s.recipients:
            product_id = self._s.notifications[notification_id].product_id
            subs = sorted(
                (s.id for s in self._s.subscriptions.values() if s.product_id == product_id),
            )
            self._s.recipients[notification_id] = [
                (index // batch_size, sub_id) for index, sub_id in enumerate(subs)
            ]
        return len(self._s.recipients[notification_id])

    async def unsent_batches(self, notification_id: UUID) -> list[tuple[int, list[Recipient]]]:
        batches: dict[int, list[Recipient]] = {}
        for batch_no, sub_id in self._s.recipients.get(notification_id, []):
            sub = self._s.subscriptions.get(sub_id)
            if sub is None or (notification_id, batch_no) in self._s.batches_sent:
                continue
            batches.setdefault(batch_no, []).append(Recipient(sub.id, sub.email, sub.token))
        return sorted(batches.items())

    async def mark_batch_sent(
        self, notification_id: UUID, batch_no: int, provider_message_id: str, at: datetime
    ) -> None:
        self._s.batches_sent[(notification_id, batch_no)] = provider_message_id

    async def sent_message_ids(self, notification_id: UUID) -> list[str]:
        return [
            message_id
            for (nid, _), message_id in sorted(
                self._s.batches_sent.items(), key=lambda item: item[0][1]
            )
            if nid == notification_id
        ]


def _copy(store: Store) -> Store:
    """Copies the containers; values are frozen, except StoredVisit, which is copied too."""
    work = copy.copy(store)
    for name, value in vars(store).items():
        if isinstance(value, dict | set):
            setattr(work, name, copy.copy(value))
    work.visits = {key: replace(stored) for key, stored in store.visits.items()}
    return work


class InMemoryUnitOfWork:
    """Works on a copy of the store; commit() publishes it, leaving without commit discards it."""

    def __init__(self, store: Store) -> None:
        self._committed = store

    async def __aenter__(self) -> InMemoryUnitOfWork:
        self._begin()
        return self

    def _begin(self) -> None:
        self._work = _copy(self._committed)
        self.products = InMemoryProductRepository(self._work)
        self.visits = InMemoryVisitRepository(self._work)
        self.analytics = InMemoryAnalyticsRepository(self._work)
        self.subscriptions = InMemorySubscriptionRepository(self._work)
        self.notifications = InMemoryNotificationRepository(self._work)

    async def __aexit__(self, *exc_info: Any) -> None:
        del self._work

    async def commit(self) -> None:
        for name in vars(self._work):
            setattr(self._committed, name, getattr(self._work, name))
        self._begin()

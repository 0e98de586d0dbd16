"""Repositories and unit of work over plain dicts, with commit/rollback semantics."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
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
from domain.errors import DuplicateSku
from domain.notification import Notification, NotificationStatus, Recipient, Subscription
from domain.product import Product, ProductPage
from domain.visit import Visit


@dataclass(frozen=True)
class StoredVisit:
    visit: Visit
    seq: int


@dataclass(frozen=True)
class Engagement:
    seq: int
    visit_id: UUID
    duration_ms: int
    at: datetime


@dataclass
class Store:
    products: dict[UUID, Product] = field(default_factory=dict)
    visits: dict[UUID, StoredVisit] = field(default_factory=dict)
    engagements: list[Engagement] = field(default_factory=list)
    # Sequence numbers are dense and assigned in commit order, like SQLite's.
    watermarks: tuple[int, int] = (1, 1)
    visitor_days: set[tuple[UUID, date, int]] = field(default_factory=set)
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

    async def get_many(self, product_ids: Iterable[UUID]) -> dict[UUID, Product]:
        return {i: self._s.products[i] for i in product_ids if i in self._s.products}

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
        seq = max((v.seq for v in self._s.visits.values()), default=self._s.watermarks[0] - 1)
        stored = {UUID(visit.id): StoredVisit(visit, seq + n) for n, visit in enumerate(visits, 1)}
        if len(stored) < len(visits) or stored.keys() & self._s.visits.keys():
            raise ValueError("a visit id is already stored")  # as the primary key refuses it
        self._s.visits.update(stored)

    async def add_engagement(self, visit_id: UUID, duration_ms: int, at: datetime) -> bool:
        if visit_id not in self._s.visits:
            return False
        seq = self._s.engagements[-1].seq + 1 if self._s.engagements else self._s.watermarks[1]
        self._s.engagements.append(Engagement(seq, visit_id, duration_ms, at))
        return True

    async def open_window(self, span: int) -> AggregationWindow:
        visits_from, engagements_from = self._s.watermarks
        last_visit = max((v.seq for v in self._s.visits.values()), default=visits_from - 1)
        last_engagement = (
            self._s.engagements[-1].seq if self._s.engagements else engagements_from - 1
        )
        return AggregationWindow(
            visits_from,
            min(last_visit + 1, visits_from + span),
            engagements_from,
            min(last_engagement + 1, engagements_from + span),
        )

    async def visits_in(self, window: AggregationWindow) -> list[NewVisit]:
        return [
            NewVisit(
                UUID(s.visit.id),
                s.visit.product_id,
                s.visit.day,
                s.visit.visitor_hash,
                s.visit.duration_ms,
            )
            for s in sorted(self._s.visits.values(), key=lambda s: s.seq)
            if window.visits_from <= s.seq < window.visits_to
        ]

    async def durations_in(self, window: AggregationWindow) -> dict[UUID, int]:
        reported: dict[UUID, int] = {}
        for visit in await self.visits_in(window):
            if visit.duration_ms is not None:
                reported[visit.id] = visit.duration_ms
        for beacon in self._s.engagements:
            if window.engagements_from <= beacon.seq < window.engagements_to:
                reported[beacon.visit_id] = max(
                    beacon.duration_ms, reported.get(beacon.visit_id, 0)
                )
        return reported

    async def counted_durations(
        self, visit_ids: Iterable[UUID], window: AggregationWindow
    ) -> dict[UUID, CountedDuration]:
        found: dict[UUID, CountedDuration] = {}
        for visit_id in visit_ids:
            stored = self._s.visits.get(visit_id)
            if stored is None:
                continue
            earlier = [
                e.duration_ms
                for e in self._s.engagements
                if e.visit_id == visit_id and e.seq < window.engagements_from
            ]
            if stored.seq < window.visits_from and stored.visit.duration_ms is not None:
                earlier.append(stored.visit.duration_ms)
            found[visit_id] = CountedDuration(
                stored.visit.product_id, stored.visit.day, max(earlier) if earlier else None
            )
        return found

    async def close_window(self, window: AggregationWindow) -> None:
        self._s.watermarks = (window.visits_to, window.engagements_to)

    async def fold_window(self, span: int, open_from: date | None) -> WindowReport | None:
        return None  # the use case's step-by-step fold is the reference

    async def distinct_visitors(
        self, days: Iterable[tuple[UUID, date]], window: AggregationWindow
    ) -> dict[tuple[UUID, date], int]:
        wanted = set(days)
        seen: dict[tuple[UUID, date], set[bytes]] = {key: set() for key in wanted}
        for s in self._s.visits.values():
            key = (s.visit.product_id, s.visit.day)
            if key in wanted and s.seq < window.visits_to:
                seen[key].add(s.visit.visitor_hash)
        return {key: len(hashes) for key, hashes in seen.items()}

    async def delete_aggregated_before(self, cutoff: datetime) -> int:
        old = [
            key
            for key, s in self._s.visits.items()
            if s.visit.occurred_at < cutoff and s.seq < self._s.watermarks[0]
        ]
        for key in old:
            del self._s.visits[key]
        self._s.engagements = [
            e for e in self._s.engagements if e.at >= cutoff or e.seq >= self._s.watermarks[1]
        ]
        return len(old)


class InMemoryAnalyticsRepository:
    def __init__(self, store: Store) -> None:
        self._s = store

    async def add_visitor_keys(
        self, rows: Iterable[tuple[UUID, date, int]]
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

    async def unique_counts(
        self, days: Iterable[tuple[UUID, date]]
    ) -> dict[tuple[UUID, date], int]:
        return {key: self._s.daily[key].unique_visitors for key in days if key in self._s.daily}

    async def forget_visitor_keys_before(self, day: date) -> None:
        self._s.visitor_days = {row for row in self._s.visitor_days if row[1] >= day}

    async def unique_visitors(
        self, product_id: UUID, start: date, end: date, *, per_day: bool
    ) -> int:
        if per_day:
            return sum(
                row.unique_visitors
                for (pid, day), row in self._s.daily.items()
                if pid == product_id and start <= day <= end
            )
        return len(
            {h for pid, day, h in self._s.visitor_days if pid == product_id and start <= day <= end}
        )

    async def popular(
        self, start: date, end: date, limit: int, *, per_day: bool
    ) -> list[PopularProduct]:
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
                unique_visitors=await self.unique_visitors(pid, start, end, per_day=per_day),
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
    """Copies the containers; the values in them are frozen."""
    work = copy.copy(store)
    for name, value in vars(store).items():
        if isinstance(value, dict | set):
            setattr(work, name, copy.copy(value))
    work.engagements = list(store.engagements)
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

"""update_analytics and the analytics queries: exact, incremental per-product daily aggregates."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from uuid import UUID

from domain.analytics import (
    PopularProduct,
    ProductAnalytics,
    WindowReport,
    fold,
    resolve_range,
    summarise,
    visitor_key,
)
from domain.errors import InvalidValue, ProductNotFound
from ports.repositories import UnitOfWork
from ports.services import Clock, Metrics, SaltStore, UnitOfWorkFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AggregationReport:
    visits_processed: int
    visits_deleted: int


class AnalyticsService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        metrics: Metrics,
        salts: SaltStore,
        *,
        batch_size: int = 5000,
        native_span: int = 500_000,
        retention_days: int = 90,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._metrics = metrics
        self._salts = salts
        self._batch_size = batch_size  # rows per step-by-step window
        # Rows per set-based window (never splitting one transaction's rows).
        self._native_span = native_span
        self._retention_days = retention_days

    async def update_analytics(self) -> AggregationReport:
        """Folds everything written since the last run (new visits, beacons) into the daily
        rows, window by window.

        Each window is read, folded and its watermark moved in one transaction that holds
        the aggregation lock, so a crash or a concurrent run can neither lose nor double
        count. Raw visits are never rewritten: the cost follows the new rows only.
        """
        started = self._clock.now()
        processed = 0
        while True:
            async with self._uow() as uow:
                report = await uow.visits.fold_window(self._native_span)
                if report is None:
                    report = await self._fold_stepwise(uow)
                await uow.commit()
            processed += report.visits
            if report.visits == 0 and report.engagements == 0:
                break
        async with self._uow() as uow:
            await uow.analytics.set_as_of(started)
            deleted = await uow.visits.delete_aggregated_before(
                started - timedelta(days=self._retention_days)
            )
            await uow.commit()
        # A past day's salt must not outlive its day: visitors of that day become unlinkable.
        await self._salts.forget_before(started.date())
        self._metrics.increment("visits_aggregated", processed)
        return AggregationReport(visits_processed=processed, visits_deleted=deleted)

    async def _fold_stepwise(self, uow: UnitOfWork) -> WindowReport:
        """The reference fold, for stores without a set-based one: read the window, let the
        domain compute the deltas, write them."""
        window = await uow.visits.open_window(self._batch_size)
        if window.empty:
            return WindowReport(visits=0, engagements=0)
        visits = await uow.visits.visits_in(window)
        reported = await uow.visits.durations_in(window)
        counted = await uow.visits.counted_durations(reported, window)
        deltas = fold(visits, reported, counted)
        new_keys = [
            (product_id, day, visitor_key(visitor_hash))
            for (product_id, day), delta in deltas.items()
            for visitor_hash in delta.new_hashes
        ]
        for key, count in (await uow.analytics.add_visitor_keys(new_keys)).items():
            deltas[key].unique_visitors += count
        await uow.analytics.apply_deltas(deltas)
        await uow.visits.close_window(window)
        return WindowReport(
            visits=len(visits),
            engagements=window.engagements_to - window.engagements_from,
        )

    async def product_analytics(
        self, product_id: UUID, start: date | None, end: date | None
    ) -> ProductAnalytics:
        start, end = resolve_range(start, end, self._clock.now().date())
        async with self._uow() as uow:
            if await uow.products.get(product_id) is None:
                raise ProductNotFound(product_id)
            rows = await uow.analytics.daily(product_id, start, end)
            unique = await uow.analytics.unique_visitors(product_id, start, end)
            as_of = await uow.analytics.as_of()
        return summarise(product_id, start, end, rows, unique, as_of)

    async def popular(self, days: int, limit: int) -> list[PopularProduct]:
        if not 1 <= days <= 366:
            raise InvalidValue("days", "must be between 1 and 366")
        if not 1 <= limit <= 100:
            raise InvalidValue("limit", "must be between 1 and 100")
        today = self._clock.now().date()
        async with self._uow() as uow:
            return await uow.analytics.popular(today - timedelta(days=days - 1), today, limit)

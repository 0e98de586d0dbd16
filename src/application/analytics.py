"""update_analytics and the analytics queries: exact, incremental per-product daily aggregates."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from uuid import UUID

from domain.analytics import (
    PopularProduct,
    ProductAnalytics,
    deltas_for,
    resolve_range,
    summarise,
)
from domain.errors import InvalidValue, ProductNotFound
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
        retention_days: int = 90,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._metrics = metrics
        self._salts = salts
        self._batch_size = batch_size
        self._retention_days = retention_days

    async def update_analytics(self) -> AggregationReport:
        """Folds every pending visit (new visits and grown durations) into the daily rows.

        Each batch claims its visits, adds their deltas and marks them aggregated in one
        transaction, so a crash or a concurrent run can neither lose nor double count.
        """
        started = self._clock.now()
        processed = 0
        while True:
            async with self._uow() as uow:
                batch = await uow.visits.claim_pending(self._batch_size)
                if not batch:
                    break
                deltas = deltas_for(batch)
                new_hashes = [
                    (product_id, day, visitor_hash)
                    for (product_id, day), delta in deltas.items()
                    for visitor_hash in delta.new_hashes
                ]
                for key, count in (await uow.analytics.add_visitor_hashes(new_hashes)).items():
                    deltas[key].unique_visitors += count
                await uow.analytics.apply_deltas(deltas)
                await uow.visits.mark_aggregated(batch)
                await uow.commit()
            processed += len(batch)
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

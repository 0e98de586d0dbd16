"""update_analytics and the analytics queries: exact, incremental per-product daily aggregates."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
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

# A process deletes raw visits past retention on its first run, then at most once an hour.
RETENTION_EVERY = timedelta(hours=1)


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
        visitors_per_day: bool = True,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._metrics = metrics
        self._salts = salts
        self._batch_size = batch_size  # rows per step-by-step window
        # Rows per set-based window (never splitting one transaction's rows).
        self._native_span = native_span
        self._retention_days = retention_days
        # Daily salts: a visitor is recognisable within one UTC day only, so a day's unique
        # visitors are final once it can no longer receive visits, and a range's are the sum
        # of its days'. Visitor keys are then kept only for the open days (today, and
        # yesterday for visits still buffered at midnight); a closed day's visitors are
        # counted straight from the window (or recounted from its raw visits, in the rare
        # case it had been counted before). Without rotation (one secret), keys are kept for
        # every day: a range counts a returning visitor once.
        self._visitors_per_day = visitors_per_day
        # Housekeeping whose result changes slowly, done when it can find something: the
        # retention DELETE reads block ranges whatever it finds (more as history grows), and
        # the closed days' visitor keys only change at midnight. A long-lived process (the
        # worker) skips both in the runs between; a new process does both on its first run.
        self._retention_ran: datetime | None = None
        self._keys_forgotten_before: date | None = None

    async def update_analytics(self) -> AggregationReport:
        """Folds everything written since the last run (new visits, beacons) into the daily
        rows, window by window.

        Each window is read, folded and its watermark moved in one transaction that holds
        the aggregation lock, so a crash or a concurrent run can neither lose nor double
        count. Raw visits are never rewritten: the cost follows the new rows only.
        """
        started = self._clock.now()
        open_from = started.date() - timedelta(days=1) if self._visitors_per_day else None
        # Retention first, over what earlier runs folded: the rows this run is about to fold
        # are new and are not scanned for it (a backlog's block-range index is not
        # summarised yet, so scanning it would read every new row once more).
        deleted = 0
        if self._retention_ran is None or started - self._retention_ran >= RETENTION_EVERY:
            async with self._uow() as uow:
                deleted = await uow.visits.delete_aggregated_before(
                    started - timedelta(days=self._retention_days)
                )
                await uow.commit()
            self._retention_ran = started
        processed = 0
        while True:
            async with self._uow() as uow:
                report = await uow.visits.fold_window(self._native_span, open_from)
                if report is None:
                    report = await self._fold_stepwise(uow, open_from)
                await uow.commit()
            processed += report.visits
            if report.visits == 0 and report.engagements == 0:
                break
        forget = open_from if open_from != self._keys_forgotten_before else None
        async with self._uow() as uow:
            await uow.analytics.set_as_of(started)
            if forget is not None:
                # A fold writes keys for open days only: once a day's are gone, they stay gone.
                await uow.analytics.forget_visitor_keys_before(forget)
            await uow.commit()
        if forget is not None:
            self._keys_forgotten_before = forget
        self._metrics.increment("visits_aggregated", processed)
        # A past day's salt must not outlive its day: visitors of that day become unlinkable.
        try:
            await self._salts.forget_before(started.date())
        except Exception as exc:
            # The run's work is committed; failing it would only redo it. Redis expires a
            # day's salt with the day anyway; the next run asks again.
            self._metrics.increment("salt_cleanup_failures")
            log.warning("past days' salts not destroyed this run: %s", type(exc).__name__)
        return AggregationReport(visits_processed=processed, visits_deleted=deleted)

    async def _fold_stepwise(self, uow: UnitOfWork, open_from: date | None) -> WindowReport:
        """The reference fold, for stores without a set-based one: read the window, let the
        domain compute the deltas, write them."""
        window = await uow.visits.open_window(self._batch_size)
        if window.empty:
            return WindowReport(visits=0, engagements=0)
        visits = await uow.visits.visits_in(window)
        reported = await uow.visits.durations_in(window)
        counted = await uow.visits.counted_durations(reported, window)
        deltas = fold(visits, reported, counted)
        seen = {key: delta for key, delta in deltas.items() if delta.new_hashes}
        closed = {key for key in seen if open_from is not None and key[1] < open_from}
        # Open days: their visitor keys, insert-if-absent; the new ones are new visitors.
        new_keys = [
            (product_id, day, visitor_key(visitor_hash))
            for (product_id, day), delta in seen.items()
            if (product_id, day) not in closed
            for visitor_hash in delta.new_hashes
        ]
        for key, count in (await uow.analytics.add_visitor_keys(new_keys)).items():
            deltas[key].unique_visitors += count
        # Closed days: counted in this window, unless counted before (a late visit), then
        # recounted from their raw visits.
        counted_before = await uow.analytics.unique_counts(closed)
        recounted = await uow.visits.distinct_visitors(counted_before, window)
        for key in closed:
            if key in counted_before:
                gain = recounted[key] - counted_before[key]
                deltas[key].unique_visitors += max(gain, 0)  # raw visits past retention: keep
            else:
                deltas[key].unique_visitors += len(deltas[key].new_hashes)
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
            unique = await uow.analytics.unique_visitors(
                product_id, start, end, per_day=self._visitors_per_day
            )
            as_of = await uow.analytics.as_of()
        return summarise(product_id, start, end, rows, unique, as_of)

    async def popular(self, days: int, limit: int) -> list[PopularProduct]:
        if not 1 <= days <= 366:
            raise InvalidValue("days", "must be between 1 and 366")
        if not 1 <= limit <= 100:
            raise InvalidValue("limit", "must be between 1 and 100")
        today = self._clock.now().date()
        async with self._uow() as uow:
            return await uow.analytics.popular(
                today - timedelta(days=days - 1), today, limit, per_day=self._visitors_per_day
            )

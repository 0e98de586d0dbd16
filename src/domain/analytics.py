"""Aggregated analytics: per product and UTC day, and what the API reports from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from uuid import UUID

from domain.errors import InvalidValue

MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 30


@dataclass(frozen=True)
class DailyStats:
    day: date
    visits: int = 0
    unique_visitors: int = 0
    durations: int = 0  # visits that reported a duration
    duration_total_ms: int = 0

    @property
    def avg_visit_duration_ms(self) -> float | None:
        return self.duration_total_ms / self.durations if self.durations else None


@dataclass(frozen=True)
class ProductAnalytics:
    product_id: UUID
    start: date
    end: date
    total_visits: int
    unique_visitors: int
    avg_visit_duration_ms: float | None
    daily: list[DailyStats]
    as_of: datetime | None


@dataclass(frozen=True)
class PopularProduct:
    product_id: UUID
    name: str
    visits: int
    unique_visitors: int


@dataclass
class DailyDelta:
    """What one aggregation batch adds to a product's day."""

    visits: int = 0
    unique_visitors: int = 0
    durations: int = 0
    duration_total_ms: int = 0
    new_hashes: set[bytes] = field(default_factory=set)


def resolve_range(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    """Defaults to the last 30 days ending today; at most 366 days; start must not pass end."""
    end = end or (start + timedelta(days=DEFAULT_RANGE_DAYS - 1) if start else today)
    start = start or end - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    if start > end:
        raise InvalidValue("from", "must not be after 'to'")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise InvalidValue("to", f"the range must be at most {MAX_RANGE_DAYS} days")
    return start, end


def fill_days(start: date, end: date, rows: list[DailyStats]) -> list[DailyStats]:
    by_day = {row.day: row for row in rows}
    days = (start + timedelta(days=offset) for offset in range((end - start).days + 1))
    return [by_day.get(day, DailyStats(day=day)) for day in days]


def summarise(
    product_id: UUID,
    start: date,
    end: date,
    rows: list[DailyStats],
    unique_visitors: int,
    as_of: datetime | None,
) -> ProductAnalytics:
    daily = fill_days(start, end, rows)
    durations = sum(row.durations for row in daily)
    total_ms = sum(row.duration_total_ms for row in daily)
    return ProductAnalytics(
        product_id=product_id,
        start=start,
        end=end,
        total_visits=sum(row.visits for row in daily),
        unique_visitors=unique_visitors,
        avg_visit_duration_ms=total_ms / durations if durations else None,
        daily=daily,
        as_of=as_of,
    )


@dataclass(frozen=True)
class PendingVisit:
    """A visit whose contribution to the aggregates is not (fully) counted yet.

    ``counted`` says whether the visit itself is already in the daily rows;
    ``aggregated_duration_ms`` is the duration the rows currently include for it.
    """

    id: UUID
    product_id: UUID
    day: date
    visitor_hash: bytes
    counted: bool
    aggregated_duration_ms: int | None
    duration_ms: int | None


def deltas_for(batch: list[PendingVisit]) -> dict[tuple[UUID, date], DailyDelta]:
    """Folds a batch of pending visits into per product-and-day increments (exact, no I/O)."""
    deltas: dict[tuple[UUID, date], DailyDelta] = {}
    for visit in batch:
        delta = deltas.setdefault((visit.product_id, visit.day), DailyDelta())
        if not visit.counted:
            delta.visits += 1
            delta.new_hashes.add(visit.visitor_hash)
        if visit.duration_ms is not None and visit.duration_ms != visit.aggregated_duration_ms:
            if visit.aggregated_duration_ms is None:
                delta.durations += 1
            delta.duration_total_ms += visit.duration_ms - (visit.aggregated_duration_ms or 0)
    return deltas

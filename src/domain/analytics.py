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


def visitor_key(visitor_hash: bytes) -> int:
    """The first 64 bits of the keyed visitor hash, as a signed integer.

    Sets of visitors per product and day are kept as these keys: a quarter of the size of
    the full hash, and a collision within one product-day needs ~4 billion visitors.
    """
    return int.from_bytes(visitor_hash[:8], "big", signed=True)


@dataclass(frozen=True)
class NewVisit:
    """A visit in the aggregation window: counted once, when its window is folded."""

    id: UUID
    product_id: UUID
    day: date
    visitor_hash: bytes
    duration_ms: int | None


@dataclass(frozen=True)
class CountedDuration:
    """Where a visit's duration is counted, and the longest duration earlier windows
    counted for it (None: it never reported one before)."""

    product_id: UUID
    day: date
    duration_ms: int | None


def fold(
    visits: list[NewVisit],
    reported: dict[UUID, int],
    counted: dict[UUID, CountedDuration],
) -> dict[tuple[UUID, date], DailyDelta]:
    """What one window adds to the daily rows (pure; the same arithmetic as the SQL fold).

    ``reported`` is the longest duration each visit reported in the window (its own initial
    one or a beacon); ``counted`` what earlier windows already counted for those visits. A
    visit's duration enters the average once, and only its growth is added later.
    """
    deltas: dict[tuple[UUID, date], DailyDelta] = {}
    for visit in visits:
        delta = deltas.setdefault((visit.product_id, visit.day), DailyDelta())
        delta.visits += 1
        delta.new_hashes.add(visit.visitor_hash)
    for visit_id, longest in reported.items():
        known = counted.get(visit_id)
        if known is None:  # the visit is gone (retention): nothing to attribute it to
            continue
        if known.duration_ms is not None and longest <= known.duration_ms:
            continue
        delta = deltas.setdefault((known.product_id, known.day), DailyDelta())
        if known.duration_ms is None:
            delta.durations += 1
        delta.duration_total_ms += longest - (known.duration_ms or 0)
    return deltas


@dataclass(frozen=True)
class AggregationWindow:
    """The rows one fold takes: sequence numbers [from, to) of visits and of beacons.

    Everything below ``to`` is committed for good (PostgreSQL: transaction ids below the
    snapshot's xmin; SQLite: writers are serialised), so windows never miss a late commit.
    """

    visits_from: int
    visits_to: int
    engagements_from: int
    engagements_to: int

    @property
    def empty(self) -> bool:
        return self.visits_to <= self.visits_from and self.engagements_to <= self.engagements_from


@dataclass(frozen=True)
class WindowReport:
    visits: int
    engagements: int

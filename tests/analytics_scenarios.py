"""Random visit/beacon/flush/aggregate interleavings and the from-scratch answer they must give."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from hypothesis import strategies as st

from domain.product import ProductDraft
from tests.helpers import BROWSER_UA

DAY0 = datetime(2026, 3, 1, tzinfo=UTC)

visit_event = st.tuples(
    st.just("visit"),
    st.integers(0, 2),  # product
    st.integers(0, 4),  # visitor
    st.integers(0, 30_000),  # seconds since the previous visit: time only moves forward
)
beacon_event = st.tuples(st.just("beacon"), st.integers(0, 40), st.integers(1, 100_000))
events = st.lists(
    st.one_of(visit_event, visit_event, beacon_event, st.just(("flush",)), st.just(("aggregate",))),
    max_size=40,
)


@dataclass
class Expected:
    visits: dict[tuple[UUID, date], int]
    hashes: dict[tuple[UUID, date], set[bytes]]
    durations: dict[tuple[UUID, date], list[int]]


async def play(world: Any, scenario: list[tuple[Any, ...]]) -> tuple[list[UUID], Expected]:
    """Runs the scenario through the real use cases; returns products and the plain answer."""
    products = [
        (
            await world.products().create(
                ProductDraft.create(
                    sku=f"sku-{i}-{id(scenario)}-{datetime.now(UTC).timestamp()}",
                    name=f"P{i}",
                    description="",
                    price="1",
                    currency="EUR",
                )
            )
        ).id
        for i in range(3)
    ]
    world.clock.current = DAY0
    service, analytics = world.visits(), world.analytics()
    tracked: list[tuple[UUID, UUID, date, int]] = []  # visit id, product, day, visitor
    longest: dict[UUID, int] = {}
    for event in scenario:
        if event[0] == "visit":
            _, p, visitor, seconds = event
            world.clock.current += timedelta(seconds=seconds)
            visit_id = UUID(service.track_visit(f"198.51.100.{visitor}", BROWSER_UA, products[p]))
            tracked.append((visit_id, products[p], world.clock.current.date(), visitor))
        elif event[0] == "beacon" and tracked:
            visit_id = tracked[event[1] % len(tracked)][0]
            await service.record_engagement(visit_id, event[2])
            longest[visit_id] = max(longest.get(visit_id, 0), event[2])
        elif event[0] == "flush":
            await world.flush()
        elif event[0] == "aggregate":
            await analytics.update_analytics()
    await world.flush()
    await analytics.update_analytics()

    expected = Expected(defaultdict(int), defaultdict(set), defaultdict(list))
    for visit_id, product, day, visitor in tracked:
        expected.visits[(product, day)] += 1
        expected.hashes[(product, day)].add(bytes([visitor]))
        if visit_id in longest:
            expected.durations[(product, day)].append(longest[visit_id])
    return products, expected


async def check(world: Any, products: list[UUID], expected: Expected) -> None:
    analytics = world.analytics()
    for product in products:
        report = await analytics.product_analytics(
            product, DAY0.date(), DAY0.date() + timedelta(days=14)
        )
        days = {d.day: d for d in report.daily}
        for day, row in days.items():
            key = (product, day)
            assert row.visits == expected.visits.get(key, 0)
            assert row.unique_visitors == len(expected.hashes.get(key, ()))
            durations = expected.durations.get(key, [])
            assert row.durations == len(durations)
            assert row.duration_total_ms == sum(durations)
        assert report.total_visits == sum(expected.visits.get((product, d), 0) for d in days)
        if world.rotation == "daily":  # a visitor of two days is two visitors
            assert report.unique_visitors == sum(
                len(expected.hashes.get((product, d), ())) for d in days
            )

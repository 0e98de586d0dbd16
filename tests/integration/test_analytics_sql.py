"""update_analytics on the real databases: the same property as the unit test, and concurrency."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from sqlalchemy import insert

from adapters.sqlalchemy.engine import create_engine
from adapters.sqlalchemy.tables import visits
from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from domain.product import ProductDraft
from tests.analytics_scenarios import check, events, play
from tests.helpers import BROWSER_UA
from tests.unit.fakes import World

pytestmark = pytest.mark.integration


def run_in_fresh_loop(coroutine_factory: Callable[[], Any]) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine_factory()).result()


@pytest.mark.parametrize("database", ["sqlite", "postgres", "postgres-bulk"])
def test_incremental_equals_from_scratch_on_real_databases(
    database: str, request: pytest.FixtureRequest
) -> None:
    """postgres-bulk folds every window with the anti-join statement meant for backlogs;
    the PostgreSQL runs use rotation none, so one visitor keeps one key across days."""
    url = request.getfixturevalue(
        "sqlite_database" if database == "sqlite" else "postgres_database"
    )
    visitor_keys = "anti-join" if database == "postgres-bulk" else "on-conflict"

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(scenario=events)
    def prop(scenario: list[Any]) -> None:
        async def run() -> None:
            engine = create_engine(url)
            try:
                world = World(
                    rotation="daily" if database == "sqlite" else "none",
                    make_uow=lambda: SqlAlchemyUnitOfWork(engine, visitor_keys=visitor_keys),
                )
                products, expected = await play(world, scenario)
                await check(world, products, expected)
            finally:
                await engine.dispose()

        run_in_fresh_loop(run)

    prop()


async def test_two_runs_at_once_count_every_visit_exactly_once(fresh_postgres: str) -> None:
    engine = create_engine(fresh_postgres)
    world = World(make_uow=lambda: SqlAlchemyUnitOfWork(engine), batch_size=300)
    products = [
        (
            await world.products().create(
                ProductDraft.create(
                    sku=f"P{i}", name=f"P{i}", description="", price="1", currency="EUR"
                )
            )
        ).id
        for i in range(5)
    ]
    start = datetime(2026, 3, 1, 22, tzinfo=UTC)
    rng = random.Random(7)
    rows = []
    for _ in range(6000):
        rows.append(
            {
                "id": uuid4(),
                "product_id": rng.choice(products),
                "visitor_hash": bytes([rng.randrange(40)]) * 32,
                "occurred_at": start + timedelta(seconds=rng.randrange(4 * 3600)),
                "browser": "Firefox",
                "os": "Linux",
                "device": "desktop",
                "duration_ms": rng.choice([None, rng.randrange(1, 60000)]),
            }
        )
    for offset in range(0, len(rows), 200):  # 30 writes, like 30 buffer flushes
        async with engine.begin() as connection:
            await connection.execute(insert(visits), rows[offset : offset + 200])
    first, second = world.analytics(), world.analytics()
    reports = await asyncio.gather(first.update_analytics(), second.update_analytics())
    assert sum(r.visits_processed for r in reports) == 6000
    assert all(r.visits_processed > 0 for r in reports), "the runs did not overlap"

    expected: dict[Any, list[Any]] = defaultdict(lambda: [0, set(), 0, 0])
    for row in rows:
        key = (row["product_id"], row["occurred_at"].date())
        expected[key][0] += 1
        expected[key][1].add(row["visitor_hash"])
        if row["duration_ms"] is not None:
            expected[key][2] += 1
            expected[key][3] += row["duration_ms"]
    for product in products:
        report = await world.analytics().product_analytics(
            product, start.date(), start.date() + timedelta(days=1)
        )
        for day in report.daily:
            visits_, hashes, durations, total = expected.get((product, day.day), [0, set(), 0, 0])
            assert (day.visits, day.unique_visitors, day.durations, day.duration_total_ms) == (
                visits_,
                len(hashes),
                durations,
                total,
            )
    await engine.dispose()


async def test_a_visit_duration_counts_once_and_then_only_grows(uow_factory) -> None:  # type: ignore[no-untyped-def]
    world = World(make_uow=uow_factory)
    draft = ProductDraft.create(sku="D1", name="Lamp", description="", price="1", currency="EUR")
    pid = (await world.products().create(draft)).id
    service, analytics = world.visits(), world.analytics()
    beaconed = UUID(service.track_visit("203.0.113.1", BROWSER_UA, pid))
    buffered = UUID(service.track_visit("203.0.113.2", BROWSER_UA, pid))
    silent = service.track_visit("203.0.113.3", BROWSER_UA, pid)
    await service.record_engagement(buffered, 500)  # still in the buffer: written with the visit
    await world.flush()
    await analytics.update_analytics()
    for duration in (1000, 3000, 2000):  # each in its own window: max wins, growth only
        await service.record_engagement(beaconed, duration)
        await analytics.update_analytics()
    await service.record_engagement(buffered, 800)
    await analytics.update_analytics()
    assert silent is not None
    today = world.clock.now().date()
    [row] = (await analytics.product_analytics(pid, today, today)).daily
    assert (row.visits, row.unique_visitors, row.durations, row.duration_total_ms) == (
        3,
        3,
        2,
        3800,
    )


@pytest.mark.parametrize("visitor_keys", ["on-conflict", "anti-join"])
async def test_a_returning_visitor_counts_once_per_day_and_once_per_range_under_rotation_none(
    fresh_postgres: str, visitor_keys: str
) -> None:
    engine = create_engine(fresh_postgres)
    world = World(
        rotation="none", make_uow=lambda: SqlAlchemyUnitOfWork(engine, visitor_keys=visitor_keys)
    )
    draft = ProductDraft.create(sku="R1", name="Lamp", description="", price="1", currency="EUR")
    pid = (await world.products().create(draft)).id
    service, analytics = world.visits(), world.analytics()
    world.clock.current = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
    for _ in range(2):  # the same visitor on two days, folded in separate windows
        service.track_visit("203.0.113.9", BROWSER_UA, pid)
        await world.flush()
        await analytics.update_analytics()
        world.clock.advance(hours=2)
    report = await analytics.product_analytics(pid, date(2026, 3, 1), date(2026, 3, 2))
    assert [(d.visits, d.unique_visitors) for d in report.daily] == [(1, 1), (1, 1)]
    assert report.unique_visitors == 1
    await engine.dispose()


async def test_a_late_visit_to_a_closed_day_is_recounted_not_double_counted(uow_factory) -> None:  # type: ignore[no-untyped-def]
    """Daily rotation keeps visitor keys for today and yesterday only; a visit that reaches a
    day after that (its API process buffered it through a database outage) must not count
    a visitor that day already counted."""
    world = World(make_uow=uow_factory)
    draft = ProductDraft.create(sku="L1", name="Lamp", description="", price="1", currency="EUR")
    pid = (await world.products().create(draft)).id
    service, analytics = world.visits(), world.analytics()
    day = date(2026, 3, 1)
    world.clock.current = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    service.track_visit("203.0.113.1", BROWSER_UA, pid)
    await world.flush()
    await analytics.update_analytics()  # the day is open: its visitor keys are kept
    service.track_visit("203.0.113.1", BROWSER_UA, pid)  # the same visitor again
    service.track_visit("203.0.113.2", BROWSER_UA, pid)  # and a new one
    world.clock.advance(days=3)  # written and folded three days later: a closed day
    await world.flush()
    await analytics.update_analytics()
    report = await analytics.product_analytics(pid, day, day + timedelta(days=3))
    assert [(d.visits, d.unique_visitors) for d in report.daily if d.visits] == [(3, 2)]
    assert report.unique_visitors == 2
    async with world.uow() as uow:  # keys of closed days are gone
        assert await uow.analytics.unique_visitors(pid, day, day, per_day=False) == 0


async def test_a_closed_day_is_counted_from_its_window_without_keeping_keys(uow_factory) -> None:  # type: ignore[no-untyped-def]
    world = World(make_uow=uow_factory)
    draft = ProductDraft.create(sku="L2", name="Lamp", description="", price="1", currency="EUR")
    pid = (await world.products().create(draft)).id
    service, analytics = world.visits(), world.analytics()
    world.clock.current = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    for visitor in (1, 2, 1, 3, 2):
        service.track_visit(f"203.0.113.{visitor}", BROWSER_UA, pid)
    world.clock.advance(days=5)  # a rebuild, or a backlog: every day is closed
    service.track_visit("203.0.113.1", BROWSER_UA, pid)  # and one visit today
    await world.flush()
    await analytics.update_analytics()
    march_1, today = date(2026, 3, 1), date(2026, 3, 6)
    report = await analytics.product_analytics(pid, march_1, today)
    assert [(d.day, d.visits, d.unique_visitors) for d in report.daily if d.visits] == [
        (march_1, 5, 3),
        (today, 1, 1),
    ]
    assert report.unique_visitors == 4  # daily salts: visitors of two days are two visitors
    async with world.uow() as uow:  # only the open day keeps its keys
        assert await uow.analytics.unique_visitors(pid, march_1, march_1, per_day=False) == 0
        assert await uow.analytics.unique_visitors(pid, today, today, per_day=False) == 1

import asyncio
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from hypothesis import HealthCheck, given, settings

from application.analytics import AnalyticsService
from domain.product import ProductDraft
from tests.analytics_scenarios import check, events, play
from tests.helpers import BROWSER_UA
from tests.unit.fakes import World


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=events)
def test_incremental_aggregation_equals_a_from_scratch_count(scenario: list) -> None:
    async def run() -> None:
        world = World()
        products, expected = await play(world, scenario)
        await check(world, products, expected)

    asyncio.run(run())


async def make_product(world: World, name: str):
    draft = ProductDraft.create(sku=name, name=name, description="", price="1", currency="EUR")
    return (await world.products().create(draft)).id


async def visit(world: World, pid: UUID, ip: str = "203.0.113.1") -> None:
    """One page view, written."""
    world.visits().track_visit(ip, BROWSER_UA, pid)
    await world.flush()


async def test_unique_visitors_over_a_range_follow_the_rotation() -> None:
    for rotation, expected_unique in (("daily", 2), ("none", 1)):
        world = World(rotation=rotation)
        pid = await make_product(world, "lamp")
        service = world.visits()
        world.clock.current = datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)
        service.track_visit("203.0.113.9", BROWSER_UA, pid)
        world.clock.current += timedelta(seconds=2)  # next UTC day
        service.track_visit("203.0.113.9", BROWSER_UA, pid)
        await world.flush()
        await world.analytics().update_analytics()
        report = await world.analytics().product_analytics(pid, date(2026, 3, 1), date(2026, 3, 2))
        assert [(d.visits, d.unique_visitors) for d in report.daily] == [(1, 1), (1, 1)]
        assert report.unique_visitors == expected_unique, rotation


async def test_durations_leave_silent_visits_out_of_the_average() -> None:
    world = World()
    pid = await make_product(world, "lamp")
    service = world.visits()
    a = UUID(service.track_visit("203.0.113.1", BROWSER_UA, pid))
    service.track_visit("203.0.113.2", BROWSER_UA, pid)
    await world.flush()
    await world.analytics().update_analytics()
    await service.record_engagement(a, 4000)  # a late beacon, after aggregation
    await world.analytics().update_analytics()
    today = world.clock.now().date()
    report = await world.analytics().product_analytics(pid, today, today)
    assert report.avg_visit_duration_ms == 4000
    assert report.total_visits == 2


async def test_days_without_visits_appear_as_zeros_and_as_of_is_reported() -> None:
    world = World()
    pid = await make_product(world, "lamp")
    report = await world.analytics().product_analytics(pid, None, None)
    assert len(report.daily) == 30 and report.total_visits == 0
    assert report.avg_visit_duration_ms is None and report.as_of is None
    await world.analytics().update_analytics()
    assert (await world.analytics().product_analytics(pid, None, None)).as_of == world.clock.now()


async def test_popular_orders_by_visits_then_name() -> None:
    world = World()
    ids = {name: await make_product(world, name) for name in ("b-lamp", "a-lamp", "chair")}
    service = world.visits()
    for name, count in (("b-lamp", 2), ("a-lamp", 2), ("chair", 3)):
        for n in range(count):
            service.track_visit(f"203.0.113.{n}", BROWSER_UA, ids[name])
    await world.flush()
    await world.analytics().update_analytics()
    popular = await world.analytics().popular(days=7, limit=10)
    assert [(p.name, p.visits) for p in popular] == [("chair", 3), ("a-lamp", 2), ("b-lamp", 2)]
    assert (await world.analytics().popular(days=7, limit=1))[0].name == "chair"


async def test_retention_deletes_old_aggregated_visits_and_expired_salts() -> None:
    world = World()
    pid = await make_product(world, "lamp")
    await visit(world, pid)
    old_day = world.clock.now().date()
    world.clock.advance(days=91)
    await visit(world, pid)
    report = await world.analytics().update_analytics()
    assert report.visits_processed == 2 and report.visits_deleted == 0  # folded now
    world.clock.advance(minutes=59)
    report = await world.analytics().update_analytics()
    assert report.visits_deleted == 0  # retention runs once an hour in a process
    world.clock.advance(minutes=1)
    report = await world.analytics().update_analytics()
    assert report.visits_processed == 0 and report.visits_deleted == 1  # and then deletes
    assert len(world.store.visits) == 1
    new_process = AnalyticsService(world.uow, world.clock, world.metrics, world.salts)
    report = await new_process.update_analytics()
    assert report.visits_deleted == 0  # a new process: nothing left to delete
    assert old_day not in world.salts.salts
    kept = await world.analytics().product_analytics(pid, old_day, old_day)
    assert kept.total_visits == 1  # aggregates are kept


async def test_a_salt_store_that_is_away_does_not_fail_the_run_it_follows() -> None:
    """Destroying past salts comes after the run's work is committed: a salt store that is
    away (Redis restarting) is counted and asked again, the run is not failed and redone."""
    world = World()
    pid = await make_product(world, "lamp")
    await visit(world, pid)
    yesterday = world.clock.now().date()
    world.clock.advance(days=1)
    world.salts.down = True
    report = await world.analytics().update_analytics()
    assert report.visits_processed == 1
    assert world.metrics.counters["salt_cleanup_failures"] == 1
    assert yesterday in world.salts.salts
    world.salts.down = False
    await world.analytics().update_analytics()
    assert yesterday not in world.salts.salts
    assert world.metrics.counters["salt_cleanup_failures"] == 1

import asyncio
from datetime import UTC, datetime
from uuid import uuid4

from adapters.clock import SystemClock
from adapters.in_memory.repositories import InMemoryUnitOfWork, Store
from adapters.in_memory.services import InMemoryMetrics
from application.visit_buffer import VisitBuffer
from domain.visit import Visit


def visit() -> Visit:
    return Visit(uuid4(), uuid4(), b"h" * 32, datetime.now(UTC), "Chrome", "Linux", "desktop")


class FlakyUnitOfWork(InMemoryUnitOfWork):
    """Fails every commit while ``down`` is set, like a database that went away."""

    down = False

    async def commit(self) -> None:
        if FlakyUnitOfWork.down:
            raise ConnectionError("database unavailable")
        await super().commit()


def make(store: Store, metrics: InMemoryMetrics, **options: float) -> VisitBuffer:
    return VisitBuffer(lambda: FlakyUnitOfWork(store), metrics, SystemClock(), **options)  # type: ignore[arg-type]


async def test_close_writes_every_buffered_visit() -> None:
    store, metrics = Store(), InMemoryMetrics()
    buffer = make(store, metrics, interval_s=60)
    buffer.start()
    visits = [visit() for _ in range(2500)]
    for v in visits:
        await buffer.add(v)
    await buffer.close()
    assert set(store.visits) == {v.id for v in visits}
    assert metrics.counters["visits_written"] == 2500


async def test_flushes_on_the_interval_without_waiting_for_close() -> None:
    store, metrics = Store(), InMemoryMetrics()
    buffer = make(store, metrics, interval_s=0.01)
    buffer.start()
    await buffer.add(v := visit())
    for _ in range(100):
        if v.id in store.visits:
            break
        await asyncio.sleep(0.01)
    assert v.id in store.visits
    await buffer.close()


async def test_a_database_outage_keeps_visits_and_drops_only_past_the_bound() -> None:
    store, metrics = Store(), InMemoryMetrics()
    buffer = make(store, metrics, interval_s=0.01, max_size=100, max_backoff_s=0.05)
    FlakyUnitOfWork.down = True
    try:
        buffer.start()
        visits = [visit() for _ in range(150)]
        for v in visits:
            await buffer.add(v)
        await asyncio.sleep(0.2)
        assert store.visits == {}
        assert metrics.counters["visit_flush_failures"] >= 1
        assert metrics.counters["visits_dropped"] == 50
    finally:
        FlakyUnitOfWork.down = False
    await buffer.close()
    assert set(store.visits) == {v.id for v in visits[50:]}


async def test_a_beacon_for_a_buffered_visit_is_not_lost() -> None:
    store, metrics = Store(), InMemoryMetrics()
    buffer = make(store, metrics, interval_s=60)
    await buffer.add(v := visit())
    assert buffer.update_duration(v.id, 1200)
    assert not buffer.update_duration(uuid4(), 1200)
    await buffer.close()
    assert store.visits[v.id].visit.duration_ms == 1200  # written with the visit itself


async def test_closing_while_the_database_is_down_counts_what_is_lost() -> None:
    store, metrics = Store(), InMemoryMetrics()
    buffer = make(store, metrics, interval_s=60)
    FlakyUnitOfWork.down = True
    try:
        await buffer.add(visit())
        await buffer.close(timeout_s=0.1)
    finally:
        FlakyUnitOfWork.down = False
    assert store.visits == {} and metrics.counters["visits_dropped"] == 1

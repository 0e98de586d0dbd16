import asyncio
import time
from uuid import UUID, uuid4

from adapters.clock import SystemClock
from adapters.hashing import SecretHasher
from adapters.in_memory.repositories import InMemoryUnitOfWork, Store
from adapters.in_memory.services import InMemoryMetrics
from application.visit_buffer import VisitBuffer
from application.visits import VisitSealer
from domain.ids import VisitIds
from domain.visit import Sighting, UserAgentInfo
from tests.helpers import FailOnCall

CHROME = UserAgentInfo(is_bot=False, browser="Chrome", os="Linux", device="desktop")
new_id = VisitIds()


class Seen(Sighting):
    """A sighting whose ``id`` reads as the UUID the stored visit carries."""

    @property
    def uuid(self) -> UUID:
        return UUID(self.id)


def visit(ip: str = "203.0.113.5") -> Seen:
    return Seen(new_id(), uuid4(), ip, CHROME, time.time_ns() // 1_000)


class FlakyUnitOfWork(InMemoryUnitOfWork):
    """Fails every commit while ``down`` is set, like a database that went away."""

    down = False

    async def commit(self) -> None:
        if FlakyUnitOfWork.down:
            raise ConnectionError("database unavailable")
        await super().commit()


def make(
    store: Store,
    metrics: InMemoryMetrics,
    unit_of_work: type[FlakyUnitOfWork] = FlakyUnitOfWork,
    **options: float,
) -> VisitBuffer:
    sealer = VisitSealer(SecretHasher(b"k"), metrics)
    return VisitBuffer(lambda: unit_of_work(store), metrics, SystemClock(), sealer.seal, **options)  # type: ignore[arg-type]


async def test_close_writes_every_buffered_visit() -> None:
    store, metrics = Store(), InMemoryMetrics()
    buffer = make(store, metrics, interval_s=60)
    buffer.start()
    visits = [visit() for _ in range(2500)]
    for v in visits:
        buffer.add(v)
    await buffer.close()
    assert set(store.visits) == {v.uuid for v in visits}
    assert metrics.counters["visits_written"] == 2500


async def test_flushes_on_the_interval_without_waiting_for_close() -> None:
    store, metrics = Store(), InMemoryMetrics()
    buffer = make(store, metrics, interval_s=0.01)
    buffer.start()
    buffer.add(v := visit())
    for _ in range(100):
        if v.uuid in store.visits:
            break
        await asyncio.sleep(0.01)
    assert v.uuid in store.visits
    await buffer.close()


async def test_a_database_outage_keeps_visits_and_drops_only_past_the_bound() -> None:
    store, metrics = Store(), InMemoryMetrics()
    buffer = make(store, metrics, interval_s=0.01, max_size=100, max_backoff_s=0.05)
    FlakyUnitOfWork.down = True
    try:
        buffer.start()
        visits = [visit() for _ in range(150)]
        for v in visits:
            buffer.add(v)
        await asyncio.sleep(0.2)
        assert store.visits == {}
        assert metrics.counters["visit_flush_failures"] >= 1
        assert metrics.counters["visits_dropped"] == 50
    finally:
        FlakyUnitOfWork.down = False
    await buffer.close()
    assert set(store.visits) == {v.uuid for v in visits[50:]}


async def test_a_beacon_for_a_buffered_visit_is_not_lost() -> None:
    store, metrics = Store(), InMemoryMetrics()
    buffer = make(store, metrics, interval_s=60)
    buffer.add(v := visit())
    assert buffer.update_duration(v.id, 1200)
    assert not buffer.update_duration(str(uuid4()), 1200)
    await buffer.close()
    assert store.visits[v.uuid].visit.duration_ms == 1200  # written with the visit itself


async def test_closing_while_the_database_is_down_counts_what_is_lost() -> None:
    store, metrics = Store(), InMemoryMetrics()
    buffer = make(store, metrics, interval_s=60)
    FlakyUnitOfWork.down = True
    try:
        buffer.add(visit())
        await buffer.close(timeout_s=0.1)
    finally:
        FlakyUnitOfWork.down = False
    assert store.visits == {} and metrics.counters["visits_dropped"] == 1


async def test_addresses_are_sealed_at_the_next_tick_even_while_the_database_is_down() -> None:
    store, metrics = Store(), InMemoryMetrics()
    buffer = make(store, metrics, interval_s=0.01, max_backoff_s=0.05)
    FlakyUnitOfWork.down = True
    try:
        buffer.start()
        for n in range(20):
            buffer.add(visit(f"198.51.100.{n}"))
        assert "198.51.100.7" in repr(vars(buffer))  # only until the tick
        await asyncio.sleep(0.1)
        assert metrics.counters["visit_flush_failures"] >= 1 and len(buffer) == 20
        assert "198.51.100." not in repr(vars(buffer))  # kept as keyed hashes only
    finally:
        FlakyUnitOfWork.down = False
    await buffer.close()
    assert len(store.visits) == 20


async def test_a_beacon_while_its_visit_is_sealed_or_written_is_applied_after() -> None:
    store, metrics = Store(), InMemoryMetrics()
    release = asyncio.Event()
    sealer = VisitSealer(SecretHasher(b"k"), metrics)

    async def slow_seal(sightings):  # type: ignore[no-untyped-def]
        await release.wait()  # e.g. the day's salt being fetched from Redis
        return await sealer.seal(sightings)

    buffer = VisitBuffer(lambda: FlakyUnitOfWork(store), metrics, SystemClock(), slow_seal)  # type: ignore[arg-type]
    buffer.add(v := visit())
    flushing = asyncio.create_task(buffer.flush())
    await asyncio.sleep(0)
    assert buffer.update_duration(v.id, 900)
    release.set()
    await flushing
    assert store.visits[v.uuid].visit.duration_ms == 900


async def test_a_view_whose_address_is_not_an_ip_is_dropped_and_counted() -> None:
    store, metrics = Store(), InMemoryMetrics()
    buffer = make(store, metrics, interval_s=60)
    buffer.add(visit("unknown"))
    buffer.add(good := visit())
    await buffer.close()
    assert set(store.visits) == {good.uuid}
    assert metrics.counters["tracking_failures"] == 1
    assert metrics.counters["visits_tracked"] == 1


async def backlog_flushed_once(buffer: VisitBuffer, count: int) -> list[Seen]:
    """Buffers ``count`` views (a backlog) and flushes once; that flush may fail part-way."""
    views = [visit(f"198.51.100.{n % 250}") for n in range(count)]
    for v in views:
        buffer.add(v)
    try:
        await buffer.flush()
    except ConnectionError:
        pass
    return views


async def test_a_backlog_is_sealed_in_chunks_and_a_failed_chunk_is_tried_again() -> None:
    store, metrics = Store(), InMemoryMetrics()
    sealer = VisitSealer(SecretHasher(b"k"), metrics)
    seal_failing_once = FailOnCall(sealer.seal, 2, ConnectionError("salt store unavailable"))
    buffer = VisitBuffer(lambda: FlakyUnitOfWork(store), metrics, SystemClock(), seal_failing_once)  # type: ignore[arg-type]
    views = await backlog_flushed_once(buffer, 2_500)
    # nothing lost: the chunk sealed before the failure may be written already (pipelined)
    assert len(buffer) + len(store.visits) == 2_500
    await buffer.flush()
    assert set(store.visits) == {v.uuid for v in views}
    assert metrics.counters["visits_written"] == 2_500  # none written twice
    assert (
        seal_failing_once.calls == 2 + 2
    )  # 1,000 sealed, the failure, then the remaining 1,500 in two chunks


class CommitCounting(FlakyUnitOfWork):
    commits: list[int] = []  # visits per commit; the n-th commit (1-based) in ``fail`` fails
    fail: set[int] = set()

    async def commit(self) -> None:
        CommitCounting.commits.append(len(self._work.visits) - len(self._committed.visits))
        if len(CommitCounting.commits) in CommitCounting.fail:
            raise ConnectionError("database unavailable")
        await super().commit()


async def test_a_backlog_is_written_while_it_is_sealed_and_a_failed_write_loses_nothing() -> None:
    store, metrics = Store(), InMemoryMetrics()
    CommitCounting.commits, CommitCounting.fail = [], {2}
    buffer = make(store, metrics, CommitCounting, write_max=5_000)
    views = await backlog_flushed_once(buffer, 5_500)
    # The first chunk was written while the second was sealed; the second write failed and
    # stopped the sealing: its batch and the unsealed rest wait, none is lost or doubled.
    assert CommitCounting.commits[:2] == [1_000, 1_000]
    assert len(store.visits) + len(buffer) == 5_500
    await buffer.flush()
    assert set(store.visits) == {v.uuid for v in views}
    assert metrics.counters["visits_written"] == 5_500
    assert max(CommitCounting.commits) <= 5_000  # never more than write_max per write


class RoundTrips(CommitCounting):
    """A commit that takes a few turns of the event loop, as a database's does."""

    async def commit(self) -> None:
        for _ in range(3):
            await asyncio.sleep(0)
        await super().commit()


async def test_a_backlog_goes_out_in_writes_that_grow_to_write_max() -> None:
    store, metrics = Store(), InMemoryMetrics()
    CommitCounting.commits, CommitCounting.fail = [], set()
    buffer = make(store, metrics, RoundTrips, write_max=2_500)
    views = await backlog_flushed_once(buffer, 12_000)
    assert set(store.visits) == {v.uuid for v in views}
    # the first write takes the first chunk; later ones what was sealed meanwhile, capped
    assert CommitCounting.commits[0] == 1_000 and max(CommitCounting.commits) == 2_500
    assert sum(CommitCounting.commits) == 12_000

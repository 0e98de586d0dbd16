import asyncio
import hashlib
import hmac
from dataclasses import replace
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.errors import VisitNotFound
from domain.product import ProductDraft
from tests.helpers import BOT_UA, BROWSER_UA
from tests.unit.fakes import CountingFactory, World


async def product_id(world: World):
    draft = ProductDraft.create(sku="S", name="Lamp", description="", price="1", currency="EUR")
    return (await world.products().create(draft)).id


async def test_a_visit_keeps_a_keyed_hash_and_coarse_families_only() -> None:
    world = World()
    pid = await product_id(world)
    visit_id = world.visits().track_visit("203.0.113.7", BROWSER_UA, pid)
    visit = (await world.sink.visits())[visit_id]
    assert visit.product_id == pid
    assert (visit.browser, visit.os, visit.device) == ("Chrome", "Windows", "desktop")
    # Not a bare hash of the IP: the enumerable IPv4 space must not reverse it.
    assert visit.visitor_hash != hashlib.sha256(b"203.0.113.7").digest()
    salt = world.salts.salts[world.clock.now().date()]
    assert visit.visitor_hash == hmac.new(salt, b"203.0.113.7", hashlib.sha256).digest()
    assert "203.0.113.7" not in repr(visit) and "Chrome/124" not in repr(visit)


async def test_daily_rotation_recognises_a_visitor_within_a_day_only() -> None:
    world = World()
    pid = await product_id(world)
    service = world.visits()
    first = service.track_visit("203.0.113.7", BROWSER_UA, pid)
    again = service.track_visit("::ffff:203.0.113.7", BROWSER_UA, pid)
    world.clock.advance(days=1)
    tomorrow = service.track_visit("203.0.113.7", BROWSER_UA, pid)
    visits = await world.sink.visits()
    hashes = {v: visits[v].visitor_hash for v in (first, again, tomorrow)}
    assert hashes[first] == hashes[again] != hashes[tomorrow]


async def test_rotation_none_recognises_a_visitor_across_days() -> None:
    world = World(rotation="none")
    pid = await product_id(world)
    service = world.visits()
    first = service.track_visit("2001:db8::1", BROWSER_UA, pid)
    world.clock.advance(days=3)
    later = service.track_visit("2001:DB8::0:1", BROWSER_UA, pid)
    visits = await world.sink.visits()
    assert visits[first].visitor_hash == visits[later].visitor_hash


@pytest.mark.parametrize("agent", [BOT_UA, "", "curl/8.5.0", "python-requests/2.31"])
async def test_bots_are_counted_in_a_metric_not_as_visits(agent: str) -> None:
    world = World()
    pid = await product_id(world)
    assert world.visits().track_visit("203.0.113.7", agent, pid) is None
    assert await world.sink.visits() == {}
    assert world.metrics.counters["bots_filtered"] == 1


async def test_engagement_keeps_the_largest_duration_buffered_or_stored() -> None:
    world = World()
    pid = await product_id(world)
    service = world.visits()
    buffered = service.track_visit("203.0.113.7", BROWSER_UA, pid)
    await service.record_engagement(UUID(buffered), 3000)
    await service.record_engagement(UUID(buffered), 1000)
    assert (await world.sink.visits())[buffered].duration_ms == 3000
    await world.flush()
    await service.record_engagement(UUID(buffered), 2000)
    await service.record_engagement(UUID(buffered), 4000)
    assert [(e.visit_id, e.duration_ms) for e in world.store.engagements] == [
        (UUID(buffered), 2000),
        (UUID(buffered), 4000),
    ]


async def test_a_stored_beacon_asks_for_an_aggregation_run() -> None:
    """A beacon for a visit still buffered rides on its visit's flush (which asks); one for
    a visit already written is stored alone, and asks itself."""
    world = World()
    pid = await product_id(world)
    asked: list[int] = []
    service = world.visits(on_stored=asked.append)
    visit = service.track_visit("203.0.113.7", BROWSER_UA, pid)
    await service.record_engagement(UUID(visit), 3000)
    assert asked == []
    await world.flush()
    await service.record_engagement(UUID(visit), 4000)
    assert asked == [1]
    with pytest.raises(VisitNotFound):
        await service.record_engagement(uuid4(), 1000)
    assert asked == [1]


async def test_engagement_for_an_unknown_visit_is_not_found() -> None:
    with pytest.raises(VisitNotFound):
        await World().visits().record_engagement(uuid4(), 1000)


async def test_concurrent_misses_read_a_product_once_and_changes_are_seen_at_once() -> None:
    from adapters.product_cache import TTLProductCache
    from application.products import ProductService

    world = World()
    pid = await product_id(world)
    reads = CountingFactory(world.uow)
    service = ProductService(reads, world.clock, TTLProductCache(ttl_s=60))
    products = await asyncio.gather(*(service.get(pid) for _ in range(50)))
    assert reads.calls == 1 and {p.id for p in products} == {pid}
    await service.update(pid, {"name": "Lamp 2"})
    assert (await service.get(pid)).name == "Lamp 2"


class HeldReads:
    """A unit-of-work factory whose product reads, once read, wait for ``release`` before
    they answer: a change can land between a read and the cache's put."""

    def __init__(self, make: Any) -> None:
        self._make = make
        self.release = asyncio.Event()
        self.reading = asyncio.Event()

    def __call__(self) -> Any:
        uow = self._make()
        held = self

        class Held:
            async def __aenter__(self) -> Any:
                inner = await uow.__aenter__()
                for name in ("get", "get_many"):
                    read = getattr(inner.products, name)

                    async def waits(*args: Any, _read: Any = read) -> Any:
                        found = await _read(*args)
                        held.reading.set()
                        await held.release.wait()
                        return found

                    setattr(inner.products, name, waits)
                return inner

            async def __aexit__(self, *exc: Any) -> Any:
                return await uow.__aexit__(*exc)

        return Held()


@pytest.mark.parametrize("heard", ["from a peer", "by a resubscription"])
async def test_a_change_heard_while_a_product_is_read_is_not_cached_over(heard: str) -> None:
    """Another process changed the product after this one read it, and its invalidation
    arrived before the read's answer was cached: the answer must not be cached."""
    from adapters.product_cache import TTLProductCache
    from application.products import ProductService

    world = World()
    pid = await product_id(world)
    cache = TTLProductCache(ttl_s=60)
    reads = HeldReads(world.uow)
    service = ProductService(reads, world.clock, cache)
    first = asyncio.ensure_future(service.get(pid))
    await asyncio.wait_for(reads.reading.wait(), 5)  # read "Lamp"; not cached yet
    async with world.uow() as uow:  # the other process's change, then its message
        product = await uow.products.get(pid)
        await uow.products.update(replace(product, name="Renamed"))
        await uow.commit()
    if heard == "from a peer":
        cache.drop(pid)
    else:
        cache.clear()
    reads.release.set()
    assert (await first).name == "Lamp"  # answered as read: it was read before the change
    assert (await service.get(pid)).name == "Renamed"


async def test_an_aged_product_changed_during_its_re_read_is_not_cached_over() -> None:
    from adapters.product_cache import TTLProductCache
    from application.products import ProductService

    world = World()
    pid = await product_id(world)
    cache = TTLProductCache(ttl_s=0.05)  # fresh for <= 50 ms, served stale until 150 ms
    await ProductService(world.uow, world.clock, cache).get(pid)  # cached
    reads = HeldReads(world.uow)
    service = ProductService(reads, world.clock, cache)
    await asyncio.sleep(0.06)
    # Aged: served at once, re-read behind the page (a bounded wait: a read held forever
    # would hang the test, not fail it).
    assert (await asyncio.wait_for(service.get(pid), 5)).name == "Lamp"
    await asyncio.wait_for(reads.reading.wait(), 5)
    async with world.uow() as uow:
        product = await uow.products.get(pid)
        await uow.products.update(replace(product, name="Renamed"))
        await uow.commit()
    cache.drop(pid)  # a peer's invalidation
    reads.release.set()
    await asyncio.sleep(0.03)  # the re-read answers
    assert cache.get(pid) is None
    assert (await service.get(pid)).name == "Renamed"


async def test_an_aged_product_is_served_at_once_and_re_read_behind_the_page() -> None:
    from adapters.product_cache import TTLProductCache
    from application.products import ProductService

    world = World()
    pid = await product_id(world)
    others = []
    for n in range(5):
        draft = ProductDraft.create(
            sku=f"O{n}", name="Other", description="", price="1", currency="EUR"
        )
        others.append((await world.products().create(draft)).id)
    reads = CountingFactory(world.uow)
    service = ProductService(reads, world.clock, TTLProductCache(ttl_s=0.01))
    for each in (pid, *others):
        await service.get(each)
    async with world.uow() as uow:  # changed behind the service's back (another process)
        product = await uow.products.get(pid)
        await uow.products.update(replace(product, name="Renamed"))
        await uow.commit()
    await asyncio.sleep(0.02)
    reads.calls = 0
    assert (await service.get(pid)).name == "Lamp"  # stale, but no wait
    for each in others:
        await service.get(each)
    assert reads.calls == 0
    await asyncio.sleep(0.05)  # the background re-read: one for all six aged entries
    assert reads.calls == 1
    assert (await service.get(pid)).name == "Renamed"

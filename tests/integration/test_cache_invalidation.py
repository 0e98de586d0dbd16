"""Product cache invalidation across API processes over real Redis pub/sub."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
import redis.asyncio

from adapters.cache_invalidation import RedisCacheInvalidation
from adapters.product_cache import TTLProductCache
from domain.product import Product
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.integration


def lamp() -> Product:
    now = datetime.now(UTC)
    return Product(uuid4(), "L1", "Lamp", "", Decimal("1"), "EUR", now, now)


async def dropped(cache: TTLProductCache, product_id: UUID, seconds: float = 5.0) -> bool:
    """Whether ``cache`` forgets the product within ``seconds`` (a peer's message arriving)."""
    deadline = time.monotonic() + seconds
    while cache.get(product_id) is not None:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def test_a_change_in_one_process_drops_the_product_everywhere(redis_namespace: str) -> None:
    channel = f"{redis_namespace}:product-changed"
    here, there = TTLProductCache(ttl_s=60), TTLProductCache(ttl_s=60)
    buses = [RedisCacheInvalidation(REDIS_URL, channel, cache) for cache in (here, there)]
    for bus in buses:
        bus.start()
    try:
        await asyncio.wait_for(asyncio.gather(*(b.subscribed.wait() for b in buses)), 5)
        product = lamp()
        here.put(product)
        there.put(product)
        here.invalidate(product.id)  # what ProductService does after an admin change
        assert here.get(product.id) is None
        assert await dropped(there, product.id)
    finally:
        for bus in buses:
            await bus.stop()


async def test_a_process_cut_off_from_the_channel_forgets_what_it_cached(
    redis_namespace: str,
) -> None:
    """Changes made while its subscription was cut went unheard: once it hears again, what
    it had cached is read afresh rather than served for up to three TTLs."""
    channel = f"{redis_namespace}:product-changed"
    here, there = TTLProductCache(ttl_s=60), TTLProductCache(ttl_s=60)
    buses = [RedisCacheInvalidation(REDIS_URL, channel, cache) for cache in (here, there)]
    admin = redis.asyncio.Redis.from_url(REDIS_URL)
    for bus in buses:
        bus.start()
    try:
        await asyncio.wait_for(asyncio.gather(*(b.subscribed.wait() for b in buses)), 5)
        kept, later = lamp(), lamp()
        there.put(kept)
        cut = [
            client["id"]
            for client in await admin.client_list(_type="pubsub")
            if client["name"] == channel
        ]
        assert len(cut) == 2
        for client_id in cut:
            await admin.client_kill_filter(_id=client_id)
        assert await dropped(there, kept.id)
        # And it hears again.
        await asyncio.wait_for(asyncio.gather(*(b.subscribed.wait() for b in buses)), 5)
        there.put(later)
        here.invalidate(later.id)
        assert await dropped(there, later.id)
    finally:
        await admin.aclose()
        for bus in buses:
            await bus.stop()


def test_an_aged_entry_is_served_stale_once_and_never_past_the_hard_limit() -> None:
    cache = TTLProductCache(ttl_s=0.05)
    product = lamp()
    cache.put(product)
    assert cache.get(product.id) == (product, True)
    time.sleep(0.06)
    assert cache.get(product.id) == (product, False)  # the caller re-reads it now
    assert cache.get(product.id) == (product, True)  # others are not sent to re-read too
    time.sleep(0.11)  # past 3 x ttl: a lost invalidation cannot keep it any longer
    assert cache.get(product.id) is None

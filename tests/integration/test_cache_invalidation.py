"""Product cache invalidation across API processes over real Redis pub/sub."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest

from adapters.cache_invalidation import RedisCacheInvalidation
from adapters.product_cache import TTLProductCache
from domain.product import Product
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.integration


def lamp() -> Product:
    now = datetime.now(UTC)
    return Product(uuid4(), "L1", "Lamp", "", Decimal("1"), "EUR", now, now)


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
        for _ in range(100):
            if there.get(product.id) is None:
                break
            await asyncio.sleep(0.02)
        assert there.get(product.id) is None
    finally:
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

"""In-process product cache; admin changes invalidate it explicitly (and, with a broker,
in every API process over Redis pub/sub).

An entry is fresh for ``ttl_s`` (jittered); after that it is still served, once, while it is
re-read in the background, up to ``stale_s``. So a lost invalidation leaves a stale product
for at most ``stale_s`` seconds, and a product page never waits for the database because a
cache entry aged.

A read's answer is cached only if nothing dropped that product while it was being read
(``read_started``/``read_done``): an invalidation that lands between another process's read
and its put must not be cached over for a TTL. Only reads in flight are tracked, so the
bookkeeping is bounded by them, not by how many products ever changed.
"""

from __future__ import annotations

import random
import time
from collections import OrderedDict
from collections.abc import Callable
from uuid import UUID

from domain.product import Product


class TTLProductCache:
    def __init__(self, ttl_s: float = 5.0, max_items: int = 10_000) -> None:
        self._ttl_s = ttl_s
        self._stale_s = 3 * ttl_s
        self._max_items = max_items
        # product id -> (fresh until, served stale until, product)
        self._items: OrderedDict[UUID, tuple[float, float, Product]] = OrderedDict()
        self._listeners: list[Callable[[UUID], None]] = []
        # product id -> [reads in flight, drops of it since the first of them started]
        self._reading: dict[UUID, list[int]] = {}

    def get(self, product_id: UUID) -> tuple[Product, bool] | None:
        entry = self._items.get(product_id)
        if entry is None:
            return None
        fresh_until, stale_until, product = entry
        now = time.monotonic()
        if now <= fresh_until:
            return product, True
        if now <= stale_until:
            # Served stale once: the caller re-reads it; until then it counts as fresh.
            self._items[product_id] = (stale_until, stale_until, product)
            return product, False
        self._items.pop(product_id, None)
        return None

    def read_started(self, product_id: UUID) -> int:
        """Call before reading the product from the store; hand the answer to ``read_done``."""
        reading = self._reading.get(product_id)
        if reading is None:
            reading = self._reading[product_id] = [0, 0]
        reading[0] += 1
        return reading[1]

    def read_done(self, product_id: UUID, ticket: int, product: Product | None) -> None:
        """Caches what the read found (None: nothing, or it failed) unless the product was
        dropped after the read started: the answer may predate that change."""
        reading = self._reading[product_id]
        reading[0] -= 1
        if reading[0] == 0:
            del self._reading[product_id]
        if product is not None and reading[1] == ticket:
            self.put(product)

    def put(self, product: Product) -> None:
        if self._ttl_s <= 0:
            return
        # Jittered expiry: products cached together do not all expire together.
        now = time.monotonic()
        fresh_until = now + self._ttl_s * random.uniform(0.75, 1.0)
        self._items[product.id] = (fresh_until, now + self._stale_s, product)
        self._items.move_to_end(product.id)
        while len(self._items) > self._max_items:
            self._items.popitem(last=False)

    def invalidate(self, product_id: UUID) -> None:
        self.drop(product_id)
        for listener in self._listeners:
            listener(product_id)

    def drop(self, product_id: UUID) -> None:
        """Forgets one product locally (what a peer's invalidation message calls)."""
        self._items.pop(product_id, None)
        reading = self._reading.get(product_id)
        if reading is not None:
            reading[1] += 1

    def clear(self) -> None:
        """Forgets every product locally (after changes may have gone unheard)."""
        self._items.clear()
        for reading in self._reading.values():
            reading[1] += 1

    def on_invalidate(self, listener: Callable[[UUID], None]) -> None:
        self._listeners.append(listener)

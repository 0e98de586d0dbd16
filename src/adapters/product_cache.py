"""In-process product cache with a short TTL; admin changes invalidate it explicitly.

Without cross-process invalidation a stale read lasts at most ``ttl_s`` seconds.
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
        self._max_items = max_items
        self._items: OrderedDict[UUID, tuple[float, Product]] = OrderedDict()
        self._listeners: list[Callable[[UUID], None]] = []

    def get(self, product_id: UUID) -> Product | None:
        entry = self._items.get(product_id)
        if entry is None:
            return None
        expires, product = entry
        if expires < time.monotonic():
            self._items.pop(product_id, None)
            return None
        return product

    def put(self, product: Product) -> None:
        if self._ttl_s <= 0:
            return
        # Jittered expiry: products cached together do not all expire together.
        ttl = self._ttl_s * random.uniform(0.75, 1.0)
        self._items[product.id] = (time.monotonic() + ttl, product)
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

    def on_invalidate(self, listener: Callable[[UUID], None]) -> None:
        self._listeners.append(listener)

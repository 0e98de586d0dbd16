"""ProductService: reading and administering products; a change writes its notification."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

from domain.errors import ProductNotFound
from domain.notification import Notification, NotificationStatus
from domain.product import Product, ProductDraft, ProductPage
from ports.services import Clock, ProductCache, UnitOfWorkFactory


class ProductService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, cache: ProductCache) -> None:
        self._uow = uow
        self._clock = clock
        self._cache = cache
        self._loading: dict[UUID, asyncio.Future[Product]] = {}
        self._aged: set[UUID] = set()  # to re-read
        self._rereading: asyncio.Task[None] | None = None

    async def get(self, product_id: UUID) -> Product:
        """Served from the cache; a miss is read once however many requests wait for it
        (a popular product expiring must not send a burst of identical queries)."""
        cached = self._cache.get(product_id)
        if cached is not None:
            product, fresh = cached
            if not fresh:  # served as it is while it is re-read
                self._reread_later(product_id)
            return product
        return await asyncio.shield(self._loading_of(product_id))

    def _reread_later(self, product_id: UUID) -> None:
        """Aged entries are re-read together, one query for all that aged meanwhile: a
        thousand products cached for 10 s would otherwise cost a hundred transactions a
        second in every API process, a quarter of its throughput."""
        self._aged.add(product_id)
        if self._rereading is None or self._rereading.done():
            self._rereading = asyncio.ensure_future(self._reread())
            self._rereading.add_done_callback(_consume)

    async def _reread(self) -> None:
        await asyncio.sleep(0.02)  # let the entries ageing about now join this read
        while self._aged:
            aged, self._aged = self._aged, set()
            tickets = {product_id: self._cache.read_started(product_id) for product_id in aged}
            found: dict[UUID, Product] = {}
            try:
                # A failure leaves the entries as they are: served until their hard limit.
                async with self._uow() as uow:
                    found = await uow.products.get_many(aged)
            finally:
                for product_id, ticket in tickets.items():
                    self._cache.read_done(product_id, ticket, found.get(product_id))
            for product_id in aged - found.keys():
                self._cache.drop(product_id)

    def _loading_of(self, product_id: UUID) -> asyncio.Future[Product]:
        loading = self._loading.get(product_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load(product_id))
            self._loading[product_id] = loading
            loading.add_done_callback(lambda _: self._loading.pop(product_id, None))
        return loading

    async def _load(self, product_id: UUID) -> Product:
        ticket = self._cache.read_started(product_id)
        product = None
        try:
            async with self._uow() as uow:
                product = await uow.products.get(product_id)
        finally:
            self._cache.read_done(product_id, ticket, product)
        if product is None:
            # Local only: a deleted product was announced to peers by the admin's delete,
            # and a 404 for a random id must not cost a publish.
            self._cache.drop(product_id)
            raise ProductNotFound(product_id)
        return product

    async def page(self, limit: int, offset: int) -> ProductPage:
        async with self._uow() as uow:
            return await uow.products.page(limit, offset)

    async def create(self, draft: ProductDraft) -> Product:
        product = Product.new(draft, self._clock.now())
        async with self._uow() as uow:
            await uow.products.add(product)
            await uow.commit()
        return product

    async def update(self, product_id: UUID, changes: dict[str, Any]) -> tuple[Product, bool]:
        """Applies the changes; when something changed, the subscribers' notification is
        written in the same transaction (the outbox) so it cannot be lost.

        Returns the product and whether a notification was written.
        """
        now = self._clock.now()
        async with self._uow() as uow:
            current = await uow.products.get(product_id)
            if current is None:
                raise ProductNotFound(product_id)
            updated, diff = current.apply(changes, now)
            if not diff:
                return current, False
            await uow.products.update(updated)
            notify = await uow.subscriptions.count_for_product(product_id) > 0
            if notify:
                await uow.notifications.add(
                    Notification(
                        id=uuid4(),
                        product_id=product_id,
                        status=NotificationStatus.PENDING,
                        changes=diff,
                        recipients=0,
                        attempts=0,
                        provider_message_id=None,
                        last_error=None,
                        created_at=now,
                        updated_at=now,
                    )
                )
            await uow.commit()
        self._cache.invalidate(product_id)
        return updated, notify

    async def delete(self, product_id: UUID) -> None:
        async with self._uow() as uow:
            if not await uow.products.delete(product_id):
                raise ProductNotFound(product_id)
            await uow.commit()
        self._cache.invalidate(product_id)


def _consume(future: asyncio.Future[Any]) -> None:
    """A background re-read nobody awaits: a failure (e.g. the product was deleted) only
    means the cache entry goes away."""
    if not future.cancelled():
        future.exception()

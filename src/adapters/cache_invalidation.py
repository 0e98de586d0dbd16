"""Cross-process product cache invalidation over Redis pub/sub.

An admin change in one API process drops the product from every process's cache at once.
A process whose subscription was cut (Redis restarting) may have missed changes meanwhile:
it empties its cache each time it has subscribed. A change whose message could not be
published at all is bounded by the cache TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from uuid import UUID

import redis.asyncio

from adapters.product_cache import TTLProductCache

log = logging.getLogger(__name__)


class RedisCacheInvalidation:
    def __init__(self, url: str, channel: str, cache: TTLProductCache) -> None:
        # Named after the channel, so that CLIENT LIST tells its connections apart.
        self._client: Any = redis.asyncio.Redis.from_url(
            url, socket_connect_timeout=2, client_name=channel
        )
        self._channel = channel
        self._cache = cache
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[Any]] = set()
        self.subscribed = asyncio.Event()
        cache.on_invalidate(self._publish)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._listen(), name="cache-invalidation"
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self._client.aclose()

    def _publish(self, product_id: UUID) -> None:
        task = asyncio.get_running_loop().create_task(self._send(product_id))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send(self, product_id: UUID) -> None:
        try:
            await self._client.publish(self._channel, str(product_id))
        except Exception as exc:  # the TTL still bounds the stale read
            log.warning("cache invalidation not published: %s", type(exc).__name__)

    async def _listen(self) -> None:
        backoff = 0.5
        while True:
            try:
                async with self._client.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    async for message in pubsub.listen():
                        kind = message.get("type")
                        if kind == "message":
                            self._cache.drop(UUID(message["data"].decode()))
                        elif kind == "subscribe":  # confirmed, here or by a silent reconnect
                            # What changed before went unheard (a cut subscription, or pages
                            # served before the first one): forget it all; from now on we hear.
                            self._cache.clear()
                            self.subscribed.set()
                            backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.subscribed.clear()
                log.warning("cache invalidation channel lost (%s); retrying", type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30)

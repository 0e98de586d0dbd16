"""Job queue over a Dramatiq broker: Redis in production, the in-process StubBroker embedded."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.errors import BrokerConnectionError, DramatiqError
from dramatiq.middleware import AsyncIO

from ports.services import QueueUnavailable

QUEUE = "default"
COALESCE_TTL_S = 600  # a lost job cannot block its successors for longer than this


def build_broker(url: str | None, namespace: str = "footfall") -> dramatiq.Broker:
    if url:
        broker: dramatiq.Broker = RedisBroker(  # type: ignore[no-untyped-call]
            url=url, namespace=namespace, socket_connect_timeout=2, socket_timeout=5
        )
    else:
        broker = StubBroker()
        broker.emit_after("process_boot")
    broker.add_middleware(AsyncIO())
    # Messages go out by actor name: the queue must exist even where no actor is declared.
    broker.declare_queue(QUEUE)
    dramatiq.set_broker(broker)
    return broker


class DramatiqJobQueue:
    """Sends messages by actor name; coalescing keeps at most one such job pending.

    The pending flag lives in Redis when there is one (shared by every process), else in
    this process. Blocking broker calls run in a thread, off the event loop.
    """

    def __init__(
        self, broker: dramatiq.Broker, redis_url: str | None, prefix: str = "footfall"
    ) -> None:
        self._broker = broker
        self._redis = (
            redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
            if redis_url
            else None
        )
        self._prefix = prefix
        self._local: set[str] = set()
        self._lock = threading.Lock()

    async def enqueue(self, job: str, *args: str) -> None:
        await asyncio.to_thread(self._send, job, args)

    async def enqueue_coalesced(self, job: str) -> bool:
        return await asyncio.to_thread(self._send_coalesced, job)

    async def release(self, job: str) -> None:
        await asyncio.to_thread(self._release, job)

    def _send(self, job: str, args: tuple[str, ...]) -> None:
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=QUEUE, actor_name=job, args=args, kwargs={}, options={}
        )
        try:
            self._broker.enqueue(message)
        except (BrokerConnectionError, DramatiqError, redis.RedisError, OSError) as exc:
            raise QueueUnavailable(str(exc)) from exc

    def _send_coalesced(self, job: str) -> bool:
        if not self._claim(job):
            return False
        try:
            self._send(job, ())
        except QueueUnavailable:
            self._release(job)
            raise
        return True

    def _claim(self, job: str) -> bool:
        if self._redis is None:
            with self._lock:
                if job in self._local:
                    return False
                self._local.add(job)
                return True
        try:
            return bool(self._redis.set(self._key(job), 1, nx=True, ex=COALESCE_TTL_S))
        except (redis.RedisError, OSError) as exc:
            raise QueueUnavailable(str(exc)) from exc

    def _release(self, job: str) -> None:
        if self._redis is None:
            with self._lock:
                self._local.discard(job)
            return
        try:
            self._redis.delete(self._key(job))
        except (redis.RedisError, OSError):
            pass  # the TTL frees it

    def _key(self, job: str) -> str:
        return f"{self._prefix}:pending:{job}"

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()


def ping(broker: Any) -> bool:
    """True when the broker answers (the in-process broker always does)."""
    client = getattr(broker, "client", None)
    if client is None:
        return True
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False

"""Use cases wired over the in-memory adapters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from adapters.hashing import DailySaltHasher, SecretHasher
from adapters.in_memory.repositories import InMemoryUnitOfWork, Store
from adapters.in_memory.services import (
    InMemoryJobQueue,
    InMemoryMetrics,
    InMemorySaltStore,
    ListVisitSink,
    ManualClock,
    RecordingEmailSender,
)
from adapters.product_cache import TTLProductCache
from adapters.user_agents import LibraryUserAgentClassifier
from application.analytics import AnalyticsService
from application.notifications import NotificationService, SubscriptionService
from application.products import ProductService
from application.visits import VisitSealer, VisitService


@dataclass
class World:
    rotation: str = "daily"
    store: Store = field(default_factory=Store)
    clock: ManualClock = field(default_factory=ManualClock)
    salts: InMemorySaltStore = field(default_factory=InMemorySaltStore)
    sink: ListVisitSink = field(init=False)
    queue: InMemoryJobQueue = field(default_factory=InMemoryJobQueue)
    sender: RecordingEmailSender = field(default_factory=RecordingEmailSender)
    metrics: InMemoryMetrics = field(default_factory=InMemoryMetrics)
    # Another unit of work (e.g. SQLAlchemy's) to run the same use cases on a real database.
    make_uow: Callable[[], Any] | None = None
    batch_size: int = 7
    _analytics: AnalyticsService | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.hasher = (
            SecretHasher(b"secret") if self.rotation == "none" else DailySaltHasher(self.salts)
        )
        self.sink = ListVisitSink(VisitSealer(self.hasher, self.metrics).seal)

    def uow(self) -> Any:
        return self.make_uow() if self.make_uow else InMemoryUnitOfWork(self.store)

    def products(self) -> ProductService:
        return ProductService(self.uow, self.clock, TTLProductCache(ttl_s=0))

    def visits(self, on_stored: Callable[[int], None] | None = None) -> VisitService:
        return VisitService(
            uow=self.uow,
            sink=self.sink,
            classifier=LibraryUserAgentClassifier(),
            clock=self.clock,
            metrics=self.metrics,
            on_stored=on_stored,
        )

    def analytics(self) -> AnalyticsService:
        """One service per world, as the container makes one per process: what it remembers
        between runs (when retention ran, which keys are gone) is part of what is tested."""
        if self._analytics is None:
            self._analytics = AnalyticsService(
                self.uow,
                self.clock,
                self.metrics,
                self.salts,
                batch_size=self.batch_size,
                native_span=self.batch_size,
                visitors_per_day=self.rotation == "daily",
            )
        return self._analytics

    def subscriptions(self) -> SubscriptionService:
        return SubscriptionService(self.uow, self.clock)

    def notifications(self, batch_size: int = 1000) -> NotificationService:
        return NotificationService(
            self.uow,
            self.clock,
            self.sender,
            self.queue,
            self.metrics,
            unsubscribe_url="http://test/api/subscriptions/{token}",
            batch_size=batch_size,
        )

    async def flush(self) -> None:
        """Writes the sink's visits as a buffer flush would."""
        async with self.uow() as uow:
            await uow.visits.add_many(list((await self.sink.visits()).values()))
            await uow.commit()
        self.sink.sightings.clear()


class CountingFactory:
    """A unit-of-work factory that counts the units of work it hands out."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        return self._make()

"""Ports beyond the database: time, hashing keys, user agents, jobs, e-mail, metrics."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from domain.notification import EmailMessage
from domain.product import Product
from domain.visit import Sighting, UserAgentInfo, Visit
from ports.repositories import UnitOfWork


class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware UTC."""

    def micros(self) -> int:
        """The same instant as whole microseconds since the Unix epoch (cheaper on the hot
        path: no datetime is made)."""


class SaltStore(Protocol):
    async def salt_for(self, day: date) -> bytes:
        """The day's random salt, created once and shared by every process; gone after the day."""

    async def forget_before(self, day: date) -> None:
        """Destroys the salts of the days before ``day``."""


class VisitorHasher(Protocol):
    async def keyed_for(self, day: date) -> Callable[[str], bytes]:
        """The keyed hash (normalised IP -> digest) for visits of that UTC day."""


class UserAgentClassifier(Protocol):
    def classify(self, user_agent: str) -> UserAgentInfo: ...


class VisitSink(Protocol):
    """Where tracked page views go: a write-behind buffer in production. A sink seals
    sightings into Visits (application.visits.VisitSealer) before it writes anything."""

    def add(self, sighting: Sighting) -> None:
        """Takes the view over at once, without I/O: the product page is waiting."""

    def update_duration(self, visit_id: str, duration_ms: int) -> bool:
        """True when the visit was still buffered (and now carries the larger duration)."""


class VisitWriter(Protocol):
    """Where the buffer's flushes go: one batch of sealed visits stored at once."""

    async def write(self, visits: Sequence[Visit]) -> None:
        """Stores every visit of the batch in one transaction, or none of them (raises)."""

    async def close(self) -> None:
        """Releases what the writer holds (a connection); a later write opens it again."""


class JobQueue(Protocol):
    async def enqueue(self, job: str, *args: str) -> None:
        """Raises QueueUnavailable when the broker cannot take the message."""

    async def enqueue_coalesced(self, job: str) -> bool:
        """Enqueues unless one such job is already pending; True when it enqueued."""

    async def release(self, job: str) -> None:
        """Called by the job when it starts: the next trigger may enqueue again."""


class QueueUnavailable(Exception):
    """The broker did not accept a message; the caller keeps the work to retry."""


class EmailError(Exception):
    """Root of e-mail provider failures."""


class TransientEmailError(EmailError):
    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PermanentEmailError(EmailError):
    """The provider refused the request; retrying cannot help."""


class EmailSender(Protocol):
    async def send(self, message: EmailMessage) -> str:
        """Sends one request; returns the provider's message id."""


class ProductCache(Protocol):
    def get(self, product_id: UUID) -> tuple[Product, bool] | None:
        """The cached product and whether it is still fresh; a stale one may be served
        while it is re-read, up to the cache's hard limit."""

    def read_started(self, product_id: UUID) -> int:
        """A ticket for a read of the product from the store, begun now."""

    def read_done(self, product_id: UUID, ticket: int, product: Product | None) -> None:
        """Caches what the read found, unless the product was dropped since it began."""

    def invalidate(self, product_id: UUID) -> None:
        """Drops the product here and in every other API process."""

    def drop(self, product_id: UUID) -> None:
        """Drops the product from this process's cache only."""


class Metrics(Protocol):
    def increment(self, name: str, amount: float = 1) -> None: ...

    def observe(self, name: str, value: float) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]

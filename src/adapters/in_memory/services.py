"""In-memory clock, salts, job queue, e-mail sender, visit sink and metrics for unit tests."""

from __future__ import annotations

import secrets
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, date, datetime, timedelta

from adapters.metrics import COUNTERS, HISTOGRAMS
from domain.notification import EmailMessage
from domain.visit import Sighting, Visit, micros
from ports.services import EmailError, QueueUnavailable


class ManualClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def micros(self) -> int:
        return micros(self.current)

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


class InMemorySaltStore:
    """``down = True`` makes it refuse like an unreachable Redis."""

    def __init__(self) -> None:
        self.salts: dict[date, bytes] = {}
        self.down = False

    async def salt_for(self, day: date) -> bytes:
        self._check()
        return self.salts.setdefault(day, secrets.token_bytes(32))

    async def forget_before(self, day: date) -> None:
        self._check()
        self.salts = {d: s for d, s in self.salts.items() if d >= day}

    def _check(self) -> None:
        if self.down:
            raise ConnectionError("salt store unavailable")


class InMemoryJobQueue:
    """Records jobs; ``down = True`` makes it refuse like an unreachable broker."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, tuple[str, ...]]] = []
        self.coalesced: set[str] = set()
        self.down = False

    async def enqueue(self, job: str, *args: str) -> None:
        if self.down:
            raise QueueUnavailable("broker is down")
        self.jobs.append((job, args))

    async def enqueue_coalesced(self, job: str) -> bool:
        if job in self.coalesced:
            return False
        await self.enqueue(job)
        self.coalesced.add(job)
        return True

    async def release(self, job: str) -> None:
        self.coalesced.discard(job)


class RecordingEmailSender:
    """Keeps every accepted message; ``failures`` are raised, in order, before accepting."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.failures: list[EmailError] = []

    async def send(self, message: EmailMessage) -> str:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)
        return f"msg-{len(self.sent)}"


class ListVisitSink:
    """Keeps the page views and seals them when asked (a buffer that never flushes)."""

    def __init__(self, seal: Callable[[Iterable[Sighting]], Awaitable[dict[str, Visit]]]) -> None:
        self._seal = seal
        self.sightings: dict[str, Sighting] = {}

    def add(self, sighting: Sighting) -> None:
        self.sightings[sighting.id] = sighting

    async def visits(self) -> dict[str, Visit]:
        """The views so far, sealed (keyed hash, no address) as the buffer would write them."""
        return await self._seal(self.sightings.values())

    def update_duration(self, visit_id: str, duration_ms: int) -> bool:
        sighting = self.sightings.get(visit_id)
        if sighting is None:
            return False
        if sighting.duration_ms is None or duration_ms > sighting.duration_ms:
            self.sightings[visit_id] = sighting._replace(duration_ms=duration_ms)
        return True


class InMemoryMetrics:
    """Keeps what it is told; like the Prometheus adapter, it refuses a name that is not
    declared there, so a use case counting under a new name fails its unit tests, not
    production."""

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.observations: defaultdict[str, list[float]] = defaultdict(list)

    def increment(self, name: str, amount: float = 1) -> None:
        if name not in COUNTERS:
            raise KeyError(f"undeclared counter {name!r}")
        self.counters[name] += amount  # type: ignore[assignment]

    def observe(self, name: str, value: float) -> None:
        if name not in HISTOGRAMS:
            raise KeyError(f"undeclared histogram {name!r}")
        self.observations[name].append(value)

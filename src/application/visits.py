"""VisitService: turns (IP, User-Agent) into an anonymous Visit; takes engagement beacons.

The product page's share is kept small: classify the User-Agent (a cached lookup), take an
id, hand a Sighting to the sink. The keyed hashing happens in VisitSealer, a batch at a
time, when the buffer ticks (every 100 ms) and before anything is written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from uuid import UUID

from domain.errors import InvalidValue, VisitNotFound
from domain.ids import VisitIds
from domain.visit import US_PER_DAY, Sighting, Visit, day_of, normalise_ip, validate_duration
from ports.services import (
    Clock,
    Metrics,
    UnitOfWorkFactory,
    UserAgentClassifier,
    VisitorHasher,
    VisitSink,
)

log = logging.getLogger(__name__)
_new = tuple.__new__  # a NamedTuple made without its constructor's Python frame


class VisitSealer:
    """Seals sightings into Visits: the normalised address goes through the day's keyed hash
    and is dropped; what is left is the digest, the time and the User-Agent's families."""

    def __init__(self, hasher: VisitorHasher, metrics: Metrics) -> None:
        self._hasher = hasher
        self._metrics = metrics

    async def seal(self, sightings: Iterable[Sighting]) -> dict[str, Visit]:
        """Visits by id text; a sighting whose address is not an IP address is dropped and
        counted as a tracking failure."""
        visits: dict[str, Visit] = {}
        keyed: dict[int, Callable[[str], bytes]] = {}  # by day number since the epoch
        unreadable = 0
        # The loop runs once per page view: a sighting is unpacked (not read field by
        # field), the day is found by integer division (no datetime is made), and a Visit
        # is made with tuple.__new__ (what its NamedTuple constructor does, minus a frame).
        new_visit = _new
        for visit_id, product_id, ip, agent, at_us, duration_ms in sightings:
            day = at_us // US_PER_DAY
            visitor_hash = keyed.get(day)
            if visitor_hash is None:
                visitor_hash = keyed[day] = await self._hasher.keyed_for(day_of(at_us))
            try:
                address = normalise_ip(ip)
            except InvalidValue:
                unreadable += 1
                continue
            visits[visit_id] = new_visit(
                Visit,
                (
                    visit_id,
                    product_id,
                    visitor_hash(address),
                    at_us,
                    agent.browser,
                    agent.os,
                    agent.device,
                    duration_ms,
                ),
            )
        if unreadable:
            self._metrics.increment("tracking_failures", unreadable)
            log.error("%d page views dropped: the client address was not an IP address", unreadable)
        self._metrics.increment("visits_tracked", len(visits))
        return visits


class VisitService:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        sink: VisitSink,
        classifier: UserAgentClassifier,
        clock: Clock,
        metrics: Metrics,
        ids: Callable[[], str] | None = None,
        on_stored: Callable[[int], None] | None = None,
    ) -> None:
        self._uow = uow
        self._sink = sink
        self._classifier = classifier
        self._clock = clock
        self._metrics = metrics
        self._ids = ids or VisitIds()
        # Told when beacons are stored (the aggregation trigger, as the buffer tells it of
        # visits): a beacon for a visit already written still reaches the analytics soon.
        self._on_stored = on_stored

    def track_visit(self, ip: str, user_agent: str, product_id: UUID) -> str | None:
        """Records one page view and returns its visit id (UUIDv7 text), or None for a bot.
        Synchronous: nothing here waits, so the page pays no coroutine for it.

        The raw IP and User-Agent never leave process memory: the sink seals the view into
        a Visit (keyed hash of the normalised IP, coarse browser/OS/device families) before
        it writes anything.
        """
        agent = self._classifier.classify(user_agent)
        if agent.is_bot:
            self._metrics.increment("bots_filtered")
            return None
        visit_id = self._ids()
        sighting = _new(Sighting, (visit_id, product_id, ip, agent, self._clock.micros(), None))
        self._sink.add(sighting)
        return visit_id

    async def record_engagement(self, visit_id: UUID, duration_ms: int) -> None:
        """Keeps the largest duration reported for the visit, buffered or stored."""
        validate_duration(duration_ms)
        if self._sink.update_duration(str(visit_id), duration_ms):
            return
        async with self._uow() as uow:
            found = await uow.visits.add_engagement(visit_id, duration_ms, self._clock.now())
            await uow.commit()
        if not found:
            raise VisitNotFound(visit_id)
        if self._on_stored is not None:
            self._on_stored(1)

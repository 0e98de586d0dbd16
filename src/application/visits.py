"""VisitService: turns (IP, User-Agent) into an anonymous Visit; takes engagement beacons."""

from __future__ import annotations

import logging
from uuid import UUID

from domain.errors import VisitNotFound
from domain.ids import uuid7
from domain.visit import Visit, normalise_ip, validate_duration
from ports.services import (
    Clock,
    Metrics,
    UnitOfWorkFactory,
    UserAgentClassifier,
    VisitorHasher,
    VisitSink,
)

log = logging.getLogger(__name__)


class VisitService:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        sink: VisitSink,
        hasher: VisitorHasher,
        classifier: UserAgentClassifier,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self._uow = uow
        self._sink = sink
        self._hasher = hasher
        self._classifier = classifier
        self._clock = clock
        self._metrics = metrics

    async def track_visit(self, ip: str, user_agent: str, product_id: UUID) -> UUID | None:
        """Records one visit and returns its id, or None for a bot.

        The raw IP and User-Agent live only in this call: what is kept is the keyed hash of
        the normalised IP and the coarse browser/OS/device families.
        """
        agent = self._classifier.classify(user_agent)
        if agent.is_bot:
            self._metrics.increment("bots_filtered")
            return None
        now = self._clock.now()
        visit = Visit(
            id=uuid7(),
            product_id=product_id,
            visitor_hash=await self._hasher.visitor_hash(normalise_ip(ip), now),
            occurred_at=now,
            browser=agent.browser,
            os=agent.os,
            device=agent.device,
        )
        await self._sink.add(visit)
        self._metrics.increment("visits_tracked")
        return visit.id

    async def record_engagement(self, visit_id: UUID, duration_ms: int) -> None:
        """Keeps the largest duration reported for the visit, buffered or stored."""
        validate_duration(duration_ms)
        if self._sink.update_duration(visit_id, duration_ms):
            return
        async with self._uow() as uow:
            found = await uow.visits.add_engagement(visit_id, duration_ms, self._clock.now())
            await uow.commit()
        if not found:
            raise VisitNotFound(visit_id)

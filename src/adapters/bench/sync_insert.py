"""The seed's synchronous design, for the benchmark only: one INSERT per page view, awaited
by the page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from uuid import UUID

from application.visit_buffer import UnitOfWorkVisitWriter
from application.visits import VisitService
from domain.visit import Sighting, Visit
from ports.services import Clock, Metrics, UnitOfWorkFactory, UserAgentClassifier


class _Handed:
    """A sink that keeps what it was handed until it is taken."""

    def __init__(self) -> None:
        self.sightings: list[Sighting] = []

    def add(self, sighting: Sighting) -> None:
        self.sightings.append(sighting)

    def take(self) -> list[Sighting]:
        taken, self.sightings = self.sightings, []
        return taken

    def update_duration(self, visit_id: str, duration_ms: int) -> bool:
        return False  # nothing is buffered: beacons go to the database


class SynchronousInsertTracking:
    """Tracks a view as the service does, then seals it and INSERTs it before the page
    answers (the middleware awaits what ``track_visit`` returns when it is awaitable)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        seal: Callable[[Iterable[Sighting]], Awaitable[dict[str, Visit]]],
        classifier: UserAgentClassifier,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self._write = UnitOfWorkVisitWriter(uow).write
        self._seal = seal
        self._handed = _Handed()
        self._service = VisitService(
            uow=uow, sink=self._handed, classifier=classifier, clock=clock, metrics=metrics
        )

    async def track_visit(self, ip: str, user_agent: str, product_id: UUID) -> str | None:
        visit_id = self._service.track_visit(ip, user_agent, product_id)
        handed = self._handed.take()  # no await in between: this view's sighting only
        if handed:
            visits = await self._seal(handed)
            await self._write(list(visits.values()))
        return visit_id

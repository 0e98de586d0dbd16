"""The seed's synchronous design: one INSERT per page view, awaited by the page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from domain.visit import Sighting, Visit
from ports.services import UnitOfWorkFactory


class SynchronousInsertSink:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        seal: Callable[[Iterable[Sighting]], Awaitable[dict[str, Visit]]],
    ) -> None:
        self._uow = uow
        self._seal = seal

    async def add(self, sighting: Sighting) -> None:
        visits = await self._seal([sighting])
        async with self._uow() as uow:
            await uow.visits.add_many(list(visits.values()))
            await uow.commit()

    def update_duration(self, visit_id: str, duration_ms: int) -> bool:
        return False  # nothing is buffered: beacons go to the database

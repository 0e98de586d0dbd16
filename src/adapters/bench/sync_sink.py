"""The seed's synchronous design: one INSERT per page view, awaited by the page."""

from __future__ import annotations

from uuid import UUID

from domain.visit import Visit
from ports.services import UnitOfWorkFactory


class SynchronousInsertSink:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def add(self, visit: Visit) -> None:
        async with self._uow() as uow:
            await uow.visits.add_many([visit])
            await uow.commit()

    def update_duration(self, visit_id: UUID, duration_ms: int) -> bool:
        return False  # nothing is buffered: beacons go to the database

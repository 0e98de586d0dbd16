"""Visit repository: bulk ingestion (COPY on PostgreSQL) and the queue aggregation drains."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Integer, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sqlalchemy.tables import visits
from domain.analytics import PendingVisit
from domain.visit import Visit

COPY_COLUMNS = (
    "id",
    "product_id",
    "visitor_hash",
    "occurred_at",
    "browser",
    "os",
    "device",
    "duration_ms",
    "counted",
    "pending",
)


class SqlVisitRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._db = connection

    async def add_many(self, batch: Sequence[Visit]) -> None:
        if not batch:
            return
        if self._db.dialect.name == "postgresql":
            await self._copy(batch)
            return
        await self._db.execute(
            insert(visits),
            [
                {
                    "id": v.id,
                    "product_id": v.product_id,
                    "visitor_hash": v.visitor_hash,
                    "occurred_at": v.occurred_at,
                    "browser": v.browser,
                    "os": v.os,
                    "device": v.device,
                    "duration_ms": v.duration_ms,
                    "counted": False,
                    "pending": True,
                }
                for v in batch
            ],
        )

    async def _copy(self, batch: Sequence[Visit]) -> None:
        # The first statement opens the transaction; a COPY issued before it would be
        # autocommitted on its own by asyncpg.
        await self._db.exec_driver_sql("SELECT 1")
        raw = await self._db.get_raw_connection()
        driver: Any = raw.driver_connection
        await driver.copy_records_to_table(
            "visits",
            columns=COPY_COLUMNS,
            records=[
                (
                    v.id,
                    v.product_id,
                    v.visitor_hash,
                    v.occurred_at,
                    v.browser,
                    v.os,
                    v.device,
                    v.duration_ms,
                    False,
                    True,
                )
                for v in batch
            ],
        )

    async def record_duration(self, visit_id: UUID, duration_ms: int) -> bool:
        result = await self._db.execute(
            update(visits)
            .where(visits.c.id == visit_id)
            .where((visits.c.duration_ms.is_(None)) | (visits.c.duration_ms < duration_ms))
            .values(duration_ms=duration_ms, pending=True)
        )
        if result.rowcount:
            return True
        found = await self._db.execute(select(visits.c.id).where(visits.c.id == visit_id))
        return found.first() is not None

    async def claim_pending(self, limit: int) -> list[PendingVisit]:
        # PostgreSQL: concurrent runs take disjoint rows. SQLite: transactions begin
        # IMMEDIATE (see engine.py), so runs are serialised anyway.
        rows = await self._db.execute(
            select(
                visits.c.id,
                visits.c.product_id,
                visits.c.occurred_at,
                visits.c.visitor_hash,
                visits.c.counted,
                visits.c.aggregated_duration_ms,
                visits.c.duration_ms,
            )
            .where(visits.c.pending)
            .order_by(visits.c.occurred_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [
            PendingVisit(
                id=r.id,
                product_id=r.product_id,
                day=r.occurred_at.date(),
                visitor_hash=r.visitor_hash,
                counted=r.counted,
                aggregated_duration_ms=r.aggregated_duration_ms,
                duration_ms=r.duration_ms,
            )
            for r in rows
        ]

    async def mark_aggregated(self, batch: Sequence[PendingVisit]) -> None:
        if not batch:
            return
        counted: Any = bindparam("counted_duration", type_=Integer)
        await self._db.execute(
            update(visits)
            .where(visits.c.id == bindparam("visit_id"))
            .values(
                counted=True,
                aggregated_duration_ms=counted,
                pending=visits.c.duration_ms.is_distinct_from(counted),
            ),
            [{"visit_id": v.id, "counted_duration": v.duration_ms} for v in batch],
        )

    async def delete_aggregated_before(self, cutoff: datetime) -> int:
        result = await self._db.execute(
            delete(visits).where(visits.c.occurred_at < cutoff).where(visits.c.pending.is_(False))
        )
        return result.rowcount

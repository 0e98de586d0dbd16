"""Analytics repository: exact unique visitors per product-day and the daily aggregate rows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Table, delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sqlalchemy.engine import upsert_insert
from adapters.sqlalchemy.tables import (
    aggregation_state,
    product_daily,
    products,
    visitor_days,
)
from domain.analytics import DailyDelta, DailyStats, PopularProduct


class SqlAnalyticsRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._db = connection
        self._insert = upsert_insert(connection)

    async def add_visitor_keys(
        self, rows: Iterable[tuple[UUID, date, int]]
    ) -> dict[tuple[UUID, date], int]:
        # Sorted so concurrent runs take row locks in one order and cannot deadlock.
        params = [{"product_id": p, "day": d, "visitor_key": k} for p, d, k in sorted(rows)]
        if not params:
            return {}
        statement = (
            self._insert(visitor_days)
            .on_conflict_do_nothing()
            .returning(visitor_days.c.product_id, visitor_days.c.day)
        )
        result = await self._db.execute(statement, params)
        return dict(Counter((r.product_id, r.day) for r in result))

    async def apply_deltas(self, deltas: dict[tuple[UUID, date], DailyDelta]) -> None:
        if not deltas:
            return
        statement = self._insert(product_daily)
        excluded = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=[product_daily.c.product_id, product_daily.c.day],
            set_={
                name: product_daily.c[name] + excluded[name]
                for name in ("visits", "unique_visitors", "durations", "duration_total_ms")
            },
        )
        await self._db.execute(
            statement,
            [
                {
                    "product_id": product_id,
                    "day": day,
                    "visits": d.visits,
                    "unique_visitors": d.unique_visitors,
                    "durations": d.durations,
                    "duration_total_ms": d.duration_total_ms,
                }
                for (product_id, day), d in sorted(deltas.items())
            ],
        )

    async def daily(self, product_id: UUID, start: date, end: date) -> list[DailyStats]:
        rows = await self._db.execute(
            select(product_daily)
            .where(product_daily.c.product_id == product_id)
            .where(product_daily.c.day.between(start, end))
        )
        return [
            DailyStats(
                day=r.day,
                visits=r.visits,
                unique_visitors=r.unique_visitors,
                durations=r.durations,
                duration_total_ms=r.duration_total_ms,
            )
            for r in rows
        ]

    async def unique_counts(
        self, days: Iterable[tuple[UUID, date]]
    ) -> dict[tuple[UUID, date], int]:
        wanted = sorted(days)
        found: dict[tuple[UUID, date], int] = {}
        for start in range(0, len(wanted), 500):
            rows = await self._db.execute(
                select(
                    product_daily.c.product_id, product_daily.c.day, product_daily.c.unique_visitors
                ).where(
                    tuple_(product_daily.c.product_id, product_daily.c.day).in_(
                        wanted[start : start + 500]
                    )
                )
            )
            found.update({(r.product_id, r.day): r.unique_visitors for r in rows})
        return found

    async def forget_visitor_keys_before(self, day: date) -> None:
        await self._db.execute(delete(visitor_days).where(visitor_days.c.day < day))

    async def unique_visitors(
        self, product_id: UUID, start: date, end: date, *, per_day: bool
    ) -> int:
        found = await self._unique_visitors([product_id], start, end, per_day=per_day)
        return found.get(product_id, 0)

    async def _unique_visitors(
        self, product_ids: list[UUID], start: date, end: date, *, per_day: bool
    ) -> dict[UUID, int]:
        table: Table = product_daily if per_day else visitor_days
        counted: ColumnElement[Any] = (
            # Visitors of different days are different visitors (daily salts): sum the days.
            func.sum(product_daily.c.unique_visitors)
            if per_day
            else func.count(visitor_days.c.visitor_key.distinct())
        )
        rows = await self._db.execute(
            select(table.c.product_id, counted)
            .where(table.c.product_id.in_(product_ids))
            .where(table.c.day.between(start, end))
            .group_by(table.c.product_id)
        )
        return {r[0]: int(r[1]) for r in rows}

    async def popular(
        self, start: date, end: date, limit: int, *, per_day: bool
    ) -> list[PopularProduct]:
        visits_sum = func.sum(product_daily.c.visits).label("visits")
        rows = (
            await self._db.execute(
                select(products.c.id, products.c.name, visits_sum)
                .join(product_daily, product_daily.c.product_id == products.c.id)
                .where(product_daily.c.day.between(start, end))
                .group_by(products.c.id, products.c.name)
                .order_by(visits_sum.desc(), products.c.name, products.c.id)
                .limit(limit)
            )
        ).all()
        uniques = await self._unique_visitors([r.id for r in rows], start, end, per_day=per_day)
        return [
            PopularProduct(
                product_id=r.id,
                name=r.name,
                visits=int(r.visits),
                unique_visitors=uniques.get(r.id, 0),
            )
            for r in rows
        ]

    async def as_of(self) -> datetime | None:
        row = (await self._db.execute(select(aggregation_state.c.as_of))).first()
        return row.as_of if row else None

    async def set_as_of(self, moment: datetime) -> None:
        current = await self.as_of()
        if current is None or moment > current:
            await self._db.execute(
                aggregation_state.update().where(aggregation_state.c.id == 1).values(as_of=moment)
            )

"""Visit repository: bulk ingestion (COPY on PostgreSQL) and the windows aggregation folds."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sqlalchemy.tables import (
    aggregation_state,
    engagements,
    visits,
)
from domain.analytics import AggregationWindow, CountedDuration, NewVisit, WindowReport
from domain.visit import Visit

# The visits columns a COPY writes: exactly the Visit fields, in their order.
COPY_COLUMNS: tuple[str, ...] = Visit._fields

# PostgreSQL folds a window in one statement, with the arithmetic of domain.analytics.fold
# done set-based: new visits counted once with the longest duration they reported, visitor
# keys added if absent (exact uniques), and for visits of earlier windows only the growth
# of their longest duration.
#
# Visitor keys go in one of two ways. ON CONFLICT DO NOTHING probes the index once per new
# key: the cost follows the window, whatever the history. A bulk window (a backlog, a
# rebuild) instead anti-joins against visitor_days: twice as fast per row, but the join
# reads the whole table, so it only pays when the window is large next to it. Both are safe
# because folds are serialised by the aggregation_state row lock.
FRESH_BY_CONFLICT = """
    INSERT INTO visitor_days (product_id, day, visitor_key)
    SELECT DISTINCT product_id, day, visitor_key FROM new_visits
    ORDER BY 1, 2, 3
    ON CONFLICT DO NOTHING
    RETURNING product_id, day"""
FRESH_BY_ANTI_JOIN = """
    INSERT INTO visitor_days (product_id, day, visitor_key)
    SELECT DISTINCT n.product_id, n.day, n.visitor_key
    FROM new_visits AS n
    WHERE NOT EXISTS (
        SELECT 1 FROM visitor_days AS known
        WHERE known.product_id = n.product_id AND known.day = n.day
          AND known.visitor_key = n.visitor_key
    )
    RETURNING product_id, day"""
BULK_WINDOW_ROWS = 250_000
FOLD_WINDOW = """
WITH new_visits AS MATERIALIZED (
    SELECT id, product_id, (occurred_at AT TIME ZONE 'UTC')::date AS day, duration_ms,
           ('x' || encode(substring(visitor_hash FROM 1 FOR 8), 'hex'))::bit(64)::bigint
               AS visitor_key
    FROM visits
    WHERE seq >= :visits_from AND seq < :visits_to
), beacons AS MATERIALIZED (
    SELECT visit_id, max(duration_ms) AS duration_ms
    FROM engagements
    WHERE seq >= :engagements_from AND seq < :engagements_to
    GROUP BY visit_id
), fresh AS ({fresh}
), uniques AS (
    SELECT product_id, day, count(*) AS n FROM fresh GROUP BY product_id, day
), new_counts AS (
    SELECT n.product_id, n.day, count(*) AS visits,
           count(greatest(n.duration_ms, b.duration_ms)) AS durations,
           coalesce(sum(greatest(n.duration_ms, b.duration_ms)), 0) AS total_ms
    FROM new_visits AS n LEFT JOIN beacons AS b ON b.visit_id = n.id
    GROUP BY n.product_id, n.day
), grown AS (
    SELECT v.product_id, (v.occurred_at AT TIME ZONE 'UTC')::date AS day,
           b.duration_ms AS new_ms,
           greatest(v.duration_ms, (
               SELECT max(e.duration_ms) FROM engagements AS e
               WHERE e.visit_id = b.visit_id AND e.seq < :engagements_from
           )) AS old_ms
    FROM beacons AS b JOIN visits AS v ON v.id = b.visit_id
    WHERE v.seq < :visits_from
), old_counts AS (
    SELECT product_id, day, count(*) FILTER (WHERE old_ms IS NULL) AS durations,
           sum(new_ms - coalesce(old_ms, 0)) AS total_ms
    FROM grown
    WHERE old_ms IS NULL OR new_ms > old_ms
    GROUP BY product_id, day
), daily AS (
    INSERT INTO product_daily AS p
        (product_id, day, visits, unique_visitors, durations, duration_total_ms)
    SELECT k.product_id, k.day, coalesce(c.visits, 0), coalesce(u.n, 0),
           coalesce(c.durations, 0) + coalesce(o.durations, 0),
           coalesce(c.total_ms, 0) + coalesce(o.total_ms, 0)
    FROM (SELECT product_id, day FROM new_counts UNION SELECT product_id, day FROM old_counts)
        AS k
    LEFT JOIN new_counts AS c USING (product_id, day)
    LEFT JOIN uniques AS u USING (product_id, day)
    LEFT JOIN old_counts AS o USING (product_id, day)
    ORDER BY 1, 2
    ON CONFLICT (product_id, day) DO UPDATE SET
        visits = p.visits + excluded.visits,
        unique_visitors = p.unique_visitors + excluded.unique_visitors,
        durations = p.durations + excluded.durations,
        duration_total_ms = p.duration_total_ms + excluded.duration_total_ms
    RETURNING 1
)
SELECT (SELECT count(*) FROM new_visits), (SELECT count(*) FROM daily)
"""
FOLD_BY_CONFLICT = text(FOLD_WINDOW.format(fresh=FRESH_BY_CONFLICT))
FOLD_BY_ANTI_JOIN = text(FOLD_WINDOW.format(fresh=FRESH_BY_ANTI_JOIN))


class SqlVisitRepository:
    def __init__(self, connection: AsyncConnection, *, visitor_keys: str = "auto") -> None:
        """``visitor_keys``: "auto" picks per window; "on-conflict" or "anti-join" force one
        way of adding visitor keys (the tests check both against the reference fold)."""
        self._db = connection
        self._postgres = connection.dialect.name == "postgresql"
        self._visitor_keys = visitor_keys

    async def add_many(self, batch: Sequence[Visit]) -> None:
        if not batch:
            return
        if self._postgres:
            await self._copy(batch)
            return
        first = await self._next_seq(visits.c.seq)
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
                    "seq": first + offset,
                }
                for offset, v in enumerate(batch)
            ],
        )

    async def _copy(self, batch: Sequence[Visit]) -> None:
        # The first statement opens the transaction; a COPY issued before it would be
        # autocommitted on its own by asyncpg.
        await self._db.exec_driver_sql("SELECT 1")
        raw = await self._db.get_raw_connection()
        driver: Any = raw.driver_connection
        # A Visit is a tuple in COPY_COLUMNS order already: it is its own COPY record.
        await driver.copy_records_to_table("visits", columns=COPY_COLUMNS, records=batch)

    async def _next_seq(self, column: Any) -> int:
        """SQLite only: transactions begin IMMEDIATE, so numbering here follows commit order."""
        last = (await self._db.execute(select(func.max(column)))).scalar_one()
        return int(last or 0) + 1

    async def add_engagement(self, visit_id: UUID, duration_ms: int, at: datetime) -> bool:
        found = await self._db.execute(select(visits.c.id).where(visits.c.id == visit_id))
        if found.first() is None:
            return False
        values: dict[str, Any] = {
            "visit_id": visit_id,
            "duration_ms": duration_ms,
            "received_at": at,
        }
        if not self._postgres:
            values["seq"] = await self._next_seq(engagements.c.seq)
        await self._db.execute(insert(engagements).values(values))
        return True

    async def open_window(self, span: int) -> AggregationWindow:
        state = (
            await self._db.execute(
                select(aggregation_state.c.visits_seq, aggregation_state.c.engagements_seq)
                .where(aggregation_state.c.id == 1)
                .with_for_update()  # one fold at a time (SQLite: IMMEDIATE already serialises)
            )
        ).one()
        if self._postgres:
            # Transactions below the snapshot's xmin have all ended: none can commit late.
            done = (
                await self._db.exec_driver_sql(
                    "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
                )
            ).scalar_one()
            limits = (done, done)
        else:
            limits = (
                await self._next_seq(visits.c.seq),
                await self._next_seq(engagements.c.seq),
            )
        visits_to = await self._window_end(visits.c.seq, state.visits_seq, limits[0], span)
        engagements_to = await self._window_end(
            engagements.c.seq, state.engagements_seq, limits[1], span
        )
        return AggregationWindow(state.visits_seq, visits_to, state.engagements_seq, engagements_to)

    async def _window_end(self, seq: Any, start: int, limit: int, span: int) -> int:
        """Ends the window after about ``span`` rows, never inside one transaction's rows
        (on PostgreSQL a transaction's rows share one seq; one larger than ``span`` is taken
        whole)."""
        in_range = (seq >= start, seq < limit)
        first = (await self._db.execute(select(func.min(seq)).where(*in_range))).scalar_one()
        if first is None:
            # Nothing new: stay put (on PostgreSQL, ids of transactions that wrote no rows here).
            return start
        cut = (
            await self._db.execute(select(seq).where(*in_range).order_by(seq).offset(span).limit(1))
        ).scalar_one_or_none()
        if cut is None:
            return int(limit)
        return int(cut) if cut > first else int(cut) + 1

    async def visits_in(self, window: AggregationWindow) -> list[NewVisit]:
        rows = await self._db.execute(
            select(
                visits.c.id,
                visits.c.product_id,
                visits.c.occurred_at,
                visits.c.visitor_hash,
                visits.c.duration_ms,
            )
            .where(visits.c.seq >= window.visits_from, visits.c.seq < window.visits_to)
            .order_by(visits.c.seq)
        )
        return [
            NewVisit(r.id, r.product_id, r.occurred_at.date(), r.visitor_hash, r.duration_ms)
            for r in rows
        ]

    async def durations_in(self, window: AggregationWindow) -> dict[UUID, int]:
        own = select(visits.c.id.label("visit_id"), visits.c.duration_ms).where(
            visits.c.seq >= window.visits_from,
            visits.c.seq < window.visits_to,
            visits.c.duration_ms.is_not(None),
        )
        beacons = select(engagements.c.visit_id, engagements.c.duration_ms).where(
            engagements.c.seq >= window.engagements_from,
            engagements.c.seq < window.engagements_to,
        )
        reports = own.union_all(beacons).subquery()
        rows = await self._db.execute(
            select(reports.c.visit_id, func.max(reports.c.duration_ms)).group_by(reports.c.visit_id)
        )
        return {r[0]: int(r[1]) for r in rows}

    async def counted_durations(
        self, visit_ids: Iterable[UUID], window: AggregationWindow
    ) -> dict[UUID, CountedDuration]:
        ids = list(visit_ids)
        found: dict[UUID, CountedDuration] = {}
        earlier_beacon = (
            select(func.max(engagements.c.duration_ms))
            .where(
                engagements.c.visit_id == visits.c.id,
                engagements.c.seq < window.engagements_from,
            )
            .scalar_subquery()
        )
        for start in range(0, len(ids), 1000):
            rows = await self._db.execute(
                select(
                    visits.c.id,
                    visits.c.product_id,
                    visits.c.occurred_at,
                    visits.c.seq,
                    visits.c.duration_ms,
                    earlier_beacon.label("beacon_ms"),
                ).where(visits.c.id.in_(ids[start : start + 1000]))
            )
            for r in rows:
                own = r.duration_ms if r.seq < window.visits_from else None
                reports = [ms for ms in (own, r.beacon_ms) if ms is not None]
                found[r.id] = CountedDuration(
                    r.product_id, r.occurred_at.date(), max(reports) if reports else None
                )
        return found

    async def close_window(self, window: AggregationWindow) -> None:
        await self._db.execute(
            update(aggregation_state)
            .where(aggregation_state.c.id == 1)
            .values(visits_seq=window.visits_to, engagements_seq=window.engagements_to)
        )

    async def fold_window(self, span: int) -> WindowReport | None:
        if not self._postgres:
            return None
        window = await self.open_window(span)
        if window.empty:
            return WindowReport(visits=0, engagements=0)
        folded = (
            await self._db.execute(
                FOLD_BY_ANTI_JOIN if await self._bulk(window) else FOLD_BY_CONFLICT,
                {
                    "visits_from": window.visits_from,
                    "visits_to": window.visits_to,
                    "engagements_from": window.engagements_from,
                    "engagements_to": window.engagements_to,
                },
            )
        ).one()
        await self.close_window(window)
        return WindowReport(
            visits=int(folded[0]),
            engagements=window.engagements_to - window.engagements_from,
        )

    async def _bulk(self, window: AggregationWindow) -> bool:
        if self._visitor_keys != "auto":
            return self._visitor_keys == "anti-join"
        rows = (
            await self._db.execute(
                select(func.count()).where(
                    visits.c.seq >= window.visits_from, visits.c.seq < window.visits_to
                )
            )
        ).scalar_one()
        if rows < BULK_WINDOW_ROWS:
            return False
        known = (
            await self._db.exec_driver_sql(
                "SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'visitor_days'::regclass"
            )
        ).scalar_one()
        return bool(rows * 2 >= known)

    async def delete_aggregated_before(self, cutoff: datetime) -> int:
        state = (
            await self._db.execute(
                select(aggregation_state.c.visits_seq, aggregation_state.c.engagements_seq)
            )
        ).one()
        result = await self._db.execute(
            delete(visits).where(visits.c.occurred_at < cutoff, visits.c.seq < state.visits_seq)
        )
        await self._db.execute(
            delete(engagements).where(
                engagements.c.received_at < cutoff, engagements.c.seq < state.engagements_seq
            )
        )
        return int(result.rowcount)

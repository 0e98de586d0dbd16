"""Builds async engines: SQLite tuned for one file shared by threads, PostgreSQL pooled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


POOL_SIZE = 10  # per API or worker process, and as many again in overflow


def create_engine(url: str) -> AsyncEngine:
    """PostgreSQL: pooled, each connection tested before it is lent (requests cannot retry),
    and exchanging timestamptz as integers (``use_integer_timestamps``). The visit writer
    keeps a connection of its own (``visit_writer``)."""
    if is_sqlite(url):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        # The driver's own transaction handling breaks SAVEPOINTs and rollbacks: take over.
        # IMMEDIATE takes the write lock up front: a transaction that read first and wrote
        # later would otherwise fail with "database is locked" when another process wrote
        # in between, instead of waiting its turn (busy_timeout).
        event.listen(
            engine.sync_engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE")
        )
        return engine
    engine = create_async_engine(
        url, pool_size=POOL_SIZE, max_overflow=POOL_SIZE, pool_pre_ping=True
    )
    event.listen(engine.sync_engine, "connect", _timestamptz_by_integers)
    return engine


def upsert_insert(connection: AsyncConnection) -> Any:
    """The dialect's insert(), which has on_conflict_do_nothing/do_update (same API on both)."""
    return postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while the worker writes; busy_timeout waits instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _encode_timestamptz(value: datetime | int) -> tuple[int]:
    if value.__class__ is int:  # the visit writer's COPY records: already on the wire's scale
        return (value,)  # type: ignore[return-value]
    return ((value - PG_EPOCH) // _MICROSECOND,)  # type: ignore[operator]


def _timestamptz_by_integers(dbapi_connection: Any, _record: Any) -> None:
    """The engine's connect hook: ``use_integer_timestamps`` on every new connection."""
    dbapi_connection.run_async(use_integer_timestamps)


async def use_integer_timestamps(connection: Any) -> None:
    """timestamptz to and from PostgreSQL's binary form (microseconds since 2000-01-01 UTC)
    by integer arithmetic, on an asyncpg connection. It takes a timezone-aware datetime
    (UTCDateTime binds only those) or that integer itself, which the visit writer's COPY
    records carry (``visits.copy_records``): no datetime is made per visit on the way in.
    Exact to the microsecond; the schema stores no infinities. asyncpg's own encoder takes
    datetimes only, at ~0.6 µs a value (this: ~0.3 for a datetime)."""
    await connection.set_type_codec(
        "timestamptz",
        schema="pg_catalog",
        format="tuple",
        encoder=_encode_timestamptz,
        decoder=lambda value: PG_EPOCH + timedelta(microseconds=value[0]),
    )

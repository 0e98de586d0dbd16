"""One database transaction exposing every repository."""

from __future__ import annotations

import contextlib
from types import TracebackType

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sqlalchemy.analytics import SqlAnalyticsRepository
from adapters.sqlalchemy.migrate import schema_behind_on
from adapters.sqlalchemy.notifications import (
    SqlNotificationRepository,
    SqlSubscriptionRepository,
)
from adapters.sqlalchemy.products import SqlProductRepository
from adapters.sqlalchemy.visits import SqlVisitRepository
from ports.repositories import SchemaBehind, StoreUnavailable


def _connection_lost(exc: BaseException) -> bool:
    """A statement failed because of the connection, not the statement: the connection was
    invalidated (cut, server gone) or the driver reports an operational failure (SQLite's
    'database is locked', PostgreSQL shutting down)."""
    return isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


# PostgreSQL's undefined_table and undefined_column, SQLite's messages for the same: a
# statement of ours is wrong, or the schema is older than the code (then the schema's
# revision says so).
_UNDEFINED = {"42P01", "42703"}
_SQLITE_UNDEFINED = ("no such table", "no such column")


def _undefined_name(exc: BaseException) -> bool:
    if not isinstance(exc, DBAPIError):
        return False
    if getattr(exc.orig, "sqlstate", None) in _UNDEFINED:
        return True
    return str(exc.orig).startswith(_SQLITE_UNDEFINED)


async def _schema_behind_on(connection: AsyncConnection) -> str | None:
    try:
        return await schema_behind_on(connection)
    except Exception:  # the statement's own error is what the caller must see then
        return None


class SqlAlchemyUnitOfWork:
    def __init__(self, engine: AsyncEngine, *, visitor_keys: str = "auto") -> None:
        self._engine = engine
        self._visitor_keys = visitor_keys
        self._connection: AsyncConnection | None = None

    async def __aenter__(self) -> SqlAlchemyUnitOfWork:
        # Whatever fails before the first statement is the store's doing: refused, unknown
        # database, too many clients, the pool's checkout timeout.
        try:
            connection = await self._engine.connect()
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        try:
            await connection.begin()
        except Exception as exc:
            with contextlib.suppress(Exception):  # the failure that matters is begin's
                await connection.close()
            raise StoreUnavailable(type(exc).__name__) from exc
        self._connection = connection
        self.products = SqlProductRepository(connection)
        self.visits = SqlVisitRepository(connection, visitor_keys=self._visitor_keys)
        self.analytics = SqlAnalyticsRepository(connection)
        self.subscriptions = SqlSubscriptionRepository(connection)
        self.notifications = SqlNotificationRepository(connection)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        assert connection is not None
        behind = None
        try:
            if connection.in_transaction():
                await connection.rollback()
            if exc is not None and _undefined_name(exc):
                behind = await _schema_behind_on(connection)
        except Exception as failure:
            if exc is None:  # nothing failed before: this failure is the news
                if _connection_lost(failure):
                    raise StoreUnavailable(type(failure).__name__) from failure
                raise
            # else the original error is what the caller must see
        finally:
            await connection.close()
        if behind is not None:  # before the outage check: SQLite's is an OperationalError
            raise SchemaBehind(behind) from exc
        if exc is not None and _connection_lost(exc):
            raise StoreUnavailable(type(exc).__name__) from exc

    async def commit(self) -> None:
        assert self._connection is not None
        await self._connection.commit()
        await self._connection.begin()

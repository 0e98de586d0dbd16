"""One database transaction exposing every repository."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sqlalchemy.analytics import SqlAnalyticsRepository
from adapters.sqlalchemy.notifications import (
    SqlNotificationRepository,
    SqlSubscriptionRepository,
)
from adapters.sqlalchemy.products import SqlProductRepository
from adapters.sqlalchemy.visits import SqlVisitRepository


class SqlAlchemyUnitOfWork:
    def __init__(self, engine: AsyncEngine, *, visitor_keys: str = "auto") -> None:
        self._engine = engine
        self._visitor_keys = visitor_keys
        self._connection: AsyncConnection | None = None

    async def __aenter__(self) -> SqlAlchemyUnitOfWork:
        connection = await self._engine.connect()
        await connection.begin()
        self._connection = connection
        self.products = SqlProductRepository(connection)
        self.visits = SqlVisitRepository(connection, visitor_keys=self._visitor_keys)
        self.analytics = SqlAnalyticsRepository(connection)
        self.subscriptions = SqlSubscriptionRepository(connection)
        self.notifications = SqlNotificationRepository(connection)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._connection is not None
        try:
            if self._connection.in_transaction():
                await self._connection.rollback()
        finally:
            await self._connection.close()
            self._connection = None

    async def commit(self) -> None:
        assert self._connection is not None
        await self._connection.commit()
        await self._connection.begin()

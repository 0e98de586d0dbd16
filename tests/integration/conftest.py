"""Unit-of-work factories over the in-memory fake and the real databases, for contract tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from adapters.in_memory.repositories import InMemoryUnitOfWork, Store
from adapters.sqlalchemy.engine import create_engine
from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def uow_factory(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[], Any]]:
    if request.param == "memory":
        store = Store()
        yield lambda: InMemoryUnitOfWork(store)
        return
    fixture = "sqlite_database" if request.param == "sqlite" else "fresh_postgres"
    engine = create_engine(request.getfixturevalue(fixture))
    yield lambda: SqlAlchemyUnitOfWork(engine)
    await engine.dispose()

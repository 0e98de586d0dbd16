"""The SQLAlchemy unit of work tells a store it cannot reach from a statement that failed."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from adapters.sqlalchemy.engine import create_engine
from adapters.sqlalchemy.migrate import schema_behind
from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from ports.repositories import SchemaBehind, StoreUnavailable

pytestmark = pytest.mark.integration


async def test_a_connection_cut_mid_transaction_is_store_unavailable(fresh_postgres: str) -> None:
    engine = create_engine(fresh_postgres)
    admin = await asyncpg.connect(fresh_postgres.replace("+asyncpg", ""))
    try:
        with pytest.raises(StoreUnavailable):
            async with SqlAlchemyUnitOfWork(engine) as uow:
                await admin.execute(  # the unit of work's is the only other connection
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                await uow.products.get(uuid4())
        async with SqlAlchemyUnitOfWork(engine) as uow:  # the pool has let the dead one go
            assert await uow.products.get(uuid4()) is None
    finally:
        await admin.close()
        await engine.dispose()


async def test_an_unreachable_server_is_store_unavailable() -> None:
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/footfall")
    try:
        with pytest.raises(StoreUnavailable, match="ConnectionRefusedError"):
            async with SqlAlchemyUnitOfWork(engine):
                pass
    finally:
        await engine.dispose()


async def test_a_failed_statement_is_not_mistaken_for_an_outage(fresh_postgres: str) -> None:
    engine = create_engine(fresh_postgres)
    try:
        with pytest.raises(ProgrammingError):  # the statement's own error, as it was
            async with SqlAlchemyUnitOfWork(engine) as uow:
                await uow._connection.execute(text("SELECT no_such_column FROM products"))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
async def test_a_statement_on_an_unmigrated_database_says_to_migrate(
    store: str, tmp_path: Path, unmigrated_postgres: str
) -> None:
    """Not an outage (SQLite reports a missing table as an OperationalError): what to run."""
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}" if store == "sqlite" else unmigrated_postgres
    )
    engine = create_engine(url)
    try:
        with pytest.raises(SchemaBehind, match="run `footfall migrate`"):
            async with SqlAlchemyUnitOfWork(engine) as uow:
                await uow.products.get(uuid4())
    finally:
        await engine.dispose()


async def test_a_schema_behind_the_code_is_told_from_one_ahead_of_it(sqlite_database: str) -> None:
    """Behind (never migrated, or not since an upgrade): what to run. Ahead (a later version
    migrated first, as in a rolling deploy): not this code's to judge, so nothing."""
    engine = create_engine(sqlite_database)
    try:
        assert await schema_behind(engine) is None
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed'"))
        assert await schema_behind(engine) is None
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM alembic_version"))
        assert await schema_behind(engine) == (
            "database schema at nothing, this version needs 0001: run `footfall migrate`"
        )
    finally:
        await engine.dispose()

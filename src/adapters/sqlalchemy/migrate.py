"""Brings a database schema up to date with Alembic (what `footfall migrate` runs), and
tells whether it is."""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ports.repositories import StoreUnavailable

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"  # Alembic's default, which env.py keeps


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Alembic's env runs its own event loop, so inside a running loop it gets a thread.
    A database that cannot be reached is the port's StoreUnavailable, as in a unit of work
    (Alembic connects by itself: the driver's OSError comes through as it is)."""
    config = alembic_config(url)
    try:
        if _loop_running():
            with ThreadPoolExecutor(max_workers=1) as pool:
                pool.submit(command.upgrade, config, revision).result()
        else:
            command.upgrade(config, revision)
    except OSError as exc:
        raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@functools.cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS))


def _current_revision(connection: Any) -> str | None:
    """Alembic's version table read directly: its MigrationContext logs two lines each time,
    and this runs on every readiness probe."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    found = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()  # noqa: S608
    return None if found is None else str(found)


async def schema_behind(engine: AsyncEngine) -> str | None:
    """What is wrong when the database's schema is older than this code needs (never
    migrated, or not since an upgrade), else None. A schema newer than this code knows (a
    later version migrated it first, as in a rolling deploy) is not this code's to judge."""
    async with engine.connect() as connection:
        return await schema_behind_on(connection)


async def schema_behind_on(connection: AsyncConnection) -> str | None:
    """``schema_behind`` on a connection at hand (outside a failed transaction)."""
    current = await connection.run_sync(_current_revision)
    needed = _scripts().get_current_head()
    if current == needed:
        return None
    if current is not None:
        try:
            _scripts().get_revision(current)
        except CommandError:  # unknown here: newer than this code
            return None
    return (
        f"database schema at {current or 'nothing'}, this version needs {needed}: "
        "run `footfall migrate`"
    )

"""Shared fixtures: real PostgreSQL and Redis for integration tests, each run in its own namespace.

In CI (CI=true) an unreachable PostgreSQL or Redis fails the run; elsewhere those tests
skip with a loud reason.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import pytest

PG_ADMIN_DSN = os.environ.get("FOOTFALL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("FOOTFALL_TEST_REDIS", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(what: str, exc: BaseException) -> None:
    message = f"{what} is unreachable ({exc!r}): integration tests cannot run"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(f"!!! SKIPPED: {message}")


async def _create_database(name: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def _drop_database(name: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def _run(coroutine: object) -> None:
    """asyncio.run in a thread of its own, so it also works under a running event loop."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()  # type: ignore[arg-type]


def _pg_url(name: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session; dropped afterwards."""
    yield from _fresh_database()


@pytest.fixture(scope="module")
def module_postgres_database() -> Iterator[str]:
    """One for the test module alone, for tests that fill it with what no other expects."""
    yield from _fresh_database()


def _fresh_database(*, migrated: bool = True) -> Iterator[str]:
    from adapters.sqlalchemy.migrate import upgrade

    name = f"footfall_test_{uuid.uuid4().hex[:12]}"
    try:
        _run(_create_database(name))
    except Exception as exc:
        _unavailable("PostgreSQL", exc)
    url = _pg_url(name)
    if migrated:
        upgrade(url)
    yield url
    _run(_drop_database(name))


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """A database of its own for one test (for tests that count rows from zero)."""
    yield from _fresh_database()


@pytest.fixture
def unmigrated_postgres() -> Iterator[str]:
    """An empty database of its own, as if `footfall migrate` had never run."""
    yield from _fresh_database(migrated=False)


@pytest.fixture
def sqlite_database(tmp_path: object) -> str:
    from pathlib import Path

    from adapters.sqlalchemy.migrate import upgrade

    url = f"sqlite+aiosqlite:///{Path(str(tmp_path)) / 'footfall.db'}"
    upgrade(url)
    return url


@pytest.fixture
def redis_namespace() -> Iterator[str]:
    """A unique key prefix on the shared Redis; its keys are deleted afterwards (never FLUSHALL)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        _unavailable("Redis", exc)
    namespace = f"footfall-test-{uuid.uuid4().hex[:12]}"
    yield namespace
    for key in client.scan_iter(match=f"{namespace}*"):
        client.delete(key)
    client.close()

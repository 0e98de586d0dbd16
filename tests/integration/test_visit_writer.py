"""The visit writer on real PostgreSQL: a connection of its own that survives being dropped
by failing one flush and retrying on a new connection, losing nothing; a batch that comes
back after its commit's acknowledgement was lost is written without its stored visits; its
timestamps (integer arithmetic, not asyncpg's codec) are exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg
import pytest
from sqlalchemy import select

from adapters.sqlalchemy.tables import visits as table
from adapters.sqlalchemy.visit_writer import CopyVisitWriter
from domain.visit import Visit, micros
from entrypoints.container import build_container
from tests.helpers import BROWSER_UA, make_settings
from tests.tcp_proxy import proxied_database

pytestmark = pytest.mark.integration


async def test_a_dropped_writer_connection_fails_one_flush_and_loses_nothing(
    fresh_postgres: str, tmp_path: Path
) -> None:
    proxy, through_proxy = proxied_database(fresh_postgres)
    container = build_container(make_settings(tmp_path, FOOTFALL_DATABASE_URL=through_proxy))
    service, buffer, product = container.visit_service(), container.visit_buffer(), uuid4()
    assert isinstance(container.visit_writer(), CopyVisitWriter)  # not the request pool
    try:
        ids = [service.track_visit("203.0.113.9", BROWSER_UA, product) for _ in range(5)]
        assert await buffer.flush() == 5  # the writer holds its connection now
        proxy.stop()  # PostgreSQL "restarts": the writer's connection is dead
        proxy.start()
        ids += [service.track_visit("203.0.113.9", BROWSER_UA, product) for _ in range(5)]
        with pytest.raises(Exception):  # noqa: B017 - whichever error the dead socket gives
            await buffer.flush()  # the flush meets the dead connection
        assert len(buffer) == 5  # kept for the retry
        assert await buffer.flush() == 5  # a new connection
    finally:
        await container.visit_writer().close()
        await container.engine().dispose()
        proxy.stop()
    database = await asyncpg.connect(fresh_postgres.replace("+asyncpg", ""))
    try:
        stored = [str(r["id"]) for r in await database.fetch("SELECT id FROM visits ORDER BY id")]
    finally:
        await database.close()
    assert stored == sorted(i for i in ids if i is not None) and len(stored) == 10


async def test_the_writers_timestamps_are_exact_to_the_microsecond(
    fresh_postgres: str, tmp_path: Path
) -> None:
    moments = [
        datetime(2026, 11, 24, 12, 0, 0, 123_456, tzinfo=UTC),
        datetime(2026, 3, 29, 3, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=2))),
        datetime(1999, 12, 31, 23, 59, 59, 1, tzinfo=UTC),  # before PostgreSQL's epoch
    ]
    visits = [
        Visit(str(uuid4()), uuid4(), bytes(32), micros(moment), "Chrome", "Linux", "desktop")
        for moment in moments
    ]
    container = build_container(make_settings(tmp_path, FOOTFALL_DATABASE_URL=fresh_postgres))
    try:
        await container.visit_writer().write(visits)  # the writer's connection and codec
        async with container.engine().connect() as connection:  # the requests' codec
            stored = await connection.execute(select(table.c.id, table.c.occurred_at))
            read_back = dict(stored.all())
    finally:
        await container.visit_writer().close()
        await container.engine().dispose()
    database = await asyncpg.connect(fresh_postgres.replace("+asyncpg", ""))
    try:  # asyncpg's own codec, as every other connection reads them
        rows = await database.fetch("SELECT id::text, occurred_at FROM visits")
    finally:
        await database.close()
    assert {r["id"]: r["occurred_at"] for r in rows} == {v.id: v.occurred_at for v in visits}
    assert read_back == {UUID(v.id): v.occurred_at for v in visits}


async def test_a_batch_retried_after_its_commit_was_stored_writes_only_what_is_new(
    fresh_postgres: str, tmp_path: Path
) -> None:
    """The commit's acknowledgement can be lost with the connection after PostgreSQL has
    committed: the buffer then retries the whole batch. The retry must not fail forever on
    the visits already stored (which would hold every later visit back), nor store them
    twice."""
    container = build_container(make_settings(tmp_path, FOOTFALL_DATABASE_URL=fresh_postgres))
    writer, product = container.visit_writer(), uuid4()

    def visit() -> Visit:
        return Visit(str(uuid4()), product, bytes(32), micros(datetime.now(UTC)), "C", "L", "d")

    stored, new = [visit() for _ in range(3)], [visit() for _ in range(2)]
    try:
        await writer.write(stored)
        await writer.write([*stored, *new])  # the retry, with visits added meanwhile
        await writer.write([visit()])  # and the writer goes on as usual
    finally:
        await writer.close()
        await container.engine().dispose()
    database = await asyncpg.connect(fresh_postgres.replace("+asyncpg", ""))
    try:
        rows = await database.fetch("SELECT id::text, count(*) OVER () AS n FROM visits")
        seqs = await database.fetch("SELECT DISTINCT seq FROM visits")
    finally:
        await database.close()
    ids = {r["id"] for r in rows}
    assert len(rows) == 6 and ids >= {v.id for v in [*stored, *new]}
    assert len(seqs) == 3  # each write one transaction, its id in seq

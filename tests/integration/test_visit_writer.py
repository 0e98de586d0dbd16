"""The visit writer on real PostgreSQL: its own pool, without pre-ping, survives a dropped
connection by failing one flush and retrying on a new connection, losing nothing."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from entrypoints.container import build_container
from tests.helpers import BROWSER_UA, make_settings
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration


async def test_a_dropped_writer_connection_fails_one_flush_and_loses_nothing(
    fresh_postgres: str, tmp_path: Path
) -> None:
    url = make_url(fresh_postgres)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.start()
    through_proxy = url.set(port=proxy.port).render_as_string(hide_password=False)
    container = build_container(make_settings(tmp_path, FOOTFALL_DATABASE_URL=through_proxy))
    service, buffer, product = container.visit_service(), container.visit_buffer(), uuid4()
    assert container.visit_engine() is not container.engine()  # a pool of its own
    try:
        ids = [await service.track_visit("203.0.113.9", BROWSER_UA, product) for _ in range(5)]
        assert await buffer.flush() == 5  # the writer's connection is pooled now
        proxy.stop()  # PostgreSQL "restarts": the pooled connection is dead
        proxy.start()
        ids += [await service.track_visit("203.0.113.9", BROWSER_UA, product) for _ in range(5)]
        with pytest.raises(Exception):  # noqa: B017 - whichever error the dead socket gives
            await buffer.flush()  # no pre-ping: the flush meets the dead connection
        assert len(buffer) == 5  # kept for the retry
        assert await buffer.flush() == 5  # a new connection
    finally:
        await container.visit_engine().dispose()
        await container.engine().dispose()
        proxy.stop()
    database = await asyncpg.connect(fresh_postgres.replace("+asyncpg", ""))
    try:
        stored = [str(r["id"]) for r in await database.fetch("SELECT id FROM visits ORDER BY id")]
    finally:
        await database.close()
    assert stored == sorted(i for i in ids if i is not None) and len(stored) == 10

"""The daily salt store on real Redis: one salt per day for every process, gone after the day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import redis.asyncio

from adapters.salts import GRACE, FileSaltStore, RedisSaltStore
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.integration


async def test_processes_share_one_salt_per_day_that_expires_with_it(redis_namespace: str) -> None:
    first = redis.asyncio.Redis.from_url(REDIS_URL)
    second = redis.asyncio.Redis.from_url(REDIS_URL)
    prefix = f"{redis_namespace}:salt:"
    a, b = RedisSaltStore(first, prefix), RedisSaltStore(second, prefix)
    today = datetime.now(UTC).date()
    salt = await a.salt_for(today)
    assert len(salt) == 32 and await b.salt_for(today) == salt
    assert await a.salt_for(today + timedelta(days=1)) != salt
    ttl = await first.ttl(f"{prefix}{today.isoformat()}")
    end_of_day = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    assert 0 < ttl <= (end_of_day + GRACE - datetime.now(UTC)).total_seconds() + 1
    await a.salt_for(today - timedelta(days=1))
    await a.forget_before(today)
    assert await first.exists(f"{prefix}{(today - timedelta(days=1)).isoformat()}") == 0
    assert await b.salt_for(today) == salt
    await first.aclose()
    await second.aclose()


async def test_the_embedded_store_keeps_today_only_in_a_private_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "footfall.salts"
    store, other = FileSaltStore(path), FileSaltStore(path)
    day = date(2026, 3, 1)
    salt = await store.salt_for(day)
    assert await other.salt_for(day) == salt
    assert path.stat().st_mode & 0o077 == 0
    await store.salt_for(day + timedelta(days=1))  # a new day prunes the old one
    assert day.isoformat() not in path.read_text()
    assert await other.salt_for(day) != salt  # a past visitor cannot be recognised again

"""Salt stores for daily rotation: Redis with a TTL in production, a private file when embedded."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

SALT_BYTES = 32
GRACE = timedelta(minutes=5)  # lets a visit stamped 23:59:59.9 still find its salt


class RedisSaltStore:
    """SET NX so every process agrees on one salt per day; the TTL destroys it after the day."""

    def __init__(self, client: Any, prefix: str = "footfall:salt:") -> None:
        self._redis = client
        self._prefix = prefix

    async def salt_for(self, day: date) -> bytes:
        key = f"{self._prefix}{day.isoformat()}"
        end_of_day = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
        ttl = max(int((end_of_day + GRACE - datetime.now(UTC)).total_seconds()), 1)
        await self._redis.set(key, secrets.token_bytes(SALT_BYTES), nx=True, ex=ttl)
        salt = await self._redis.get(key)
        if salt is None:  # expired between the two calls: only at the very end of the day
            return await self.salt_for(day)
        return bytes(salt)

    async def forget_before(self, day: date) -> None:
        async for key in self._redis.scan_iter(match=f"{self._prefix}*"):
            name = key.decode() if isinstance(key, bytes) else key
            if name.removeprefix(self._prefix) < day.isoformat():
                await self._redis.delete(key)


class FileSaltStore:
    """For the single-host embedded default: today's salt in a 0600 file, older days pruned."""

    def __init__(self, path: Path) -> None:
        self._path = path

    async def salt_for(self, day: date) -> bytes:
        return await asyncio.to_thread(self._salt_for, day.isoformat())

    async def forget_before(self, day: date) -> None:
        await asyncio.to_thread(self._forget_before, day.isoformat())

    def _salt_for(self, key: str) -> bytes:
        with self._file_lock():
            salts = self._read()
            if key not in salts:
                salts = {k: v for k, v in salts.items() if k >= key}
                salts[key] = secrets.token_hex(SALT_BYTES)
                self._write(salts)
            return bytes.fromhex(salts[key])

    def _forget_before(self, key: str) -> None:
        with self._file_lock():
            salts = self._read()
            kept = {k: v for k, v in salts.items() if k >= key}
            if kept != salts:
                self._write(kept)

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        """Processes and threads sharing the file must agree on one salt: flock serialises
        both (each call opens its own file description)."""
        with open(self._path.with_suffix(".lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _read(self) -> dict[str, str]:
        try:
            data: dict[str, str] = json.loads(self._path.read_text())
            return data
        except (FileNotFoundError, ValueError):
            return {}

    def _write(self, salts: dict[str, str]) -> None:
        tmp = self._path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(salts, handle)
        os.replace(tmp, self._path)

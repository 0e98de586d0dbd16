"""Visitor hashing: HMAC-SHA256 keyed by the day's salt (rotation daily) or a secret (none)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date

from ports.services import SaltStore


def _keyed(key: bytes) -> Callable[[str], bytes]:
    """HMAC-SHA256 (RFC 2104) with the key's inner and outer states computed once: each
    visit then costs two hash-state copies instead of the key schedule (0.8 µs, not 2)."""
    block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def visitor_hash(normalised_ip: str) -> bytes:
        digest = inner.copy()
        digest.update(normalised_ip.encode())
        result = outer.copy()
        result.update(digest.digest())
        return result.digest()

    return visitor_hash


class DailySaltHasher:
    """Keys each visit with its UTC day's salt, so a visitor is recognisable within one day only.

    The last days' keys are cached in-process: the store is asked once a day per process.
    """

    def __init__(self, salts: SaltStore) -> None:
        self._salts = salts
        self._keys: dict[date, Callable[[str], bytes]] = {}

    async def keyed_for(self, day: date) -> Callable[[str], bytes]:
        keyed = self._keys.get(day)
        if keyed is None:
            keyed = _keyed(await self._salts.salt_for(day))
            # Keep today's and yesterday's (visits near midnight); older salts get destroyed.
            yesterday = date.fromordinal(day.toordinal() - 1)
            self._keys = {d: k for d, k in self._keys.items() if d >= yesterday}
            self._keys[day] = keyed
        return keyed


class SecretHasher:
    """Keys every visit with one secret: uniqueness holds across days."""

    def __init__(self, secret: bytes) -> None:
        self._keyed = _keyed(secret)

    async def keyed_for(self, day: date) -> Callable[[str], bytes]:
        return self._keyed

"""Visitor hashing: HMAC-SHA256 keyed by the day's salt (rotation daily) or a secret (none)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import date

from ports.services import SaltStore


def _keyed(key: bytes) -> Callable[[str], bytes]:
    def visitor_hash(normalised_ip: str) -> bytes:
        return hmac.digest(key, normalised_ip.encode(), "sha256")  # one-shot, in C

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

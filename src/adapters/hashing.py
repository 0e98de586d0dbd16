"""Visitor hashing: HMAC-SHA256 keyed by the day's salt (rotation daily) or a secret (none)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime

from ports.services import SaltStore


class DailySaltHasher:
    """Keys each visit with its UTC day's salt, so a visitor is recognisable within one day only.

    The current day's salt is cached in-process: the hot path asks the store once a day.
    """

    def __init__(self, salts: SaltStore) -> None:
        self._salts = salts
        self._day: date | None = None
        self._keyed = hmac.new(b"", digestmod=hashlib.sha256)

    async def visitor_hash(self, normalised_ip: str, at: datetime) -> bytes:
        day = at.date()
        if day != self._day:
            self._keyed = hmac.new(await self._salts.salt_for(day), digestmod=hashlib.sha256)
            self._day = day
        return _digest(self._keyed, normalised_ip)


class SecretHasher:
    """Keys every visit with one secret: uniqueness holds across days."""

    def __init__(self, secret: bytes) -> None:
        self._keyed = hmac.new(secret, digestmod=hashlib.sha256)

    async def visitor_hash(self, normalised_ip: str, at: datetime) -> bytes:
        return _digest(self._keyed, normalised_ip)


def _digest(keyed: hmac.HMAC, normalised_ip: str) -> bytes:
    """HMAC-SHA256 of the address; copying a keyed HMAC skips re-deriving the key pads."""
    mac = keyed.copy()
    mac.update(normalised_ip.encode())
    return mac.digest()

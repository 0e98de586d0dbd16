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
        self._salt = b""

    async def visitor_hash(self, normalised_ip: str, at: datetime) -> bytes:
        day = at.date()
        if day != self._day:
            self._salt = await self._salts.salt_for(day)
            self._day = day
        return hmac.new(self._salt, normalised_ip.encode(), hashlib.sha256).digest()


class SecretHasher:
    """Keys every visit with one secret: uniqueness holds across days."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    async def visitor_hash(self, normalised_ip: str, at: datetime) -> bytes:
        return hmac.new(self._secret, normalised_ip.encode(), hashlib.sha256).digest()

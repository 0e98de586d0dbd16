"""Time-ordered visit ids (UUIDv7, RFC 9562), made as text in batches.

Ordered ids land at the right edge of a btree index instead of at random pages, which keeps
visit ingestion cheap; the 74 random bits keep them unguessable (a beacon names its visit
by id). A product page needs one per view, as the text of its ``X-Visit-Id`` header: making
them 256 at a time from one ``os.urandom`` call, straight as text, costs a fraction of
building a ``uuid.UUID`` per request and printing it.
"""

from __future__ import annotations

import os
import threading
import time

_BATCH = 256
_MAX_AGE_S = 1.0  # an id's timestamp is at most this much older than the view it names
# The RFC 4122 variant (0b10xx) with two random bits, as the 4th group's first hex digit:
# taken from a random hex digit's two low bits.
_VARIANT = dict(zip("0123456789abcdef", "89ab" * 4, strict=True))


def uuid7_texts(count: int, now_ns: int | None = None) -> list[str]:
    """``count`` distinct UUIDv7s sharing one millisecond timestamp, as canonical text."""
    millis = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    stamp = f"{millis & 0xFFFF_FFFF_FFFF:012x}"
    prefix = f"{stamp[:8]}-{stamp[8:]}-7"
    r = os.urandom(10 * count).hex()  # 20 hex digits = 80 random bits per id
    # 12 bits rand_a | variant + 2 random bits, 12 bits | 48 bits: 74 random bits in all
    return [
        f"{prefix}{r[i : i + 3]}-{_VARIANT[r[i + 3]]}{r[i + 4 : i + 7]}-{r[i + 7 : i + 19]}"
        for i in range(0, 20 * count, 20)
    ]


class VisitIds:
    """Hands out UUIDv7 texts from a pool refilled a batch at a time (thread-safe)."""

    def __init__(self, batch: int = _BATCH, max_age_s: float = _MAX_AGE_S) -> None:
        self._batch = batch
        self._max_age_s = max_age_s
        self._pool: list[str] = []
        self._made = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        if self._made > time.monotonic() - self._max_age_s:
            try:
                return self._pool.pop()  # atomic: no two callers get one id
            except IndexError:
                pass
        with self._lock:
            self._pool = uuid7_texts(self._batch)
            self._made = time.monotonic()
            return self._pool.pop()

"""Time-ordered visit ids (UUIDv7, RFC 9562), made as text in batches.

Ordered ids land at the right edge of a btree index instead of at random pages, which keeps
visit ingestion cheap; the 74 random bits keep them unguessable (a beacon names its visit
by id). A product page needs one per view, as the text of its ``X-Visit-Id`` header: they
are made 256 at a time from one ``os.urandom`` call, laid out as text by C-level slice
operations over the whole batch (no Python work per id), which costs a fraction of
building a ``uuid.UUID`` per request and printing it.
"""

from __future__ import annotations

import os
import threading
import time

_BATCH = 256
_MAX_AGE_S = 1.0  # an id's timestamp is at most this much older than the view it names
# Byte 6: version 7 in the high nibble, 4 random bits below (the first of rand_a's 12).
_VERSION = bytes(0x70 | (b & 0x0F) for b in range(256))
# Byte 8: the RFC variant (0b10) in the top two bits, 6 random bits below.
_VARIANT = bytes(0x80 | (b & 0x3F) for b in range(256))
# Where each of an id's 32 hex digits goes in its 37-character slot: 8-4-4-4-12 with the
# dashes between the groups, then a space that separates it from the next.
_SLOT = 37
_DIGIT_AT = [at for at in range(36) if at not in (8, 13, 18, 23)]


def uuid7_texts(count: int, now_ns: int | None = None) -> list[str]:
    """``count`` distinct UUIDv7s sharing one millisecond timestamp, as canonical text.

    Every id's 16 bytes are the same 48-bit timestamp, then the version and variant bits
    over 74 random ones (RFC 9562, section 5.7). Each step below handles one byte or one
    hex digit of every id at once (a strided slice), so the cost per id is a few machine
    instructions per step plus the final split."""
    millis = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    raw = bytearray(os.urandom(16 * count))
    for index, byte in enumerate((millis & 0xFFFF_FFFF_FFFF).to_bytes(6, "big")):
        raw[index::16] = bytes((byte,)) * count
    raw[6::16] = raw[6::16].translate(_VERSION)
    raw[8::16] = raw[8::16].translate(_VARIANT)
    digits = raw.hex().encode("ascii")
    text = bytearray(b"-" * (_SLOT * count))
    for digit, at in enumerate(_DIGIT_AT):
        text[at::_SLOT] = digits[digit::32]
    text[_SLOT - 1 :: _SLOT] = b" " * count
    return text[:-1].decode("ascii").split(" ")  # one separator: found by a fast search


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

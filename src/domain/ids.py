"""Time-ordered ids (UUIDv7, RFC 9562) for rows written at high rate.

Ordered ids land at the right edge of a btree index instead of at random pages, which
keeps visit ingestion cheap; the 74 random bits keep them unguessable.
"""

from __future__ import annotations

import os
import time
from uuid import UUID


def uuid7(now_ns: int | None = None) -> UUID:
    millis = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    random = int.from_bytes(os.urandom(10), "big")
    value = (millis & 0xFFFF_FFFF_FFFF) << 80  # 48-bit Unix time in milliseconds
    value |= 0x7 << 76  # version 7
    value |= ((random >> 62) & 0xFFF) << 64  # 12 random bits (rand_a)
    value |= 0b10 << 62  # RFC 4122 variant
    value |= random & 0x3FFF_FFFF_FFFF_FFFF  # 62 random bits (rand_b)
    return UUID(int=value)

"""Visit: one anonymous view of a product page, identified only by a keyed visitor hash."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple
from uuid import UUID

from domain.errors import InvalidValue

MAX_DURATION_MS = 86_400_000
_IPV4_MAPPED_PREFIX = b"\x00" * 10 + b"\xff\xff"
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
US_PER_DAY = 86_400_000_000
_UNIX_EPOCH_ORDINAL = UNIX_EPOCH.toordinal()


def micros(moment: datetime) -> int:
    """A timezone-aware instant as whole microseconds since the Unix epoch (exact)."""
    return (moment - UNIX_EPOCH) // _MICROSECOND


def day_of(at_us: int) -> date:
    """The UTC day of an instant given in microseconds since the Unix epoch."""
    return date.fromordinal(_UNIX_EPOCH_ORDINAL + at_us // US_PER_DAY)


@dataclass(frozen=True)
class UserAgentInfo:
    """What we keep of a User-Agent: coarse families, never the string itself."""

    is_bot: bool
    browser: str
    os: str
    device: str  # "desktop" | "mobile" | "tablet" | "bot" | "other"


class Visit(NamedTuple):
    """Immutable, built once per product page view: a NamedTuple is the cheapest immutable
    record Python has, and its field order is the order visits are bulk-written in.

    The instant is kept as an integer (microseconds since the Unix epoch, UTC), as the clock
    gives it: no datetime is made per view on the way from the page to the database, where
    timestamptz is itself an integer of microseconds. ``occurred_at`` makes the datetime
    for whoever needs one."""

    id: str  # the UUIDv7 as canonical text, as the page answered it (X-Visit-Id)
    product_id: UUID
    visitor_hash: bytes
    at_us: int  # microseconds since the Unix epoch, UTC
    browser: str
    os: str
    device: str
    duration_ms: int | None = None

    @property
    def occurred_at(self) -> datetime:
        return UNIX_EPOCH + timedelta(microseconds=self.at_us)

    @property
    def day(self) -> date:
        return day_of(self.at_us)


class Sighting(NamedTuple):
    """A product page view as the request saw it, before anonymisation.

    It holds the raw client address, so it only ever lives in process memory: the visit
    buffer seals sightings into Visits (keyed hash, no address) at its next tick, at most
    one flush interval later and before any write is attempted. Doing that in batches keeps
    the product page's own work to a dictionary lookup, an id and an append.
    """

    id: str  # the UUIDv7 text the page answers with in X-Visit-Id
    product_id: UUID
    ip: str
    agent: UserAgentInfo
    at_us: int  # microseconds since the Unix epoch, UTC
    duration_ms: int | None = None


def normalise_ip(raw: str) -> str:
    """Canonical text of an address so one visitor gets one hash.

    IPv4-mapped IPv6 (``::ffff:1.2.3.4``) becomes the IPv4 address, IPv6 is compressed and
    lower-cased, and a zone index (``fe80::1%eth0``) is dropped.
    """
    try:  # the usual case, checked first: dotted-quad IPv4 that is already canonical
        socket.inet_pton(socket.AF_INET, raw)  # refuses leading zeros, spaces, short forms
        return raw
    except OSError:
        pass
    text = raw.strip().split("%", 1)[0]
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    # inet_pton/inet_ntop (C) on the hot path; they accept exactly what ipaddress accepts
    # for these forms and print the same canonical text.
    try:
        if ":" not in text:
            return socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, text))
        packed = socket.inet_pton(socket.AF_INET6, text)
    except (OSError, ValueError) as exc:
        raise InvalidValue("ip", "not an IP address") from exc
    if packed[:12] == _IPV4_MAPPED_PREFIX:
        return socket.inet_ntop(socket.AF_INET, packed[12:])
    return socket.inet_ntop(socket.AF_INET6, packed)


def validate_duration(duration_ms: int) -> int:
    if not 0 < duration_ms <= MAX_DURATION_MS:
        raise InvalidValue("duration_ms", f"must be > 0 and <= {MAX_DURATION_MS}")
    return duration_ms

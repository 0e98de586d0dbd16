import hmac
import os
from datetime import date

import pytest

from adapters.hashing import DailySaltHasher, SecretHasher
from adapters.in_memory.services import InMemorySaltStore


@pytest.mark.parametrize("key_length", [1, 16, 32, 64, 65, 200])
async def test_the_visitor_hash_is_hmac_sha256_of_the_address(key_length: int) -> None:
    secret = os.urandom(key_length)
    visitor_hash = await SecretHasher(secret).keyed_for(date(2026, 3, 1))
    for address in ("203.0.113.7", "2001:db8::1", ""):
        assert visitor_hash(address) == hmac.new(secret, address.encode(), "sha256").digest()


async def test_each_day_has_its_own_key_and_old_ones_are_not_kept() -> None:
    salts = InMemorySaltStore()
    hasher = DailySaltHasher(salts)
    days = [date(2026, 3, d) for d in (1, 2, 3)]
    keyed = [await hasher.keyed_for(day) for day in days]
    assert len({k("203.0.113.7") for k in keyed}) == 3
    assert (
        keyed[2]("203.0.113.7") == hmac.new(salts.salts[days[2]], b"203.0.113.7", "sha256").digest()
    )
    salts.salts.clear()  # destroyed: a process that still needs the day asks the store again
    await hasher.keyed_for(days[2])  # cached: today
    await hasher.keyed_for(days[1])  # cached: yesterday
    assert salts.salts == {}
    await hasher.keyed_for(days[0])  # the day before yesterday is no longer cached
    assert list(salts.salts) == [days[0]]

import ipaddress
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import uuid4

import pytest

from domain.analytics import CountedDuration, NewVisit, fold, resolve_range, visitor_key
from domain.errors import InvalidValue
from domain.product import Product, ProductDraft
from domain.visit import Visit, day_of, micros, normalise_ip, validate_duration

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7 ", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
    ],
)
def test_ip_addresses_are_normalised_so_one_visitor_has_one_form(raw: str, expected: str) -> None:
    assert normalise_ip(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "0.0.0.0",
        "255.255.255.255",
        "203.0.113.07",
        "01.2.3.4",
        "1.2.3",
        "0x1.2.3.4",
        "256.1.1.1",
        "1.2.3.4 ",
        "1.2.3.4.5",
        "1..2.3",
    ],
)
def test_the_ipv4_fast_path_agrees_with_the_standard_library(raw: str) -> None:
    """normalise_ip returns a dotted quad unchanged when the C library's inet_pton takes
    it, trusting that it takes only canonical text; ipaddress is the reference."""
    try:
        expected: str | None = str(ipaddress.ip_address(raw.strip()))
    except ValueError:
        expected = None
    try:
        found: str | None = normalise_ip(raw)
    except InvalidValue:
        found = None
    assert found == expected


def test_garbage_is_not_an_ip() -> None:
    with pytest.raises(InvalidValue):
        normalise_ip("not-an-ip")


def draft(**overrides: object) -> ProductDraft:
    values: dict[str, object] = {
        "sku": "SKU-1",
        "name": "Lamp",
        "description": "",
        "price": "19.99",
        "currency": "EUR",
    }
    values.update(overrides)
    return ProductDraft.create(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("price", "-0.01"),
        ("price", "1.00001"),
        ("price", "NaN"),
        ("price", "1e20"),
        ("currency", "eur"),
        ("currency", "ZZZ"),  # three capitals, but no currency
        ("currency", "HRK"),  # withdrawn (Croatia took the euro in 2023)
        ("currency", "XXX"),  # ISO 4217's "no currency"
        ("name", "   "),
        ("name", "a\x00b"),  # PostgreSQL cannot store NUL in text
        ("sku", "LAMP\x1b[31m"),
        ("sku", ""),
    ],
)
def test_a_draft_that_breaks_a_rule_names_the_field(field: str, value: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        draft(**{field: value})
    assert caught.value.field == field


def test_price_keeps_the_scale_it_was_given() -> None:
    assert str(draft(price="19.90").price) == "19.90"


@pytest.mark.parametrize(
    ("given", "kept"), [("1e3", "1000"), ("1.5E+2", "150"), ("1E-3", "0.001"), ("-0", "0")]
)
def test_price_is_kept_in_plain_notation(given: str, kept: str) -> None:
    assert str(draft(price=given).price) == kept


def test_applying_changes_reports_only_what_changed() -> None:
    product = Product.new(draft(), NOW)
    later = datetime(2026, 3, 2, tzinfo=UTC)
    updated, diff = product.apply({"price": Decimal("21.00"), "name": "Lamp"}, later)
    assert [(c.field, c.old, c.new) for c in diff] == [("price", "19.99", "21.00")]
    assert updated.updated_at == later and updated.created_at == NOW
    unchanged, none = product.apply({"name": "Lamp"}, later)
    assert none == [] and unchanged is product


@pytest.mark.parametrize("code", ["EUR", "JPY", "CHF", "XAU", "XOF"])
def test_current_iso_4217_codes_are_currencies(code: str) -> None:
    assert draft(currency=code).currency == code


def test_a_change_checks_only_the_fields_it_gives() -> None:
    """A stored product whose currency ISO 4217 has since withdrawn can still be renamed;
    moving a product to that currency cannot be done."""
    product = replace(Product.new(draft(), NOW), currency="HRK")
    later = datetime(2026, 3, 2, tzinfo=UTC)
    renamed, diff = product.apply({"name": "Desk lamp", "currency": "HRK"}, later)
    assert [(c.field, c.old, c.new) for c in diff] == [("name", "Lamp", "Desk lamp")]
    assert renamed.currency == "HRK" and renamed.name == "Desk lamp"
    with pytest.raises(InvalidValue) as caught:
        Product.new(draft(), NOW).apply({"currency": "HRK"}, later)
    assert caught.value.field == "currency"


@pytest.mark.parametrize("price", ["sNaN", "NaN", "Infinity", "-1"])
def test_a_change_to_a_price_that_is_no_amount_names_the_price(price: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        Product.new(draft(), NOW).apply({"price": Decimal(price)}, NOW)
    assert caught.value.field == "price"


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 24, 23, 59, 59, 999_999, tzinfo=UTC),  # the last µs of a day
        datetime(2026, 11, 25, tzinfo=UTC),  # the first of the next
        datetime(2026, 3, 29, 1, 30, 0, 1, tzinfo=timezone(timedelta(hours=2))),  # a UTC day before
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),  # before the Unix epoch
    ],
)
def test_a_visit_keeps_its_instant_as_integer_microseconds_exactly(moment: datetime) -> None:
    visit = Visit("id", uuid4(), b"h", micros(moment), "Chrome", "Linux", "desktop")
    assert visit.occurred_at == moment
    assert visit.occurred_at.tzinfo is not None
    assert visit.day == day_of(visit.at_us) == moment.astimezone(UTC).date()


def test_duration_bounds() -> None:
    assert validate_duration(86_400_000) == 86_400_000
    for bad in (0, -1, 86_400_001):
        with pytest.raises(InvalidValue):
            validate_duration(bad)


def test_range_defaults_to_the_last_30_days_and_is_bounded() -> None:
    today = date(2026, 3, 31)
    assert resolve_range(None, None, today) == (date(2026, 3, 2), today)
    assert resolve_range(date(2026, 1, 1), date(2026, 12, 31), today)[1] == date(2026, 12, 31)
    with pytest.raises(InvalidValue):
        resolve_range(date(2025, 1, 1), date(2026, 1, 2), today)
    with pytest.raises(InvalidValue):
        resolve_range(date(2026, 2, 2), date(2026, 2, 1), today)


def test_a_fold_counts_new_visits_and_only_the_growth_of_durations() -> None:
    product, day = uuid4(), date(2026, 3, 1)
    a, b, old = uuid4(), uuid4(), uuid4()
    visits = [NewVisit(a, product, day, b"a" * 32, None), NewVisit(b, product, day, b"a" * 32, 500)]
    reported = {b: 700, old: 1500, uuid4(): 900}  # the last visit no longer exists
    counted = {
        b: CountedDuration(product, day, None),
        old: CountedDuration(product, day - timedelta(days=1), 1000),
    }
    deltas = fold(visits, reported, counted)
    today = deltas[(product, day)]
    assert (today.visits, today.durations, today.duration_total_ms) == (2, 1, 700)
    assert today.new_hashes == {b"a" * 32}
    yesterday = deltas[(product, day - timedelta(days=1))]
    assert (yesterday.visits, yesterday.durations, yesterday.duration_total_ms) == (0, 0, 500)
    assert fold([], {old: 1200}, {old: CountedDuration(product, day, 1500)}) == {}


def test_visitor_keys_are_the_first_64_bits_signed() -> None:
    assert visitor_key(b"\x00" * 7 + b"\x01" + b"\xff" * 24) == 1
    assert visitor_key(b"\xff" * 32) == -1


def test_visit_ids_are_time_ordered_version_7_uuids_in_canonical_text() -> None:
    from uuid import UUID

    from domain.ids import uuid7_texts

    first = uuid7_texts(1000, 1_700_000_000_000_000_000)
    second = uuid7_texts(1, 1_700_000_000_001_000_000)[0]
    parsed = [UUID(text) for text in first]
    assert all(u.version == 7 and u.variant == "specified in RFC 4122" for u in parsed)
    assert [str(u) for u in parsed] == first  # canonical: lower case, 8-4-4-4-12
    assert max(parsed) < UUID(second)  # time-ordered across milliseconds
    assert len(set(first)) == 1000
    # 74 random bits: every one of them varies across ids
    bits = [u.int & ~(0xFFFF_FFFF_FFFF << 80) & ~(0xF << 76) & ~(0b11 << 62) for u in parsed]
    assert max(bits).bit_length() >= 74 - 1
    assert all(
        any(b >> i & 1 for b in bits) for i in range(80) if i not in (62, 63, 76, 77, 78, 79)
    )


def test_visit_ids_stay_unique_across_threads_and_pool_refills() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from domain.ids import VisitIds

    ids = VisitIds(batch=16)
    with ThreadPoolExecutor(max_workers=4) as pool:
        made = list(pool.map(lambda _: ids(), range(20_000)))
    assert len(set(made)) == 20_000

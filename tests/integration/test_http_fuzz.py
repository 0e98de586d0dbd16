"""Bad input never gets a 500: arbitrary JSON, text and query values on every endpoint that
takes input, through the app over a real SQLite file and a real PostgreSQL database (api.md:
400/404/409/413/422 with a reason, never a 500)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient

from entrypoints.container import build_container
from entrypoints.http.app import create_app
from tests.helpers import ADMIN, make_settings

pytestmark = pytest.mark.integration

FUZZ = settings(
    max_examples=100,
    deadline=None,
    # One app for all examples: what they leave behind (products, subscriptions) is part of
    # the input space too.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
CLIENT_ERRORS = {400, 401, 404, 405, 409, 413, 422}

scalars = st.none() | st.booleans() | st.integers() | st.text()
json_values = st.recursive(
    scalars | st.floats(allow_nan=False, allow_infinity=False),  # what JSON can carry
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)
# Values of the right JSON type, most of them also past the body's own checks (lengths, the
# currency's pattern) so that the domain's rules are reached: blank names, decimal places,
# ranges, exponents, ISO 4217.
# Known troublemakers beside random text: blanks, lower case, a number too big to be a price,
# NUL (SQLite stores it, PostgreSQL refuses it), an escape sequence, a lone surrogate's
# neighbours, right-to-left marks.
NASTY = ["", " ", "EUR", "ZZZ", "eur", "1e400", "-0", "a\x00b", "\x1b[31m", "\ud7ff\ue000", "\u202e"]
texts = st.text(max_size=80) | st.sampled_from(NASTY)
names = st.text(min_size=1, max_size=64) | texts
prices = st.decimals(allow_nan=True, allow_infinity=True).map(str) | st.integers().map(str)
codes = st.from_regex(r"\A[A-Z]{3}\Z") | st.sampled_from(["EUR", "JPY", "XXX", "HRK"])
fields = {
    "sku": names,
    "name": names,
    "description": names,
    "price": prices | prices | texts,
    "currency": codes | codes | texts,
}
VALID = {"sku": "FUZZ-1", "name": "Lamp", "description": "", "price": "1", "currency": "EUR"}
# Most bodies: a valid product with some fields replaced by values of the right JSON type, so
# that each rule past the type check is reached with the fields before it valid; the rest:
# any JSON at all, or a product with a field of the wrong type or one field too many.
typed_bodies = st.builds(
    lambda changed, dropped: {
        **{name: value for name, value in VALID.items() if name != dropped},
        **changed,
    },
    changed=st.fixed_dictionaries({}, optional=fields),
    dropped=st.none() | st.sampled_from(sorted(VALID)),
)
wild_bodies = st.one_of(
    json_values,
    st.builds(  # one field of any JSON type
        lambda body, name, value: {**body, name: value},
        typed_bodies,
        st.sampled_from(sorted(VALID)),
        json_values,
    ),
    st.builds(  # one field too many
        lambda body, extra: {**body, **extra},
        typed_bodies,
        st.dictionaries(st.text(max_size=12), json_values, min_size=1, max_size=1),
    ),
)
product_bodies = st.one_of(typed_bodies, typed_bodies, typed_bodies, wild_bodies)
# Numbers too: any size, since a limit or offset past 64 bits is one no database can take.
queries = st.text(max_size=24) | st.sampled_from(NASTY) | st.integers().map(str)


@pytest.fixture(params=["sqlite", "postgresql"])
async def client(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AsyncTestClient[Any]]:
    """The app over SQLite, and over PostgreSQL (which refuses what SQLite takes: NUL in text)."""
    if request.param == "postgresql":
        url = request.getfixturevalue("module_postgres_database")
        container = build_container(make_settings(tmp_path, FOOTFALL_DATABASE_URL=url))
    else:
        container = build_container(make_settings(tmp_path))
        container.migrate()
    async with AsyncTestClient(create_app(container)) as test_client:  # type: ignore[arg-type]
        yield test_client


async def product_id(client: AsyncTestClient[Any]) -> str:
    """A new product's id (a sku of its own: the PostgreSQL database outlives one test, and
    the examples fill it with products of every sku)."""
    body = {**VALID, "sku": f"FUZZ-{uuid4().hex[:12]}"}
    created = await client.post("/api/admin/products", json=body, headers=ADMIN)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def answered_as_a_client_error_or_success(response: Any) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.status_code in CLIENT_ERRORS, response.text
        detail = response.json()
        assert detail["status_code"] == response.status_code and detail["detail"]


@FUZZ
@given(body=product_bodies)
@example(body={**VALID, "sku": "NUL-1", "name": "a\x00b"})  # always tried: PostgreSQL's NUL
async def test_creating_a_product(client: AsyncTestClient[Any], body: Any) -> None:
    response = await client.post("/api/admin/products", json=body, headers=ADMIN)
    answered_as_a_client_error_or_success(response)


@FUZZ
@given(body=product_bodies)
@example(body={"description": "a\x00b"})
async def test_changing_a_product(client: AsyncTestClient[Any], body: Any) -> None:
    pid = await product_id(client)
    response = await client.patch(f"/api/admin/products/{pid}", json=body, headers=ADMIN)
    answered_as_a_client_error_or_success(response)


@FUZZ
@given(raw=st.binary(max_size=64) | st.text(max_size=64).map(str.encode))
async def test_bodies_that_are_not_json(client: AsyncTestClient[Any], raw: bytes) -> None:
    pid = await product_id(client)
    headers = {**ADMIN, "Content-Type": "application/json"}
    for method, path in (
        ("POST", "/api/admin/products"),
        ("PATCH", f"/api/admin/products/{pid}"),
        ("POST", f"/api/products/{pid}/subscriptions"),
        ("POST", f"/api/visits/{pid}/engagement"),
    ):
        response = await client.request(method, path, content=raw, headers=headers)
        answered_as_a_client_error_or_success(response)


@FUZZ
@given(email=texts | json_values, duration=json_values | st.integers())
async def test_subscriptions_and_beacons(
    client: AsyncTestClient[Any], email: Any, duration: Any
) -> None:
    pid = await product_id(client)
    subscribed = await client.post(f"/api/products/{pid}/subscriptions", json={"email": email})
    answered_as_a_client_error_or_success(subscribed)
    beacon = await client.post(f"/api/visits/{pid}/engagement", json={"duration_ms": duration})
    answered_as_a_client_error_or_success(beacon)


@FUZZ
@given(a=queries, b=queries, segment=queries)
@example(a="200", b=str(2**63 - 1), segment="0")  # always tried: the largest offset
@example(a="10", b=str(2**64), segment="0")  # and one past 64 bits
async def test_query_strings_and_path_segments(
    client: AsyncTestClient[Any], a: str, b: str, segment: str
) -> None:
    pid = await product_id(client)
    one, two, part = quote(a, safe=""), quote(b, safe=""), quote(segment, safe="")
    for path in (
        f"/api/products?limit={one}&offset={two}",
        f"/api/products/{part}",
        f"/api/admin/products/{pid}/analytics?from={one}&to={two}",
        f"/api/admin/products/{part}/analytics",
        f"/api/admin/analytics/popular?days={one}&limit={two}",
        f"/api/admin/notifications?product_id={one}&status={two}",
        f"/api/subscriptions/{part}",
    ):
        method = "DELETE" if path.startswith("/api/subscriptions/") else "GET"
        response = await client.request(method, path, headers=ADMIN)
        answered_as_a_client_error_or_success(response)

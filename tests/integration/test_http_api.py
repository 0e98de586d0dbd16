"""The HTTP contract of api.md through Litestar's test client, over a real SQLite file."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from litestar.testing import AsyncTestClient

from entrypoints.container import build_container
from entrypoints.http.app import create_app
from tests.helpers import ADMIN, BOT_UA, BROWSER_UA, make_settings
from tests.tcp_proxy import proxied_database

pytestmark = pytest.mark.integration

LAMP = {
    "sku": "LAMP-1",
    "name": "Lamp",
    "description": "Warm light",
    "price": "19.99",
    "currency": "EUR",
}


class PeerAddress:
    """Sets the socket peer the app sees (the test client's is the string 'testclient').

    The peer comes from the test-only header ``x-test-peer``, default 192.0.2.10.
    """

    def __init__(self, app: Any) -> None:
        self._app = app

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            peer = headers.get(b"x-test-peer", b"192.0.2.10").decode()
            scope = {**scope, "client": (peer, 50000)}
        await self._app(scope, receive, send)


@pytest.fixture
async def app_client(tmp_path: Path) -> AsyncIterator[tuple[AsyncTestClient[Any], Any]]:
    settings = make_settings(tmp_path, FOOTFALL_TRUSTED_PROXIES="10.0.0.0/8")
    container = build_container(settings)
    container.migrate()
    app = create_app(container)
    async with AsyncTestClient(PeerAddress(app)) as client:  # type: ignore[arg-type]
        yield client, container


async def create_product(client: AsyncTestClient[Any], **overrides: str) -> dict[str, Any]:
    response = await client.post("/api/admin/products", json={**LAMP, **overrides}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()


async def test_product_lifecycle(app_client) -> None:  # type: ignore[no-untyped-def]
    client, _ = app_client
    product = await create_product(client)
    assert product["price"] == "19.99" and product["currency"] == "EUR"
    assert product["created_at"].endswith("Z") or product["created_at"].endswith("+00:00")
    listing = await client.get("/api/products?limit=10&offset=0")
    assert listing.status_code == 200 and listing.json()["total"] == 1
    patched = await client.patch(
        f"/api/admin/products/{product['id']}", json={"price": "21.50"}, headers=ADMIN
    )
    assert patched.status_code == 200 and patched.json()["price"] == "21.50"
    assert (await client.get(f"/api/products/{product['id']}")).json()["price"] == "21.50"
    exponent = await client.patch(
        f"/api/admin/products/{product['id']}", json={"price": "2E+1"}, headers=ADMIN
    )
    assert exponent.json()["price"] == "20"  # a decimal string in plain notation, stored so
    assert (await client.get(f"/api/products/{product['id']}")).json()["price"] == "20"
    deleted = await client.delete(f"/api/admin/products/{product['id']}", headers=ADMIN)
    assert deleted.status_code == 204
    assert (await client.get(f"/api/products/{product['id']}")).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**LAMP, "price": "-1"}, "price"),
        ({**LAMP, "price": "abc"}, "price"),
        ({**LAMP, "price": "1.123456"}, "price"),
        ({**LAMP, "currency": "euro"}, "currency"),
        ({**LAMP, "currency": "EUE"}, "currency"),
        ({**LAMP, "name": ""}, "name"),
        ({**LAMP, "colour": "red"}, "colour"),
        ({k: v for k, v in LAMP.items() if k != "sku"}, "sku"),
    ],
)
async def test_rule_violations_are_422_naming_the_field(app_client, body, field) -> None:  # type: ignore[no-untyped-def]
    client, _ = app_client
    response = await client.post("/api/admin/products", json=body, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert field in response.text


async def test_status_codes_for_bad_requests(app_client) -> None:  # type: ignore[no-untyped-def]
    client, _ = app_client
    product = await create_product(client)
    pid = product["id"]
    malformed = await client.post(
        "/api/admin/products",
        content=b'{"sku": ',
        headers={**ADMIN, "content-type": "application/json"},
    )
    assert malformed.status_code == 400 and malformed.json()["detail"]
    for method, path in (
        ("POST", "/api/admin/products"),
        ("PATCH", f"/api/admin/products/{pid}"),
        ("POST", f"/api/visits/{uuid4()}/engagement"),
    ):
        empty = await client.request(method, path, headers=ADMIN)
        assert empty.status_code == 400, empty.text
        assert empty.json()["detail"] == "a JSON body is required and none was sent"
    assert (await client.post("/api/admin/products", json=LAMP, headers=ADMIN)).status_code == 409
    assert (await client.post("/api/admin/products", json=LAMP)).status_code == 401
    wrong = await client.post(
        "/api/admin/products", json=LAMP, headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert (await client.get(f"/api/products/{uuid4()}")).status_code == 404
    assert (await client.get("/api/products/not-a-uuid")).status_code == 404
    assert (
        await client.patch(f"/api/admin/products/{uuid4()}", json={}, headers=ADMIN)
    ).status_code == 404
    assert (await client.delete(f"/api/admin/products/{uuid4()}", headers=ADMIN)).status_code == 404
    assert (
        await client.patch(f"/api/admin/products/{pid}", json={"sku": None}, headers=ADMIN)
    ).status_code == 422
    big = b'{"email": "' + b"a" * (1024 * 1024) + b'@example.com"}'
    too_big = await client.post(
        f"/api/products/{pid}/subscriptions",
        content=big,
        headers={"content-type": "application/json"},
    )
    assert too_big.status_code == 413
    assert (await client.get("/api/products?limit=0")).status_code == 422
    assert (await client.get("/api/products?limit=abc")).status_code == 422
    assert (
        await client.post(f"/api/visits/{uuid4()}/engagement", json={"duration_ms": 10})
    ).status_code == 404


async def test_a_tracked_page_view_records_one_visit_and_engagement(app_client) -> None:  # type: ignore[no-untyped-def]
    client, container = app_client
    product = await create_product(client)
    page = await client.get(f"/api/products/{product['id']}", headers={"User-Agent": BROWSER_UA})
    assert page.status_code == 200
    visit_id = page.headers["x-visit-id"]
    cross_origin = await client.get(
        f"/api/products/{product['id']}",
        headers={"User-Agent": BROWSER_UA, "Origin": "https://shop.example"},
    )
    assert "x-visit-id" in cross_origin.headers["access-control-expose-headers"].lower()
    # navigator.sendBeacon sends a string body as text/plain: that must work too.
    beacon = await client.post(
        f"/api/visits/{visit_id}/engagement",
        content=b'{"duration_ms": 4200}',
        headers={"content-type": "text/plain;charset=UTF-8", "origin": "https://shop.example"},
    )
    assert beacon.status_code == 204
    assert beacon.headers["access-control-allow-origin"] == "*"
    for bad in (0, 86_400_001, "twelve", None):
        response = await client.post(
            f"/api/visits/{visit_id}/engagement", json={"duration_ms": bad}
        )
        assert response.status_code == 422 and "duration_ms" in response.text
    bot = await client.get(f"/api/products/{product['id']}", headers={"User-Agent": BOT_UA})
    assert bot.status_code == 200 and "x-visit-id" not in bot.headers
    missing = await client.get(f"/api/products/{uuid4()}", headers={"User-Agent": BROWSER_UA})
    assert "x-visit-id" not in missing.headers
    listing = await client.get("/api/products", headers={"User-Agent": BROWSER_UA})
    assert "x-visit-id" not in listing.headers
    # A HEAD gets the page's status and headers, no body, and is not a page view.
    head = await client.head(f"/api/products/{product['id']}", headers={"User-Agent": BROWSER_UA})
    assert head.status_code == 200 and head.content == b"" and "x-visit-id" not in head.headers
    assert head.headers["content-length"] == page.headers["content-length"]

    await container.visit_buffer().flush()
    await container.analytics_service().update_analytics()
    analytics = await client.get(f"/api/admin/products/{product['id']}/analytics", headers=ADMIN)
    assert analytics.status_code == 200
    body = analytics.json()
    # Two page views by one visitor (the second from another origin), one beacon.
    totals = (body["total_visits"], body["unique_visitors"], body["avg_visit_duration_ms"])
    assert totals == (2, 1, 4200)
    assert len(body["daily"]) == 30 and body["as_of"] is not None
    assert set(body) == {
        "product_id",
        "from",
        "to",
        "total_visits",
        "unique_visitors",
        "avg_visit_duration_ms",
        "daily",
        "as_of",
    }
    popular = await client.get("/api/admin/analytics/popular?days=7&limit=10", headers=ADMIN)
    assert popular.json() == [
        {"product_id": product["id"], "name": "Lamp", "visits": 2, "unique_visitors": 1}
    ]


async def test_analytics_ranges_are_validated(app_client) -> None:  # type: ignore[no-untyped-def]
    client, _ = app_client
    pid = (await create_product(client))["id"]
    url = f"/api/admin/products/{pid}/analytics"
    ok = await client.get(f"{url}?from=2026-01-01&to=2026-01-03", headers=ADMIN)
    assert [d["date"] for d in ok.json()["daily"]] == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert ok.json()["avg_visit_duration_ms"] is None
    for query, field in (
        ("from=2026-01-05&to=2026-01-01", "from"),
        ("from=2024-01-01&to=2026-01-01", "to"),
        ("from=yesterday", "from"),
        ("to=2026-13-01", "to"),
    ):
        response = await client.get(f"{url}?{query}", headers=ADMIN)
        assert response.status_code == 422, query
        # named as the client sent it, not by the handler's argument (start, end)
        assert [error["key"] for error in response.json()["extra"]] == [field], query
    assert (
        await client.get(f"/api/admin/products/{uuid4()}/analytics", headers=ADMIN)
    ).status_code == 404
    assert (
        await client.get("/api/admin/analytics/popular?days=0", headers=ADMIN)
    ).status_code == 422
    refresh = await client.post("/api/admin/analytics/refresh", headers=ADMIN)
    assert refresh.status_code == 202


async def test_subscriptions_and_update_notifications(app_client) -> None:  # type: ignore[no-untyped-def]
    client, _ = app_client
    pid = (await create_product(client))["id"]
    url = f"/api/products/{pid}/subscriptions"
    assert (await client.post(url, json={"email": "Ann@Example.com"})).status_code == 202
    assert (await client.post(url, json={"email": "ann@example.com"})).status_code == 202
    bad = await client.post(url, json={"email": "not-an-address"})
    assert bad.status_code == 422 and "email" in bad.text
    assert (
        await client.post(f"/api/products/{uuid4()}/subscriptions", json={"email": "a@example.com"})
    ).status_code == 404
    await client.patch(f"/api/admin/products/{pid}", json={"name": "Lamp 2"}, headers=ADMIN)
    listed: list[dict[str, Any]] = []
    for _ in range(100):  # the embedded worker sends it in the background
        listed = (
            await client.get(f"/api/admin/notifications?product_id={pid}", headers=ADMIN)
        ).json()
        if listed and listed[0]["status"] == "sent":
            break
        await asyncio.sleep(0.05)
    assert listed[0]["status"] == "sent" and listed[0]["recipients"] == 1
    assert listed[0]["provider_message_id"]
    assert (
        await client.get("/api/admin/notifications?status=bogus", headers=ADMIN)
    ).status_code == 422
    assert (await client.delete("/api/subscriptions/nope")).status_code == 404


async def test_the_unsubscribe_link_asks_first_and_one_click_works(app_client) -> None:  # type: ignore[no-untyped-def]
    client, container = app_client
    pid = (await create_product(client))["id"]
    await client.post(f"/api/products/{pid}/subscriptions", json={"email": "ann@example.com"})
    async with container.engine().connect() as connection:
        [token] = [
            row[0] for row in await connection.exec_driver_sql("SELECT token FROM subscriptions")
        ]
    page = await client.get(f"/api/subscriptions/{token}")
    assert page.status_code == 200 and "Unsubscribe" in page.text
    assert page.headers["content-type"].startswith("text/html")
    # Looking at the page unsubscribed no one; the one-click POST does.
    assert (
        await client.post(f"/api/subscriptions/{token}", content=b"List-Unsubscribe=One-Click")
    ).status_code == 204
    assert (await client.delete(f"/api/subscriptions/{token}")).status_code == 404


async def test_operations_endpoints(app_client, caplog) -> None:  # type: ignore[no-untyped-def]
    client, _ = app_client
    assert (await client.get("/health/live")).status_code == 200
    assert (await client.head("/health/live")).status_code == 200
    with caplog.at_level(logging.INFO):
        assert (await client.get("/health/ready")).status_code == 200
    # A probe every few seconds must not fill the log (httpx's line is the test client's).
    assert not [r.getMessage() for r in caplog.records if r.name != "httpx"]
    assert (await client.get(f"/no/such/{uuid4()}")).status_code == 404
    not_allowed = await client.delete("/health/live")
    assert not_allowed.status_code == 405
    assert {"GET", "HEAD"} <= set(not_allowed.headers["allow"].split(", "))
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200 and "footfall_visits_tracked_total" in metrics.text
    # Requests by route template, method and status; a path no route matched is "unmatched".
    series = 'footfall_http_request_duration_seconds_count{method="%s",route="%s",status="%s"} 1.0'
    for labels in (
        ("GET", "/health/live", "200"),
        ("HEAD", "/health/live", "200"),
        ("GET", "/health/ready", "200"),
        ("GET", "unmatched", "404"),
    ):
        assert series % labels in metrics.text.splitlines(), labels
    schema = (await client.get("/schema/openapi.json")).json()
    paths = set(schema["paths"])
    for path in (
        "/api/products",
        "/api/products/{product_id}",
        "/api/visits/{visit_id}/engagement",
        "/api/products/{product_id}/subscriptions",
        "/api/subscriptions/{token}",
        "/api/admin/products",
        "/api/admin/products/{product_id}",
        "/api/admin/products/{product_id}/analytics",
        "/api/admin/analytics/popular",
        "/api/admin/analytics/refresh",
        "/api/admin/notifications",
        "/health/live",
        "/health/ready",
        "/metrics",
    ):
        assert path in paths, path
    analytics_params = {
        p["name"]
        for p in schema["paths"]["/api/admin/products/{product_id}/analytics"]["get"]["parameters"]
    }
    assert {"from", "to"} <= analytics_params
    # The statuses api.md gives each route are in the document, each error with its body.
    for (method, path), statuses in CONTRACT_STATUSES.items():
        responses = schema["paths"][path][method]["responses"]
        assert statuses <= set(responses), (method, path, statuses - set(responses))
        for status in statuses - {"200", "201", "202", "204", "400"}:
            body = responses[status]["content"]["application/json"]["schema"]
            assert body == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, status)
    product_ok = schema["paths"]["/api/products/{product_id}"]["get"]["responses"]["200"]
    assert "X-Visit-Id" in product_ok["headers"]


ANALYTICS = "/api/admin/products/{product_id}/analytics"
CONTRACT_STATUSES = {
    ("get", "/api/products"): {"200", "422"},
    ("get", "/api/products/{product_id}"): {"200", "404"},
    ("post", "/api/visits/{visit_id}/engagement"): {"204", "400", "404", "413", "422"},
    ("post", "/api/products/{product_id}/subscriptions"): {"202", "400", "404", "413", "422"},
    ("delete", "/api/subscriptions/{token}"): {"204", "404"},
    ("post", "/api/admin/products"): {"201", "400", "401", "409", "413", "422"},
    ("patch", "/api/admin/products/{product_id}"): {"200", "400", "401", "404", "409", "422"},
    ("delete", "/api/admin/products/{product_id}"): {"204", "401", "404"},
    ("get", ANALYTICS): {"200", "401", "404", "422"},
    ("get", "/api/admin/analytics/popular"): {"200", "401", "422"},
    ("post", "/api/admin/analytics/refresh"): {"202", "401", "503"},
    ("get", "/api/admin/notifications"): {"200", "401", "422"},
    ("get", "/health/ready"): {"200", "503"},
}


async def test_no_raw_ip_or_user_agent_reaches_the_database_or_the_logs(
    app_client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    client, container = app_client
    caplog.set_level(logging.DEBUG)
    pid = (await create_product(client))["id"]
    secrets_seen = ["203.0.113.77", "198.51.100.23", "10.1.2.3", "FootfallTestAgent/7.7"]
    # An untrusted peer's X-Forwarded-For is ignored; a trusted proxy's names the client.
    untrusted = await client.get(
        f"/api/products/{pid}",
        headers={
            "User-Agent": BROWSER_UA,
            "X-Forwarded-For": "198.51.100.23",
            "x-test-peer": "203.0.113.77",
        },
    )
    trusted = await client.get(
        f"/api/products/{pid}",
        headers={
            "User-Agent": BROWSER_UA,
            "X-Forwarded-For": "198.51.100.23",
            "x-test-peer": "10.1.2.3",
        },
    )
    assert "x-visit-id" in untrusted.headers and "x-visit-id" in trusted.headers
    await container.visit_buffer().flush()
    await container.analytics_service().update_analytics()
    async with container.engine().connect() as connection:
        stored = {
            row[0] for row in await connection.exec_driver_sql("SELECT visitor_hash FROM visits")
        }
    visitor_hash = await container.hasher().keyed_for(datetime.now(UTC).date())
    assert stored == {
        visitor_hash("203.0.113.77"),  # untrusted peer: itself
        visitor_hash("198.51.100.23"),  # trusted proxy: the forwarded client
    }
    blob = b"".join(path.read_bytes() for path in tmp_path.glob("footfall*"))
    logs = caplog.text
    for secret in secrets_seen:
        assert secret.encode() not in blob, secret
        assert secret not in logs, secret


async def test_a_database_that_cannot_be_reached_answers_503_and_cached_pages_still_serve(
    fresh_postgres: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    proxy, through_proxy = proxied_database(fresh_postgres)
    container = build_container(make_settings(tmp_path, FOOTFALL_DATABASE_URL=through_proxy))
    app = create_app(container, embedded_runtime=False)
    try:
        async with AsyncTestClient(PeerAddress(app)) as client:  # type: ignore[arg-type]
            product = await create_product(client)
            page = f"/api/products/{product['id']}"
            assert (await client.get(page)).status_code == 200  # now cached
            proxy.stop()  # PostgreSQL goes away: refused, open connections cut
            caplog.clear()
            with caplog.at_level(logging.WARNING):
                cached = await client.get(page, headers={"User-Agent": BROWSER_UA})
                assert cached.status_code == 200 and cached.headers["x-visit-id"]
                for request in (
                    client.get(f"/api/products/{uuid4()}"),  # not cached: needs the database
                    client.post("/api/admin/products", json={**LAMP, "sku": "X"}, headers=ADMIN),
                    client.get("/api/products"),
                ):
                    response = await request
                    assert response.status_code == 503, response.text
                    assert response.json()["detail"] == "database unavailable, retry later"
                    assert response.headers["retry-after"] == "1"
            unavailable = [r for r in caplog.records if "database unavailable" in r.getMessage()]
            assert len(unavailable) == 3 and not any(r.exc_info for r in unavailable)
            assert not [r for r in caplog.records if "unhandled error" in r.getMessage()]
            metrics = (await client.get("/metrics")).text
            assert "footfall_database_unavailable_total 3.0" in metrics
            proxy.start()  # back: the pool's pre-ping replaces the dead connections
            assert (await client.get(f"/api/products/{uuid4()}")).status_code == 404
            assert (await client.get("/api/products")).status_code == 200
    finally:
        proxy.stop()


async def test_an_unmigrated_database_is_not_ready_and_answers_503_until_migrated(
    unmigrated_postgres: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`footfall migrate` forgotten: readiness says so, requests that need the database answer
    503 (not 500), the log says what to do, and migrating mends it without a restart."""
    container = build_container(make_settings(tmp_path, FOOTFALL_DATABASE_URL=unmigrated_postgres))
    app = create_app(container, embedded_runtime=False)
    with caplog.at_level(logging.WARNING):
        async with AsyncTestClient(app) as client:
            ready = await client.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json()["detail"] == (
                "not ready: database schema at nothing, this version needs 0001: "
                "run `footfall migrate`"
            )
            for request in (
                client.get(f"/api/products/{uuid4()}"),
                client.post("/api/admin/products", json=LAMP, headers=ADMIN),
                client.get("/api/products"),
            ):
                response = await request
                assert response.status_code == 503, response.text
            await asyncio.to_thread(container.migrate)
            assert (await client.get("/health/ready")).status_code == 200
            assert (
                await client.post("/api/admin/products", json=LAMP, headers=ADMIN)
            ).status_code == 201
    messages = [record.getMessage() for record in caplog.records]
    assert any(m.startswith("started, but not ready: database schema at nothing") for m in messages)
    assert sum("needs 0001: run `footfall migrate`" in m for m in messages) == 4  # start + 3
    assert not any("unhandled error" in m for m in messages)

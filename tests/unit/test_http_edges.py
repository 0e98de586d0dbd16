"""What wraps the whole app: request metrics by route, method and status, and HEAD answered
as GET without its body. Around stand-in apps; the real app's are in test_http_api."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import CollectorRegistry

from entrypoints.http.head import HEAD_REQUEST, answer_head_as_get
from entrypoints.http.request_metrics import RequestMetrics

SERIES = "footfall_http_request_duration_seconds"


def _routed(status: int, template: str | None, seen: list[dict[str, Any]]) -> Any:
    """A stand-in for Litestar's handler: routing writes the template into the scope."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope)
        if template is not None:
            scope["path_template"] = template
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


def _serve(app: Any, method: str, kind: str = "http") -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    asyncio.run(app({"type": kind, "method": method, "path": "/x"}, receive, send))
    return sent


def _count(registry: CollectorRegistry, route: str, method: str, status: str) -> float | None:
    labels = {"route": route, "method": method, "status": status}
    return registry.get_sample_value(f"{SERIES}_count", labels)


def test_requests_are_counted_by_route_template_method_and_status() -> None:
    registry, seen = CollectorRegistry(), []
    metrics = RequestMetrics(registry)
    page = metrics.wrap(_routed(200, "/api/products/{product_id}", seen))
    for _ in range(3):
        _serve(page, "GET")
    _serve(metrics.wrap(_routed(404, "/api/products/{product_id}", seen)), "GET")
    assert _count(registry, "/api/products/{product_id}", "GET", "200") == 3
    assert _count(registry, "/api/products/{product_id}", "GET", "404") == 1
    # the time to the response's start lands in a bucket: under 10 s, all three
    buckets = {"route": "/api/products/{product_id}", "method": "GET", "status": "200"}
    assert registry.get_sample_value(f"{SERIES}_bucket", {**buckets, "le": "10.0"}) == 3
    assert registry.get_sample_value(f"{SERIES}_sum", buckets) > 0  # type: ignore[operator]


def test_labels_stay_bounded_whatever_the_client_sends() -> None:
    registry, seen = CollectorRegistry(), []
    metrics = RequestMetrics(registry)
    _serve(metrics.wrap(_routed(404, None, seen)), "GET")  # no route matched
    _serve(metrics.wrap(_routed(405, None, seen)), "BREW")
    _serve(metrics.wrap(_routed(405, None, seen)), "PROPFIND")
    assert _count(registry, "unmatched", "GET", "404") == 1
    assert _count(registry, "unmatched", "other", "405") == 2


def test_a_head_reaches_the_app_as_a_get_and_leaves_without_its_body() -> None:
    registry, seen = CollectorRegistry(), []
    app = answer_head_as_get(RequestMetrics(registry).wrap(_routed(200, "/health/live", seen)))
    start, body = _serve(app, "HEAD")
    assert seen[-1]["method"] == "GET" and seen[-1][HEAD_REQUEST] is True
    assert start["status"] == 200 and body["body"] == b""
    assert _count(registry, "/health/live", "HEAD", "200") == 1
    start, body = _serve(app, "GET")
    assert body["body"] == b"{}" and HEAD_REQUEST not in seen[-1]
    assert _count(registry, "/health/live", "GET", "200") == 1


def test_other_scopes_pass_untouched() -> None:
    registry, seen = CollectorRegistry(), []
    app = answer_head_as_get(RequestMetrics(registry).wrap(_routed(200, "/ws", seen)))
    _serve(app, "HEAD", kind="websocket")
    assert seen[-1]["method"] == "HEAD"
    assert _count(registry, "/ws", "HEAD", "200") is None

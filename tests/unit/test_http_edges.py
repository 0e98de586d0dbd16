"""What wraps the whole app: request metrics by route, method and status, and HEAD answered
as GET without its body. Around stand-in apps; the real app's are in test_http_api."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import CollectorRegistry

from entrypoints.http.edge import HEAD_REQUEST, edge
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
    page = edge(_routed(200, "/api/products/{product_id}", seen), metrics)
    for _ in range(3):
        _serve(page, "GET")
    _serve(edge(_routed(404, "/api/products/{product_id}", seen), metrics), "GET")
    assert _count(registry, "/api/products/{product_id}", "GET", "200") is None  # tallied
    metrics.publish()
    assert _count(registry, "/api/products/{product_id}", "GET", "200") == 3
    assert _count(registry, "/api/products/{product_id}", "GET", "404") == 1
    # the time to the response's start lands in a bucket: under 10 s, all three
    buckets = {"route": "/api/products/{product_id}", "method": "GET", "status": "200"}
    assert registry.get_sample_value(f"{SERIES}_bucket", {**buckets, "le": "10.0"}) == 3
    assert registry.get_sample_value(f"{SERIES}_sum", buckets) > 0  # type: ignore[operator]


def test_labels_stay_bounded_whatever_the_client_sends() -> None:
    registry, seen = CollectorRegistry(), []
    metrics = RequestMetrics(registry)
    _serve(edge(_routed(404, None, seen), metrics), "GET")  # no route matched
    _serve(edge(_routed(405, None, seen), metrics), "BREW")
    _serve(edge(_routed(405, None, seen), metrics), "PROPFIND")
    metrics.publish()
    assert _count(registry, "unmatched", "GET", "404") == 1
    assert _count(registry, "unmatched", "other", "405") == 2


def test_a_head_reaches_the_app_as_a_get_and_leaves_without_its_body() -> None:
    registry, seen = CollectorRegistry(), []
    metrics = RequestMetrics(registry)
    app = edge(_routed(200, "/health/live", seen), metrics)
    start, body = _serve(app, "HEAD")
    assert seen[-1]["method"] == "GET" and seen[-1][HEAD_REQUEST] is True
    assert start["status"] == 200 and body["body"] == b""
    start, body = _serve(app, "GET")
    assert body["body"] == b"{}" and HEAD_REQUEST not in seen[-1]
    metrics.publish()
    assert _count(registry, "/health/live", "HEAD", "200") == 1
    assert _count(registry, "/health/live", "GET", "200") == 1


def test_other_scopes_pass_untouched() -> None:
    registry, seen = CollectorRegistry(), []
    metrics = RequestMetrics(registry)
    _serve(edge(_routed(200, "/ws", seen), metrics), "HEAD", kind="websocket")
    metrics.publish()
    assert seen[-1]["method"] == "HEAD"
    assert _count(registry, "/ws", "HEAD", "200") is None


def test_tallies_publish_what_observing_one_at_a_time_would() -> None:
    """The bulk publication reaches into prometheus_client's histogram: this catches a change."""
    seconds = [0.0004, 0.001, 0.0011, 0.003, 0.003, 0.02, 0.7, 9.99, 10.0, 12.5, 600.0]
    tallied, observed = CollectorRegistry(), CollectorRegistry()
    metrics = RequestMetrics(tallied)
    one_by_one = RequestMetrics(observed)._histogram.labels("/r", "GET", "200")
    for value in seconds:
        metrics.tally("/r", "GET", 200, value)
        one_by_one.observe(value)
    metrics.publish()
    metrics.publish()  # nothing new: nothing added twice

    def samples(registry: CollectorRegistry) -> list[tuple[str, dict[str, str], float]]:
        return [
            (s.name, s.labels, s.value)
            for family in registry.collect()
            for s in family.samples
            if not s.name.endswith("_created")
        ]

    assert samples(tallied) == samples(observed)
    assert _count(tallied, "/r", "GET", "200") == len(seconds)


def test_the_publisher_publishes_on_its_beat_and_when_stopped() -> None:
    registry = CollectorRegistry()
    metrics = RequestMetrics(registry)

    async def run() -> None:
        publisher = asyncio.create_task(metrics.publish_every(0.01))
        metrics.tally("/r", "GET", 200, 0.002)
        await asyncio.sleep(0.05)
        assert _count(registry, "/r", "GET", "200") == 1
        metrics.tally("/r", "GET", 200, 0.002)
        publisher.cancel()
        await asyncio.gather(publisher, return_exceptions=True)

    asyncio.run(run())
    assert _count(registry, "/r", "GET", "200") == 2

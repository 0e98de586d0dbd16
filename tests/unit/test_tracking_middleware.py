"""The tracking middleware around a stand-in route app: which responses are tracked, the
X-Visit-Id header, errors swallowed, tracking switched off, and what it reads from the
request (the client's address through trusted proxies, the User-Agent)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from adapters.in_memory.services import InMemoryMetrics
from entrypoints.http.edge import HEAD_REQUEST
from entrypoints.http.middleware import VisitTrackingMiddleware
from tests.unit.test_client_ip import PROXIES


class _Tracker:
    def __init__(self, answer: Any = "visit-1") -> None:
        self.answer = answer
        self.calls = 0
        self.seen: list[tuple[str, str, object]] = []

    def track_visit(self, ip: str, user_agent: str, product_id: object) -> Any:
        self.calls += 1
        self.seen.append((ip, user_agent, product_id))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _route_app(status: int) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


def _scope(track: bool) -> dict[str, Any]:
    return {
        "type": "http",
        "route_handler": SimpleNamespace(opt={"track_visits": True} if track else {}),
        "headers": [(b"user-agent", b"Mozilla/5.0")],
        "client": ("203.0.113.9", 5000),
        "path_params": {"product_id": "p"},
    }


def _serve(app: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    asyncio.run(app(scope, receive, send))
    return sent


def _middleware(tracker: _Tracker, metrics: InMemoryMetrics, enabled: bool = True) -> Any:
    return VisitTrackingMiddleware(lambda: tracker, lambda: metrics, (), enabled=enabled)


def test_a_tracked_routes_200_records_a_visit_and_names_it() -> None:
    tracker, metrics = _Tracker(), InMemoryMetrics()
    app = _middleware(tracker, metrics)(_route_app(200))
    start, body = _serve(app, _scope(track=True))
    assert (b"x-visit-id", b"visit-1") in start["headers"]
    assert body["body"] == b"{}"
    assert tracker.calls == 1


def test_other_routes_errors_and_bots_are_not_tracked() -> None:
    tracker, metrics = _Tracker(), InMemoryMetrics()
    middleware = _middleware(tracker, metrics)
    for status, track in ((200, False), (404, True), (304, True)):
        start, _ = _serve(middleware(_route_app(status)), _scope(track))
        assert start["headers"] == []
    assert tracker.calls == 0
    bot = _Tracker(answer=None)  # the visit service answers None for a bot
    start, _ = _serve(_middleware(bot, metrics)(_route_app(200)), _scope(track=True))
    assert start["headers"] == [] and bot.calls == 1


def test_a_tracking_error_is_counted_and_the_page_still_answers() -> None:
    tracker, metrics = _Tracker(answer=RuntimeError("203.0.113.9")), InMemoryMetrics()
    start, body = _serve(_middleware(tracker, metrics)(_route_app(200)), _scope(track=True))
    assert start["status"] == 200 and start["headers"] == [] and body["body"] == b"{}"
    assert metrics.counters["tracking_failures"] == 1


def test_a_head_answered_as_its_get_is_not_a_page_view() -> None:
    tracker, metrics = _Tracker(), InMemoryMetrics()
    app = _middleware(tracker, metrics)(_route_app(200))
    start, _ = _serve(app, {**_scope(track=True), HEAD_REQUEST: True})
    assert start["headers"] == [] and tracker.calls == 0


def test_an_awaitable_visit_id_is_awaited_before_the_response_starts() -> None:
    async def later() -> str:
        return "visit-2"

    class _Later(_Tracker):
        def track_visit(self, ip: str, user_agent: str, product_id: object) -> Any:
            self.calls += 1
            return later()

    start, _ = _serve(_middleware(_Later(), InMemoryMetrics())(_route_app(200)), _scope(True))
    assert (b"x-visit-id", b"visit-2") in start["headers"]


def test_switched_off_there_is_no_middleware_at_all() -> None:
    route = _route_app(200)
    assert _middleware(_Tracker(), InMemoryMetrics(), enabled=False)(route) is route


def test_the_base_class_entry_point_tracks_alike() -> None:
    tracker, metrics = _Tracker(), InMemoryMetrics()
    middleware = _middleware(tracker, metrics)

    async def through_handle(scope: Any, receive: Any, send: Any) -> None:
        await middleware.handle(scope, receive, send, _route_app(200))

    start, _ = _serve(through_handle, _scope(track=True))
    assert (b"x-visit-id", b"visit-1") in start["headers"]
    start, _ = _serve(through_handle, _scope(track=False))
    assert start["headers"] == [] and tracker.calls == 1


def _tracked(
    headers: list[tuple[bytes, bytes]], proxies: tuple[Any, ...] = PROXIES
) -> tuple[Any, ...]:
    tracker = _Tracker(answer="visit")
    middleware = VisitTrackingMiddleware(lambda: tracker, lambda: None, proxies)  # type: ignore[arg-type, return-value]
    scope = {"headers": headers, "client": ("10.0.0.1", 5000), "path_params": {"product_id": 7}}
    assert middleware._track(scope) == "visit"  # type: ignore[arg-type]
    return tracker.seen[0]


def test_the_middleware_reads_both_headers_and_joins_repeated_fields() -> None:
    headers = [
        (b"host", b"shop.example"),
        (b"x-forwarded-for", b"203.0.113.50, 198.51.100.1"),
        (b"user-agent", b"Mozilla/5.0"),
        (b"x-forwarded-for", b"10.0.0.2, 10.0.0.3"),
        (b"user-agent", b"(again)"),
    ]
    # the proxies' hops joined in order: the first untrusted one from the right is the client
    assert _tracked(headers) == ("198.51.100.1", "Mozilla/5.0,(again)", 7)
    assert _tracked([(b"host", b"shop.example")]) == ("10.0.0.1", "", 7)
    # without trusted proxies, X-Forwarded-For is not read at all
    assert _tracked(headers, ())[0] == "10.0.0.1"

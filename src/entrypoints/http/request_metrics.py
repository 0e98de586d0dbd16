"""Request counts and latencies by route, method and status: what an operator reads first.

One histogram, ``footfall_http_request_duration_seconds{route, method, status}``; its
``_count`` series are the request counts (rates, error ratios), its buckets the latency.
Labels stay bounded and carry nothing a client wrote: the route is the matched route's
template (``/api/products/{product_id}``), or ``unmatched`` when no route matched (404 and
405 from the router, CORS preflights); a method outside the standard ones is ``other``.

The time runs from the request's arrival at the app to the start of its response (these
responses are sent whole right after). Wrapped around the whole app, not per route, so that
errors answered by Litestar's exception handlers and unmatched paths are counted too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from time import perf_counter

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Histogram

from entrypoints.http.head import HEAD_REQUEST

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Seconds: an idle page answers in ~1 ms, a loaded one in a few; the tail up to 10 s.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._histogram = Histogram(
            "footfall_http_request_duration_seconds",
            "HTTP requests by route template, method and status: time to the response's start",
            ("route", "method", "status"),
            buckets=BUCKETS,
            registry=registry,
        )
        # Each label set's bound observe, found once: labels() costs more than observe().
        self._observers: dict[tuple[str | None, str, int], Callable[[float], None]] = {}

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """``app`` with every HTTP request observed. No frame of ours per request: the
        wrapper hands back the app's coroutine with a ``send`` that observes the start."""
        observe = self.observe

        def observed(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
            if scope["type"] == ScopeType.HTTP:
                send = _timed(scope, send, observe)
            return app(scope, receive, send)

        return observed  # type: ignore[return-value]

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        method: str = scope["method"]  # type: ignore[typeddict-item]
        if HEAD_REQUEST in scope:
            method = "HEAD"
        elif method not in METHODS:
            method = "other"
        key = (scope.get("path_template"), method, status)
        observer = self._observers.get(key)
        if observer is None:
            route, _, _ = key
            child = self._histogram.labels(route or UNMATCHED, method, str(status))
            observer = self._observers[key] = child.observe
        observer(seconds)


def _timed(scope: Scope, send: Send, observe: Callable[[Scope, int, float], None]) -> Send:
    start = perf_counter()

    def send_observed(message: Message) -> Awaitable[None]:
        if message["type"] == "http.response.start":
            observe(scope, message["status"], perf_counter() - start)
        return send(message)

    return send_observed  # type: ignore[return-value]

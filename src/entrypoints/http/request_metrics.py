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

import asyncio
from bisect import bisect_left
from collections.abc import Awaitable, Callable
from time import perf_counter

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Histogram

from entrypoints.http.head import HEAD_REQUEST, HTTP

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Seconds: an idle page answers in ~1 ms, a loaded one in a few; the tail up to 10 s.
PUBLISH_EVERY_S = 1.0
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestMetrics:
    """Counts each request in plain per-process tallies, published to the histogram every
    ``PUBLISH_EVERY_S`` and before a scrape: ``Histogram.observe`` per request cost ~2 µs
    (~6 µs with multiprocess mode's file writes, as the API's workers run), ~5% of a
    product page under load; a tally costs a dict lookup and a ``bisect``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._histogram = Histogram(
            "footfall_http_request_duration_seconds",
            "HTTP requests by route template, method and status: time to the response's start",
            ("route", "method", "status"),
            buckets=BUCKETS,
            registry=registry,
        )
        # (route template, method, a HEAD?, status) -> [seconds in all, count per bucket...]
        self._tallies: dict[tuple[str | None, str, bool, int], list[float]] = {}

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """``app`` with every HTTP request tallied. No frame of ours per request: the
        wrapper hands back the app's coroutine with a ``send`` that notes the start."""
        tally = self.tally

        def observed(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
            if scope["type"] == HTTP:
                send = _timed(scope, send, tally)
            return app(scope, receive, send)

        return observed  # type: ignore[return-value]

    def tally(self, scope: Scope, status: int, seconds: float) -> None:
        key = (scope.get("path_template"), scope["method"], HEAD_REQUEST in scope, status)  # type: ignore[typeddict-item]
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = [0.0] * (len(BUCKETS) + 2)
        tally[0] += seconds
        tally[bisect_left(BUCKETS, seconds) + 1] += 1  # the +Inf bucket after the last

    def publish(self) -> None:
        """Moves the tallies into the histogram (labels bounded here, off the request path)."""
        tallies, self._tallies = self._tallies, {}
        for (route, method, head, status), (seconds, *counts) in tallies.items():
            if head:
                method = "HEAD"
            elif method not in METHODS:
                method = "other"
            child = self._histogram.labels(route or UNMATCHED, method, str(status))
            add_observations(child, seconds, counts)

    async def publish_every(self, seconds: float = PUBLISH_EVERY_S) -> None:
        try:
            while True:
                await asyncio.sleep(seconds)
                self.publish()
        finally:
            self.publish()


def add_observations(child: Histogram, seconds: float, counts: list[float]) -> None:
    """What ``child.observe`` does for each of many observations at once: their sum, and
    the count that fell into each bucket (non-cumulative, +Inf last). prometheus_client has
    no public call for it; tests compare the result with ``observe`` one at a time."""
    child._sum.inc(seconds)
    for bucket, count in zip(child._buckets, counts, strict=True):
        if count:
            bucket.inc(count)


def _timed(scope: Scope, send: Send, tally: Callable[[Scope, int, float], None]) -> Send:
    start = perf_counter()

    def send_observed(message: Message) -> Awaitable[None]:
        if message["type"] == "http.response.start":
            tally(scope, message["status"], perf_counter() - start)
        return send(message)

    return send_observed  # type: ignore[return-value]

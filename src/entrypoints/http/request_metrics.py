"""Request counts and latencies by route, method and status: what an operator reads first.

One histogram, ``footfall_http_request_duration_seconds{route, method, status}``; its
``_count`` series are the request counts (rates, error ratios), its buckets the latency.
Labels stay bounded and carry nothing a client wrote: the route is the matched route's
template (``/api/products/{product_id}``), or ``unmatched`` when no route matched (404 and
405 from the router, CORS preflights); a method outside the standard ones is ``other``.

The time runs from the request's arrival at the app to the start of its response (these
responses are sent whole right after). ``entrypoints.http.edge`` does the timing.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left

from prometheus_client import CollectorRegistry, Histogram

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Seconds: an idle page answers in ~1 ms, a loaded one in a few; the tail up to 10 s.
PUBLISH_EVERY_S = 1.0
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestMetrics:
    """Counts each request in plain per-process tallies, published to the histogram every
    ``PUBLISH_EVERY_S`` and before a scrape. ``Histogram.observe`` per request took a lock,
    asked getpid twice and wrote two mmap values in multiprocess mode (as the API's workers
    run); measured side by side (`make bench-ab`), that cost 5-7% of the product page's
    throughput. A tally is a dict lookup and a ``bisect``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._histogram = Histogram(
            "footfall_http_request_duration_seconds",
            "HTTP requests by route template, method and status: time to the response's start",
            ("route", "method", "status"),
            buckets=BUCKETS,
            registry=registry,
        )
        # (route template, method, status) -> [seconds in all, count per bucket...]
        self._tallies: dict[tuple[str | None, str, int], list[float]] = {}

    def tally(self, route: str | None, method: str, status: int, seconds: float) -> None:
        """One request: its route's template (None: no route matched), its method as sent."""
        key = (route, method, status)
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = [0.0] * (len(BUCKETS) + 2)
        tally[0] += seconds
        tally[bisect_left(BUCKETS, seconds) + 1] += 1  # the +Inf bucket after the last

    def publish(self) -> None:
        """Moves the tallies into the histogram (labels bounded here, off the request path)."""
        tallies, self._tallies = self._tallies, {}
        for (route, method, status), (seconds, *counts) in tallies.items():
            if method not in METHODS:
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

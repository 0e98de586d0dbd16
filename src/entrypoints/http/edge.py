"""The one layer around the whole app: request metrics, and HEAD answered on GET routes.

Around the whole app (routing, exception handlers, CORS), where route middleware cannot
reach: errors answered by Litestar's exception handlers and unmatched paths are counted.
One layer for both duties, a function and not a coroutine: every request pays for each
Python frame here, and the product page is what Footfall must keep cheap.

HEAD: Litestar routes HEAD only to handlers declared for it, which may return no body, so
uptime monitors and link checkers sending HEAD got 405 everywhere (RFC 9110, 9.3.2: HEAD
goes wherever GET does). The app sees a GET, in a copy of the scope marked ``HEAD_REQUEST``
(the tracking middleware does not count it as a page view; the metrics label it HEAD); its
body is dropped on the way out (uvicorn would drop it too; not every server does).
"""

from __future__ import annotations

from collections.abc import Awaitable
from time import perf_counter
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.http.request_metrics import RequestMetrics

HEAD_REQUEST = "footfall.head"  # in the scope the app sees: this GET answers a HEAD
# The value, not the enum: comparing a scope's text with a str enum costs ~4x as much.
HTTP: str = ScopeType.HTTP.value


def edge(app: ASGIApp, metrics: RequestMetrics) -> ASGIApp:
    tally = metrics.tally

    def at_the_edge(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != HTTP:
            return app(scope, receive, send)
        start = perf_counter()
        http: Any = scope
        method = http["method"]  # as sent: a HEAD is counted as one
        if method == "HEAD":
            http = {**http, "method": "GET", HEAD_REQUEST: True}
            send = _without_body(send)

        def send_counted(message: Message) -> Awaitable[None]:
            if message["type"] == "http.response.start":
                # The router has written the matched route's template into the scope by now.
                route = http.get("path_template")
                tally(route, method, message["status"], perf_counter() - start)
            return send(message)

        return app(http, receive, send_counted)  # type: ignore[arg-type]

    return at_the_edge  # type: ignore[return-value]


def _without_body(send: Send) -> Send:
    def send_head(message: Message) -> Awaitable[None]:
        if message["type"] == "http.response.body" and message.get("body"):
            message = {**message, "body": b""}  # type: ignore[typeddict-item]
        return send(message)

    return send_head  # type: ignore[return-value]

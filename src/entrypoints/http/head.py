"""HEAD on every GET route: the GET's status and headers without its body (RFC 9110, 9.3.2).

Litestar routes HEAD only to handlers declared for it, and those may return no body, so
uptime monitors and link checkers that send HEAD got 405 from every route. Here the app
sees a GET, in a copy of the scope marked ``HEAD_REQUEST`` (the tracking middleware does not
count a HEAD as a page view, and the request metrics label it HEAD); the body is dropped
on the way out (uvicorn would drop it too; not every server does).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

HEAD_REQUEST = "footfall.head"  # in the scope the app sees: this GET answers a HEAD
# The value, not the enum: comparing a scope's text with a str enum costs ~4x as much.
HTTP: str = ScopeType.HTTP.value


def answer_head_as_get(app: ASGIApp) -> ASGIApp:
    def head_as_get(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == HTTP and scope["method"] == "HEAD":  # type: ignore[typeddict-item]
            as_get: Any = {**scope, "method": "GET", HEAD_REQUEST: True}
            return app(as_get, receive, _without_body(send))
        return app(scope, receive, send)

    return head_as_get  # type: ignore[return-value]


def _without_body(send: Send) -> Send:
    def send_head(message: Message) -> Awaitable[None]:
        if message["type"] == "http.response.body" and message.get("body"):
            message = {**message, "body": b""}  # type: ignore[typeddict-item]
        return send(message)

    return send_head  # type: ignore[return-value]

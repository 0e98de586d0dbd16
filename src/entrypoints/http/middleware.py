"""Visit tracking middleware: records a visit when the product page answers 200.

It learns the status by wrapping ``send``, adds ``X-Visit-Id`` to the response, and
swallows (logs and counts) every tracking error: tracking never fails the page.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol
from uuid import UUID

from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send

from entrypoints.http.client_ip import client_ip
from entrypoints.http.edge import HEAD_REQUEST
from entrypoints.settings import IPNetwork
from ports.services import Metrics

log = logging.getLogger(__name__)


class VisitTracker(Protocol):
    def track_visit(
        self, ip: str, user_agent: str, product_id: UUID
    ) -> str | Awaitable[str | None] | None:
        """The visit id, or None for a bot; the visit service answers at once (the
        benchmark's synchronous-INSERT baseline answers with something to await)."""


class VisitTrackingMiddleware(ASGIMiddleware):
    def __init__(
        self,
        visits: Callable[[], VisitTracker],
        metrics: Callable[[], Metrics],
        trusted_proxies: tuple[IPNetwork, ...],
        *,
        enabled: bool = True,
    ) -> None:
        # Providers, not instances: container overrides in tests still take effect.
        self._visits = visits
        self._metrics = metrics
        self._proxies = trusted_proxies
        self._enabled = enabled

    def __call__(self, app: ASGIApp) -> ASGIApp:
        """Wraps one route's app (Litestar builds the stack once per route handler).

        In place of the base class's per-request checks (scope type, opt key, path pattern,
        a bypass callback, then a keyword call of ``handle``, a coroutine of its own), one
        look at the route's opt, and no frame of ours: the wrapper hands back the app's
        coroutine. Only the product page's route carries ``track_visits`` (a HEAD answered
        as its GET is not a page view); with tracking switched off (a benchmark's setting)
        there is no middleware at all."""
        if not self._enabled:
            return app
        tracked_send = self._tracked_send

        def middleware(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
            if scope["route_handler"].opt.get("track_visits") and HEAD_REQUEST not in scope:
                send = tracked_send(scope, send)
            return app(scope, receive, send)

        return middleware  # type: ignore[return-value]

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """The base class's entry point (``__call__`` above does not go through it)."""
        await self(next_app)(scope, receive, send)

    def _tracked_send(self, scope: Scope, send: Send) -> Send:
        """``send`` for a tracked route: a 200's start records the visit and carries its id."""

        # A plain function, not a coroutine: it hands back what the server's send returns
        # for the app to await, so a page pays no frame of ours per message.
        def send_tracked(message: Message) -> Awaitable[None]:
            if message["type"] == "http.response.start" and message["status"] == 200:
                try:
                    visit_id = self._track(scope)
                except Exception as exc:
                    self._failed(exc)
                    visit_id = None
                if visit_id.__class__ is str:
                    _add_header(message, visit_id)
                elif visit_id is not None:
                    return self._send_when_tracked(visit_id, message, send)  # type: ignore[arg-type]
            return send(message)

        return send_tracked  # type: ignore[return-value]

    def _track(self, scope: Scope) -> str | Awaitable[str | None] | None:
        """Hands the client's address, User-Agent and product to the visit service; None when
        there is no client address to speak of (nothing is tracked then).

        ASGI servers give header names lower-cased (uvicorn does; Litestar's and Starlette's
        header lookups rely on it too), so names are compared as they are; a repeated field's
        values are joined by commas."""
        forwarded_for: bytes | None = None
        user_agent: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"user-agent":
                user_agent = value if user_agent is None else user_agent + b"," + value
            elif name == b"x-forwarded-for":
                forwarded_for = value if forwarded_for is None else forwarded_for + b"," + value
        client = scope.get("client")
        ip = client[0] if client else None
        if self._proxies and forwarded_for is not None:
            ip = client_ip(ip, forwarded_for.decode("latin-1"), self._proxies)
        if ip is None:
            return None
        # The route parses the id into a UUID; Litestar types path parameters as text.
        product_id: UUID = scope["path_params"]["product_id"]  # type: ignore[assignment]
        agent = "" if user_agent is None else user_agent.decode("latin-1")
        return self._visits().track_visit(ip, agent, product_id)

    async def _send_when_tracked(
        self, visit_id: Awaitable[str | None], message: HTTPResponseStartEvent, send: Send
    ) -> None:
        try:
            tracked = await visit_id
        except Exception as exc:
            self._failed(exc)
            tracked = None
        if tracked is not None:
            _add_header(message, tracked)
        await send(message)

    def _failed(self, exc: Exception) -> None:
        # Never log the exception text: it could quote the IP or User-Agent.
        self._metrics().increment("tracking_failures")
        log.error("visit tracking failed: %s", type(exc).__name__)


def _add_header(message: HTTPResponseStartEvent, visit_id: str) -> None:
    header = (b"x-visit-id", visit_id.encode())
    headers = message.get("headers")
    if headers.__class__ is list:  # Litestar makes a new list per response
        headers.append(header)  # type: ignore[union-attr]
    else:
        message["headers"] = [*(headers or ()), header]

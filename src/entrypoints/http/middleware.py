"""Visit tracking middleware: records a visit when the product page answers 200.

It learns the status by wrapping ``send``, adds ``X-Visit-Id`` to the response, and
swallows (logs and counts) every tracking error: tracking never fails the page.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol, cast
from uuid import UUID

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.http.client_ip import client_ip
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
    scopes = (ScopeType.HTTP,)

    def __init__(
        self,
        visits: Callable[[], VisitTracker],
        metrics: Callable[[], Metrics],
        trusted_proxies: tuple[IPNetwork, ...],
        *,
        enabled: bool = True,
    ) -> None:
        # Providers, not instances: container overrides in tests still take effect.
        self.should_bypass_for_scope = lambda scope: (
            not (enabled and scope["route_handler"].opt.get("track_visits"))
        )
        self._visits = visits
        self._metrics = metrics
        self._proxies = trusted_proxies

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        async def send_tracked(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                visit_id: str | Awaitable[str | None] | None = None
                try:  # no coroutine of its own for the page's share: it runs on every view
                    seen = self._sighting(scope)
                    if seen is not None:
                        visit_id = self._visits().track_visit(*seen)
                        if visit_id is not None and visit_id.__class__ is not str:
                            visit_id = await cast(Awaitable[str | None], visit_id)
                except Exception as exc:
                    # Never log the exception text: it could quote the IP or User-Agent.
                    self._metrics().increment("tracking_failures")
                    log.error("visit tracking failed: %s", type(exc).__name__)
                if visit_id.__class__ is str:
                    header = (b"x-visit-id", visit_id.encode())
                    headers = message.get("headers")
                    if headers.__class__ is list:  # Litestar makes a new list per response
                        headers.append(header)  # type: ignore[union-attr]
                    else:
                        message["headers"] = [*(headers or ()), header]
            await send(message)

        await next_app(scope, receive, send_tracked)

    def _sighting(self, scope: Scope) -> tuple[str, str, UUID] | None:
        """The client's address, User-Agent and the product, or None when there is no client
        address to speak of."""
        forwarded_for, user_agent = _headers(scope["headers"])
        client = scope.get("client")
        peer = client[0] if client else None
        ip = client_ip(peer, forwarded_for, self._proxies)
        if ip is None:
            return None
        product_id = cast(UUID, scope["path_params"]["product_id"])  # parsed by the route
        return ip, user_agent, product_id


def _headers(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str | None, str]:
    """X-Forwarded-For (None when absent) and User-Agent ("" when absent), repeated fields
    joined by commas. ASGI servers give header names lower-cased (uvicorn does; Litestar's
    and Starlette's header lookups rely on it too), so names are compared as they are."""
    forwarded_for: str | None = None
    user_agent: str | None = None
    for name, value in headers:
        if name == b"user-agent":
            text = value.decode("latin-1")
            user_agent = text if user_agent is None else f"{user_agent},{text}"
        elif name == b"x-forwarded-for":
            text = value.decode("latin-1")
            forwarded_for = text if forwarded_for is None else f"{forwarded_for},{text}"
    return forwarded_for, user_agent or ""

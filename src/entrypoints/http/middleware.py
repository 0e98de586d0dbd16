"""Visit tracking middleware: records a visit when the product page answers 200.

It learns the status by wrapping ``send``, adds ``X-Visit-Id`` to the response, and
swallows (logs and counts) every tracking error: tracking never fails the page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import cast
from uuid import UUID

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from application.visits import VisitService
from entrypoints.http.client_ip import client_ip
from entrypoints.settings import IPNetwork
from ports.services import Metrics

log = logging.getLogger(__name__)


class VisitTrackingMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(
        self,
        visits: Callable[[], VisitService],
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
                visit_id = await self._track(scope)
                if visit_id is not None:
                    message["headers"] = [
                        *message.get("headers", ()),
                        (b"x-visit-id", visit_id.encode()),
                    ]
            await send(message)

        await next_app(scope, receive, send_tracked)

    async def _track(self, scope: Scope) -> str | None:
        try:
            found = _headers(scope)
            client = scope.get("client")
            peer = client[0] if client else None
            ip = client_ip(peer, found.get("x-forwarded-for"), self._proxies)
            if ip is None:
                return None
            product_id = cast(UUID, scope["path_params"]["product_id"])  # parsed by the route
            return await self._visits().track_visit(ip, found.get("user-agent", ""), product_id)
        except Exception as exc:
            # Never log the exception text: it could quote the IP or User-Agent.
            self._metrics().increment("tracking_failures")
            log.error("visit tracking failed: %s", type(exc).__name__)
            return None


_WANTED = {b"x-forwarded-for": "x-forwarded-for", b"user-agent": "user-agent"}


def _headers(scope: Scope) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = _WANTED.get(name.lower())
        if key is not None:
            text = value.decode("latin-1")
            found[key] = f"{found[key]},{text}" if key in found else text
    return found

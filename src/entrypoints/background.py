"""Background duties of an API process: the outbox relay loop and, embedded, worker + schedule."""

from __future__ import annotations

import asyncio
import logging

from application.notifications import NotificationService

log = logging.getLogger(__name__)


class Background:
    """Relays the outbox every ``interval_s`` (and at once after an admin change)."""

    def __init__(self, notifications: NotificationService, interval_s: float = 5.0) -> None:
        self._notifications = notifications
        self._interval_s = interval_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="outbox-relay")

    def relay_soon(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval_s)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self._notifications.relay()
            except Exception:
                log.exception("outbox relay pass failed; retrying in %.0fs", self._interval_s)

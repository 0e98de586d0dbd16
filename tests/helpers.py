"""Test helpers: settings for a temporary data directory, user agents, a failing call."""

from __future__ import annotations

import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from entrypoints.settings import Settings, load

ADMIN_TOKEN = "test-admin-token"
BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 FootfallTestAgent/7.7"
)
BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def make_settings(data_dir: Path, **env: Any) -> Settings:
    values = {
        "FOOTFALL_DATA_DIR": str(data_dir),
        "FOOTFALL_ADMIN_TOKEN": ADMIN_TOKEN,
        "FOOTFALL_HASH_SECRET": "test-secret",
    }
    values.update({key: str(value) for key, value in env.items()})
    return load(values)


class FailOnCall:
    """Wraps an async callable: its ``number``-th call raises ``error``; counts the calls."""

    def __init__(self, call: Callable[..., Awaitable[Any]], number: int, error: Exception) -> None:
        self._call = call
        self._number = number
        self._error = error
        self.calls = 0

    async def __call__(self, *args: Any) -> Any:
        self.calls += 1
        if self.calls == self._number:
            raise self._error
        return await self._call(*args)


def process_running(pid: int) -> bool:
    """False once the process is gone or a zombie (whoever reaps orphans here may not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(check: Callable[[], object], seconds: float = 20.0, every: float = 0.1) -> bool:
    """Polls ``check`` until it is true (True) or ``seconds`` have passed (False)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return False

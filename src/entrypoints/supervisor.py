"""Runs a command as a child process and cleans up after it (what `footfall worker` needs
to remove its metrics directory once the Dramatiq CLI it starts has exited)."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable

_PASSED_ON = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def supervise(command: list[str], cleanup: Callable[[], None]) -> int:
    """Runs ``command`` as a child until it exits, then calls ``cleanup``.

    The child gets a session of its own, so a terminal's Ctrl-C reaches it once, through
    this process (twice, Dramatiq's workers would take the second as "kill now"); SIGTERM,
    SIGINT and SIGHUP (Dramatiq's reload) are passed on as they arrive, and one that arrives
    before the child exists as soon as it does. The handlers they replaced are put back.
    Returns the exit status as a shell reports it (128 + the signal that ended a child)."""
    child: subprocess.Popen[bytes] | None = None
    early: list[int] = []

    def pass_on(signum: int, _frame: object) -> None:
        if child is None:
            early.append(signum)
        elif child.poll() is None:
            child.send_signal(signum)

    replaced = {passed_on: signal.signal(passed_on, pass_on) for passed_on in _PASSED_ON}
    try:
        child = subprocess.Popen(command, start_new_session=True)  # noqa: S603
        for arrived in early:
            child.send_signal(arrived)
        status = child.wait()
    finally:
        for passed_on, handler in replaced.items():
            signal.signal(passed_on, handler)
        cleanup()
    return status if status >= 0 else 128 - status

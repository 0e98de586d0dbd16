"""Runs a command as a child process and cleans up after it (what `footfall worker` needs
to remove its metrics directory once the Dramatiq CLI it starts has exited)."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable

_PASSED_ON = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def signal_when_parent_dies(signum: int, parent: int) -> None:
    """Asks Linux to send this process ``signum`` when ``parent`` (its parent now) dies, even
    by SIGKILL; sends it at once if the parent is gone already. Elsewhere, nothing."""
    if _PRCTL is None:
        return
    _PRCTL(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
    if os.getppid() != parent:  # died before the request was made
        os.kill(os.getpid(), signum)


# Set by `footfall serve` for the server processes it starts (several: WEB_CONCURRENCY > 1).
SERVE_PID = "FOOTFALL_SERVE_PID"


def stop_with_serve() -> None:
    """In a server process that `footfall serve` started: SIGTERM when `footfall serve` dies,
    even by SIGKILL, so that none outlives it holding the port (uvicorn's parent cannot stop
    them then), and each writes its buffered visits as on any graceful stop. In `footfall
    serve` itself (one process), nothing: its own parent is a shell or a service manager."""
    serve = os.environ.get(SERVE_PID)
    if serve and serve != str(os.getpid()):
        signal_when_parent_dies(signal.SIGTERM, int(serve))


def _terminate_with_parent(parent: int) -> Callable[[], None] | None:
    """For the child, between fork and exec: SIGTERM when the supervisor dies, so the child
    is not left running without it (and without anyone to clean up after it). Where Linux's
    request is not available, nothing: the child outlives a killed supervisor."""
    if _PRCTL is None:
        return None
    return lambda: signal_when_parent_dies(signal.SIGTERM, parent)


def supervise(command: list[str], cleanup: Callable[[], None]) -> int:
    """Runs ``command`` as a child until it exits, then calls ``cleanup``.

    The child gets a session of its own, so a terminal's Ctrl-C reaches it once, through
    this process (twice, Dramatiq's workers would take the second as "kill now"); SIGTERM,
    SIGINT and SIGHUP (Dramatiq's reload) are passed on as they arrive, and one that arrives
    before the child exists as soon as it does. The handlers they replaced are put back. On
    Linux the child is sent SIGTERM if this process dies without passing anything on
    (SIGKILL, the OOM killer).
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
        child = subprocess.Popen(  # noqa: S603
            command, start_new_session=True, preexec_fn=_terminate_with_parent(os.getpid())
        )
        for arrived in early:
            child.send_signal(arrived)
        status = child.wait()
    finally:
        for passed_on, handler in replaced.items():
            signal.signal(passed_on, handler)
        cleanup()
    return status if status >= 0 else 128 - status

"""Stop signals in a `footfall worker` process: one stop per burst, and a kill that kills.

The Dramatiq CLI passes each SIGTERM (SIGHUP: reload) on to its worker processes, and a
worker process takes a second one as "kill now". Sent to the whole process group
(systemd's default KillMode=control-group, `kill -- -PGID`, `pkill -f`), every worker gets
the signal twice within milliseconds, once directly and once passed on, so it gave up
waiting for its jobs at once; and its kill (``sys.exit`` in the signal handler while
Dramatiq's threads run on) left the process hanging until a SIGKILL came.

Here a stop signal within ``same_stop_s`` of the first is the same stop; a later one
ends the process at once (its unfinished messages are redelivered: they were never acked).
And a worker process asks for SIGTERM when the Dramatiq CLI dies, even by SIGKILL, rather
than go on consuming with nobody to stop, reload or replace it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from dramatiq import Broker, Middleware

from entrypoints.supervisor import signal_when_parent_dies

log = logging.getLogger(__name__)

SAME_STOP_S = 2.0
KILLED = 1  # the Dramatiq CLI's exit status for a killed worker process
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)

Handler = Callable[[int, FrameType | None], Any]


class StopSignals(Middleware):
    def __init__(
        self,
        *,
        same_stop_s: float = SAME_STOP_S,
        clock: Callable[[], float] = time.monotonic,
        exit_now: Callable[[int], Any] = os._exit,
    ) -> None:
        self._same_stop_s = same_stop_s
        self._clock = clock
        self._exit_now = exit_now
        self._first: float | None = None

    def after_process_boot(self, broker: Broker) -> None:
        """In a worker process, after the Dramatiq CLI has set its handlers (main thread)."""
        for signum in _STOP_SIGNALS:
            dramatiqs = signal.getsignal(signum)
            if callable(dramatiqs):
                signal.signal(signum, self.handler(dramatiqs))
        cli = multiprocessing.parent_process()  # the Dramatiq CLI, which started this one
        if cli is None or cli.pid is None:
            return
        # Started by fork or spawn, the CLI is this process's parent (a parent that is not,
        # any more, means the CLI died already: the signal is sent at once). Started by a
        # fork server (Python 3.14's default), the parent is that server, which outlives
        # the CLI: there is nothing to ask Linux for then.
        if multiprocessing.get_start_method() != "forkserver":
            signal_when_parent_dies(signal.SIGTERM, cli.pid)

    def handler(self, dramatiqs: Handler) -> Handler:
        def on_stop_signal(signum: int, frame: FrameType | None) -> None:
            now = self._clock()
            if self._first is None:
                self._first = now
                dramatiqs(signum, frame)  # a graceful stop: jobs in progress finish
            elif now - self._first < self._same_stop_s:
                log.debug("signal %d again: the same stop", signum)
            else:
                log.warning("Killing worker process: its unfinished jobs will be redelivered")
                self._exit_now(KILLED)

        return on_stop_signal

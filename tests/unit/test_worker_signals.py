"""A worker process's stop signals: one stop per burst, and a later signal kills at once."""

from __future__ import annotations

import signal
from types import FrameType

from dramatiq.brokers.stub import StubBroker

from entrypoints.worker.signals import KILLED, StopSignals


class Recorder:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        self.calls.append(signum)


def test_a_burst_is_one_graceful_stop_and_a_later_signal_kills_at_once() -> None:
    now = [100.0]
    exits: list[int] = []
    dramatiqs = Recorder()
    handler = StopSignals(same_stop_s=2.0, clock=lambda: now[0], exit_now=exits.append).handler(
        dramatiqs
    )
    handler(signal.SIGTERM, None)  # from systemd
    now[0] += 0.01
    handler(signal.SIGTERM, None)  # passed on by the Dramatiq CLI
    assert dramatiqs.calls == [signal.SIGTERM] and exits == []
    now[0] += 5
    handler(signal.SIGTERM, None)  # someone means it
    assert dramatiqs.calls == [signal.SIGTERM] and exits == [KILLED]


def test_it_wraps_the_handlers_dramatiq_set_and_shares_one_stop_between_them() -> None:
    originals = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGHUP)}
    dramatiqs = Recorder()
    exits: list[int] = []
    try:
        for signum in originals:
            signal.signal(signum, dramatiqs)
        StopSignals(clock=lambda: 0.0, exit_now=exits.append).after_process_boot(StubBroker())
        term, hup = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)
        assert term is not dramatiqs and callable(term) and callable(hup)
        hup(signal.SIGHUP, None)  # a reload under way...
        term(signal.SIGTERM, None)  # ...is the stop a SIGTERM at the same moment asks for
        assert dramatiqs.calls == [signal.SIGHUP] and exits == []
    finally:
        for signum, handler in originals.items():
            signal.signal(signum, handler)

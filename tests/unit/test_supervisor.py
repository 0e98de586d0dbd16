"""supervise(): the child's exit status, the signals it is passed, the cleanup afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from entrypoints.supervisor import supervise
from tests.helpers import process_running, wait_for

# Writes a file once its SIGTERM handler is in place; exits 7 on SIGTERM, else after 10 s.
WAITS_FOR_SIGTERM = """
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(7))
open(sys.argv[1], "w").close()
time.sleep(10)
"""


def test_the_childs_status_is_returned_and_cleanup_runs() -> None:
    cleaned: list[bool] = []
    status = supervise([sys.executable, "-c", "raise SystemExit(3)"], lambda: cleaned.append(True))
    assert status == 3 and cleaned == [True]


def test_a_child_ended_by_a_signal_reports_128_plus_the_signal() -> None:
    kill_self = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    assert supervise([sys.executable, "-c", kill_self], lambda: None) == 128 + signal.SIGKILL


def test_sigterm_is_passed_on_and_the_handler_put_back(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    before = signal.getsignal(signal.SIGTERM)

    def terminate_when_ready() -> None:
        for _ in range(1_000):
            if ready.exists():
                os.kill(os.getpid(), signal.SIGTERM)  # to this process: supervise passes it on
                return
            threading.Event().wait(0.01)

    sender = threading.Thread(target=terminate_when_ready)
    sender.start()
    status = supervise([sys.executable, "-c", WAITS_FOR_SIGTERM, str(ready)], lambda: None)
    sender.join()
    assert status == 7
    assert signal.getsignal(signal.SIGTERM) is before


# A supervisor of a child that writes its pid and sleeps; the test kills the supervisor.
SUPERVISES_A_SLEEPER = """
import sys
from entrypoints.supervisor import supervise
sleeper = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)"
supervise([sys.executable, "-c", sleeper, sys.argv[1]], lambda: None)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_killed_supervisor_does_not_leave_its_child_running(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    supervisor = subprocess.Popen([sys.executable, "-c", SUPERVISES_A_SLEEPER, str(pid_file)])
    try:
        started = wait_for(lambda: pid_file.exists() and pid_file.read_text(), 10, every=0.01)
        assert started, "the child never started"
        child = int(pid_file.read_text())
        assert process_running(child)
        supervisor.kill()  # SIGKILL: nothing is passed on, no cleanup runs
        supervisor.wait()
        stopped = wait_for(lambda: not process_running(child), 10, every=0.01)
        assert stopped, "the child outlived its supervisor"
    finally:
        supervisor.kill()
        if (
            pid_file.exists()
            and pid_file.read_text()
            and process_running(int(pid_file.read_text()))
        ):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)

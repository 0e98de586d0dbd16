"""Metrics of commands that run several processes, and the servers that expose them.

`footfall serve` with WEB_CONCURRENCY > 1 and `footfall worker` run several processes, and
each would count in its own memory: a scrape of the API's /metrics would read whichever
process answered, and the worker's counts (e-mails sent, notifications failed, aggregation
runs) would be read by nobody. Such a command turns on prometheus_client's multiprocess
mode before any process it starts imports prometheus_client: every process then counts in
files under PROMETHEUS_MULTIPROC_DIR, and one collector reads them all (counters of a
process that has exited stay counted). The API's /metrics serves that sum; the worker and
the scheduler serve theirs on a port of their own (``--metrics-port``).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
from typing import NoReturn

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

from entrypoints.supervisor import signal_when_parent_dies

log = logging.getLogger(__name__)

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
WORKER_METRICS_PORT = 9191
SCHEDULER_METRICS_PORT = 9192


def start_multiprocess_mode() -> str | None:
    """Makes a new, empty directory PROMETHEUS_MULTIPROC_DIR for the processes this one is
    about to start, unless one is set already (then the caller did not make it, and None is
    returned); returns the directory it made, for ``end_multiprocess_mode``."""
    if os.environ.get(MULTIPROCESS_DIR):
        return None
    path = tempfile.mkdtemp(prefix="footfall-metrics-")
    os.environ[MULTIPROCESS_DIR] = path
    return path


def end_multiprocess_mode(made: str | None) -> None:
    if made is not None:
        shutil.rmtree(made, ignore_errors=True)


def collecting_registry(registry: CollectorRegistry) -> CollectorRegistry:
    """``registry`` itself, or in multiprocess mode one that sums every process's files."""
    if not os.environ.get(MULTIPROCESS_DIR):
        return registry
    summed = CollectorRegistry()
    MultiProcessCollector(summed)  # type: ignore[no-untyped-call]
    return summed


def exposition(registry: CollectorRegistry) -> bytes:
    """The text a scrape gets: this process's metrics, or every process's sum."""
    return generate_latest(collecting_registry(registry))


def serve_metrics(host: str, port: int, registry: CollectorRegistry) -> None:
    """Serves ``registry`` on /metrics on a thread of its own; a port that is taken is
    logged, not fatal (the process's work matters more than its metrics)."""
    if port <= 0:
        return
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        log.error("metrics not served on %s:%d: %s", host, port, exc.strerror or exc)
    else:
        log.info("metrics on http://%s:%d/metrics", host, port)


def serve_worker_metrics() -> NoReturn:
    """A Dramatiq fork function (`footfall worker` passes it to the Dramatiq CLI): serves the
    sum of the worker processes' metrics until the CLI stops it (SIGTERM, or SIGHUP when it
    reloads), and on Linux until the CLI dies, even by SIGKILL.

    The Dramatiq CLI waits for neither its fork processes' exit on a reload nor on its own, so
    this one must end on the signal, every time. A Python signal handler runs only when the
    main thread runs: waiting on a lock, the main thread never woke when the kernel handed
    the signal to the HTTP server's thread (it may pick any thread not blocking it), and the
    old process kept the port the reloaded CLI's new one needed ("address already in use").
    So the stop signals are blocked before the server's thread starts (it inherits the mask)
    and taken by ``sigwait`` in the main thread; there is nothing to finish."""
    signal_when_parent_dies(signal.SIGKILL, os.getppid())
    stops = {signal.SIGTERM, signal.SIGHUP}
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    host = os.environ.get("FOOTFALL_HOST") or "127.0.0.1"
    port = int(os.environ.get("FOOTFALL_METRICS_PORT") or WORKER_METRICS_PORT)
    serve_metrics(host, port, collecting_registry(CollectorRegistry()))
    signal.sigwait(stops)
    os._exit(0)

"""The `footfall` command: serve, worker, scheduler, aggregate, migrate."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time

from entrypoints.container import build_container
from entrypoints.logs import configure_logging
from entrypoints.metrics import (
    SCHEDULER_METRICS_PORT,
    WORKER_METRICS_PORT,
    end_multiprocess_mode,
    serve_metrics,
    start_multiprocess_mode,
)
from entrypoints.settings import Settings, SettingsError, load
from entrypoints.supervisor import SERVE_PID, supervise
from ports.repositories import SchemaBehind, StoreUnavailable

log = logging.getLogger("footfall")


def _settings() -> Settings:
    try:
        return load()
    except SettingsError as exc:
        sys.exit(f"footfall: {exc}")


def migrate(_: argparse.Namespace) -> None:
    settings = _settings()
    build_container(settings).migrate()
    print("database schema is up to date")


def serve(_: argparse.Namespace) -> None:
    import uvicorn

    settings = _settings()
    _warn_about_unsubscribe_links(settings)
    if settings.is_sqlite:
        build_container(settings).migrate()
    if settings.admin_token_generated:
        # Every server process must accept the same token.
        os.environ["FOOTFALL_ADMIN_TOKEN"] = settings.admin_token
        print(
            f"admin token (generated; set FOOTFALL_ADMIN_TOKEN to fix one): {settings.admin_token}"
        )
    print(f"Footfall API on {settings.public_url}  docs: {settings.public_url}/schema/swagger")
    if settings.embedded:
        print(
            "embedded mode: in-process broker, worker and schedule"
            + ("" if settings.sendgrid_api_key else "; e-mails are written to the log")
        )
        if settings.web_concurrency > 1:
            print(_cache_across_processes(settings))
    sys.stdout.flush()
    made = None
    if settings.web_concurrency > 1:
        # Several server processes: /metrics sums them all (see entrypoints.metrics), and
        # they stop if this process is killed (see entrypoints.supervisor). A SIGHUP makes
        # uvicorn replace them one by one, each stopping gracefully.
        made = start_multiprocess_mode()
        os.environ[SERVE_PID] = str(os.getpid())
    else:
        # One server process: a hang-up (a closing terminal) would end it at once, its
        # buffered visits and requests in flight with it. It is the graceful stop instead.
        signal.signal(signal.SIGHUP, _stop_gracefully)
    try:
        uvicorn.run(
            "entrypoints.http.asgi:app",
            host=settings.host,
            port=settings.port,
            workers=settings.web_concurrency,
            # Raw client IPs must not reach logs, and X-Forwarded-For is ours to judge.
            access_log=False,
            proxy_headers=False,
            server_header=False,
            log_config=None,
            timeout_graceful_shutdown=30,
        )
    finally:
        end_multiprocess_mode(made)


def _warn_about_unsubscribe_links(settings: Settings) -> None:
    warning = settings.unsubscribe_links_warning
    if warning is not None:
        log.warning(warning)


def _require_broker(settings: Settings, command: str, what_serve_does: str) -> None:
    if settings.embedded:
        sys.exit(
            f"footfall {command} needs FOOTFALL_BROKER_URL "
            f"(without one, `footfall serve` {what_serve_does})"
        )


def _stop_gracefully(_signum: int, _frame: object) -> None:
    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's handler takes it from here


def _cache_across_processes(settings: Settings) -> str:
    """What several API processes without a broker do about the product cache."""
    if settings.product_cache_ttl_s <= 0:
        return (
            f"product cache off: {settings.web_concurrency} processes and no broker to tell "
            "each other of admin changes (FOOTFALL_PRODUCT_CACHE_TTL_S turns it on)"
        )
    return (
        f"product cache on in {settings.web_concurrency} processes with no broker: an admin "
        "change reaches the other processes as their entries age, up to "
        f"{3 * settings.product_cache_ttl_s:g} s"
    )


def worker(args: argparse.Namespace) -> None:
    settings = _settings()
    _warn_about_unsubscribe_links(settings)
    _require_broker(settings, "worker", "runs it")
    command = [
        sys.executable,
        "-m",
        "dramatiq",
        "entrypoints.worker.app",
        "--processes",
        str(args.processes),
        "--threads",
        str(args.threads),
    ]
    metrics_port = _metrics_port(args, settings, WORKER_METRICS_PORT)
    made = None
    if metrics_port > 0:
        # Every worker process counts in the multiprocess directory; one more process
        # serves the sum.
        made = start_multiprocess_mode()
        os.environ["FOOTFALL_METRICS_PORT"] = str(metrics_port)
        command += ["--fork-function", "entrypoints.metrics:serve_worker_metrics"]
    # On SIGHUP the Dramatiq CLI reloads by running `python -m dramatiq` again, found on
    # PATH: without this, outside an activated venv, that is a Python without Footfall.
    path = os.environ.get("PATH", os.defpath)
    os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), path])
    if made is None:  # nothing of ours to remove afterwards: become the Dramatiq CLI
        os.execvp(sys.executable, command)  # noqa: S606
    sys.exit(supervise(command, cleanup=lambda: end_multiprocess_mode(made)))


def scheduler(args: argparse.Namespace) -> None:
    from entrypoints.scheduler import run_scheduler

    settings = _settings()
    # Without a broker it would hand the outbox to one that no worker reads.
    _require_broker(settings, "scheduler", "runs the schedule")
    container = build_container(settings)
    serve_metrics(
        settings.host, _metrics_port(args, settings, SCHEDULER_METRICS_PORT), container.registry()
    )
    asyncio.run(run_scheduler(container))


def aggregate(_: argparse.Namespace) -> None:
    async def run() -> None:
        container = build_container(_settings())
        started = time.perf_counter()
        report = await container.analytics_service().update_analytics()
        await container.engine().dispose()
        print(
            f"aggregated {report.visits_processed} visits in {time.perf_counter() - started:.3f}s"
            f" ({report.visits_deleted} expired visits deleted)"
        )

    asyncio.run(run())


def _metrics_port(args: argparse.Namespace, settings: Settings, default: int) -> int:
    """--metrics-port, else FOOTFALL_METRICS_PORT, else the command's own default."""
    if args.metrics_port is not None:
        return int(args.metrics_port)
    return default if settings.metrics_port is None else settings.metrics_port


def _positive(raw: str) -> int:
    """argparse's check of a count: a whole number of at least 1."""
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {raw!r}")
    return value


def _metrics_port_option(parser: argparse.ArgumentParser, whose: str, default: int) -> None:
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help=f"serve {whose} metrics here, on FOOTFALL_HOST (0: not at all; "
        f"default FOOTFALL_METRICS_PORT or {default})",
    )


def main(argv: list[str] | None = None) -> None:
    try:
        configure_logging()
    except SettingsError as exc:
        sys.exit(f"footfall: {exc}")
    parser = argparse.ArgumentParser(prog="footfall", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "serve", help="the HTTP API (embedded worker and schedule without a broker)"
    ).set_defaults(run=serve)
    worker_parser = commands.add_parser("worker", help="Dramatiq workers on FOOTFALL_BROKER_URL")
    worker_parser.add_argument("--processes", type=_positive, default=os.cpu_count() or 1)
    worker_parser.add_argument("--threads", type=_positive, default=4)
    _metrics_port_option(worker_parser, "the worker processes'", WORKER_METRICS_PORT)
    worker_parser.set_defaults(run=worker)
    scheduler_parser = commands.add_parser("scheduler", help="the periodic aggregation schedule")
    _metrics_port_option(scheduler_parser, "the scheduler's", SCHEDULER_METRICS_PORT)
    scheduler_parser.set_defaults(run=scheduler)
    commands.add_parser("aggregate", help="one aggregation run now, then exit").set_defaults(
        run=aggregate
    )
    commands.add_parser("migrate", help="bring the database schema up to date").set_defaults(
        run=migrate
    )
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except SchemaBehind as exc:  # what to run, in one line
        sys.exit(f"footfall {args.command}: {exc}")
    except StoreUnavailable as exc:  # an outage, not a bug: one line (what a cron log shows)
        sys.exit(f"footfall {args.command}: database unavailable ({exc})")


if __name__ == "__main__":
    main()

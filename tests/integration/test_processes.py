"""The `footfall` command as users run it: migrate, serve (and SIGTERM), aggregate."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from application.triggers import AGGREGATE_JOB
from entrypoints.container import build_container
from tests.conftest import REDIS_URL
from tests.helpers import (
    ADMIN,
    BROWSER_UA,
    free_port,
    make_settings,
    process_running,
    wait_for,
)

pytestmark = pytest.mark.integration
FOOTFALL = [sys.executable, "-c", "from entrypoints.cli import main; main()"]


def footfall_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOOTFALL_", "SENDGRID_"))}
    return {
        **env,
        "PYTHONPATH": src,
        "FOOTFALL_DATA_DIR": str(tmp_path),
        "FOOTFALL_ADMIN_TOKEN": ADMIN["Authorization"].split()[1],
        **extra,
    }


def footfall(*args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """The command as users start it, its output (stdout and stderr) in one pipe."""
    return subprocess.Popen(
        [*FOOTFALL, *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def request(
    url: str,
    method: str = "GET",
    body: dict[str, object] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(req, timeout=5) as response:
        return response.status, dict(response.headers), response.read()


def create_product(base: str) -> str:
    status, _, body = request(
        f"{base}/api/admin/products",
        "POST",
        {"sku": "L1", "name": "Lamp", "price": "5", "currency": "EUR"},
        ADMIN,
    )
    assert status == 201
    return str(json.loads(body)["id"])


def start_serve(tmp_path: Path, **extra: str) -> tuple[subprocess.Popen[str], str, dict[str, str]]:
    """`footfall serve` on a free port, once it answers: the process, its URL, its env."""
    port = free_port()
    env = footfall_env(tmp_path, FOOTFALL_PORT=str(port), **extra)
    server = footfall("serve", env=env, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    if not wait_for(lambda: answers(f"{base}/health/live")):
        server.kill()
        raise AssertionError(f"footfall serve did not answer: {server.communicate()[0]}")
    return server, base, env


def kill_what_is_left(pids: list[int]) -> None:
    for pid in pids:
        if process_running(pid):
            os.kill(pid, signal.SIGKILL)


def children_of(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_serve_keeps_every_visit_across_sigterm_and_aggregate_reports(tmp_path: Path) -> None:
    server, base, env = start_serve(tmp_path, FOOTFALL_VISIT_FLUSH_INTERVAL_S="30")
    try:
        product = create_product(base)
        visit_ids = set()
        for n in range(50):
            _, headers, _ = request(
                f"{base}/api/products/{product}",
                headers={"User-Agent": BROWSER_UA, "X-Forwarded-For": f"203.0.113.{n}"},
            )
            visit_ids.add(headers["x-visit-id"])
        # The flush interval is 30 s: these visits are all still in the buffer.
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
    # uvicorn finishes its graceful shutdown, then re-raises SIGTERM as its exit status.
    assert server.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert "admin token" not in output  # it was given, not generated
    assert f"{base}/schema/swagger" in output
    with sqlite3.connect(tmp_path / "footfall.db") as db:
        stored = {row[0] for row in db.execute("SELECT id FROM visits")}
    normalised = {v.replace("-", "") for v in visit_ids}
    assert {s.replace("-", "") if isinstance(s, str) else s.hex() for s in stored} == normalised

    aggregate = subprocess.run(
        [*FOOTFALL, "aggregate"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert aggregate.returncode == 0, aggregate.stderr
    assert "aggregated" in aggregate.stdout and " visits in " in aggregate.stdout


def test_migrate_is_idempotent_and_serve_prints_a_generated_token(tmp_path: Path) -> None:
    env = footfall_env(tmp_path)
    del env["FOOTFALL_ADMIN_TOKEN"]
    for _ in range(2):
        migrate = subprocess.run(
            [*FOOTFALL, "migrate"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert migrate.returncode == 0 and "up to date" in migrate.stdout, migrate.stderr
    port = free_port()
    server = footfall("serve", env={**env, "FOOTFALL_PORT": str(port)}, cwd=tmp_path)
    try:
        line = ""
        deadline = time.monotonic() + 30
        while "admin token" not in line and time.monotonic() < deadline:
            line = server.stdout.readline()  # type: ignore[union-attr]
        token = line.strip().rsplit(" ", 1)[-1]
        for _ in range(200):
            try:
                request(f"http://127.0.0.1:{port}/health/live")
                break
            except OSError:
                time.sleep(0.05)
        status, _, _ = request(
            f"http://127.0.0.1:{port}/api/admin/notifications",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert status == 200
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert (tmp_path / "footfall.secret").stat().st_mode & 0o077 == 0


def answers(url: str) -> bool:
    try:
        return request(url)[0] == 200
    except OSError:
        return False


def scrape(url: str, metric: str, **labels: str) -> float | None:
    """A sample's value as a scrape reads it (None: not there, or nothing answers yet)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    except (OSError, http.client.HTTPException):  # e.g. cut off by a reload
        return None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == metric and sample.labels == labels:
                return float(sample.value)
    return None


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    return output


def test_serve_with_two_processes_counts_every_view_in_metrics(tmp_path: Path) -> None:
    """Each uvicorn worker counts its own views; a scrape, answered by either, reads the sum."""
    server, base, _ = start_serve(tmp_path, WEB_CONCURRENCY="2")
    try:
        assert wait_for(lambda: scrape(f"{base}/metrics", "footfall_visits_written_total") == 0)
        product = create_product(base)
        views = 40
        for _ in range(views):  # a connection each: the two processes share them
            request(f"{base}/api/products/{product}", headers={"User-Agent": BROWSER_UA})
        written = f"{base}/metrics"
        assert wait_for(lambda: scrape(written, "footfall_visits_written_total") == views)
        # Each process publishes its request tallies every second.
        page = {"route": "/api/products/{product_id}", "method": "GET", "status": "200"}
        requests = "footfall_http_request_duration_seconds_count"
        assert wait_for(lambda: scrape(written, requests, **page) == views)
        for _ in range(10):
            assert scrape(written, "footfall_visits_tracked_total") == views
            assert scrape(written, requests, **page) == views
    finally:
        output = stop(server)
    assert "Application shutdown complete" in output
    assert not list(Path(tempfile.gettempdir()).glob(f"footfall-metrics-*/*_{server.pid}.db"))


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_hang_up_loses_no_visit(tmp_path: Path, processes: str) -> None:
    """SIGHUP (the terminal of `make run` closing, or a `kill -HUP` meant as a reload): one
    server process stops as gracefully as on SIGTERM; several are restarted one by one by
    uvicorn's parent. Either way every buffered visit is written."""
    server, base, _ = start_serve(
        tmp_path, WEB_CONCURRENCY=processes, FOOTFALL_VISIT_FLUSH_INTERVAL_S="30"
    )
    try:
        product = create_product(base)
        views = 20
        for _ in range(views):
            request(f"{base}/api/products/{product}", headers={"User-Agent": BROWSER_UA})
        server.send_signal(signal.SIGHUP)

        def stored() -> int:
            with sqlite3.connect(tmp_path / "footfall.db") as db:
                return int(db.execute("SELECT count(*) FROM visits").fetchone()[0])

        assert wait_for(lambda: stored() == views)
        if processes == "1":
            server.communicate(timeout=30)
            assert server.returncode in (0, -signal.SIGTERM)
    finally:
        stop(server)


def test_server_processes_stop_and_keep_their_visits_when_serve_is_killed(tmp_path: Path) -> None:
    """`footfall serve` killed outright (SIGKILL, the OOM killer) cannot stop the server
    processes it started: Linux sends each SIGTERM instead, so none is left holding the port,
    and each writes the visits it buffered as on any graceful stop."""
    (tmp_path / "tmp").mkdir()  # where the orphaned metrics directory is left
    server, base, _ = start_serve(
        tmp_path,
        WEB_CONCURRENCY="2",
        FOOTFALL_VISIT_FLUSH_INTERVAL_S="30",
        TMPDIR=str(tmp_path / "tmp"),
    )
    children: list[int] = []
    try:
        product = create_product(base)
        children = children_of(server.pid)
        views = 40  # a connection each: both processes buffer some
        for _ in range(views):
            request(f"{base}/api/products/{product}", headers={"User-Agent": BROWSER_UA})
        server.kill()
        server.communicate(timeout=30)
        assert wait_for(lambda: not any(map(process_running, children)))
    finally:
        server.kill()
        kill_what_is_left(children)
    assert not answers(f"{base}/health/live")
    with sqlite3.connect(tmp_path / "footfall.db") as db:
        assert db.execute("SELECT count(*) FROM visits").fetchone()[0] == views


def test_two_embedded_processes_both_serve_an_admin_change_at_once(tmp_path: Path) -> None:
    """Without a broker the API processes cannot tell each other of a change: a process that
    had the product cached must not serve it changed or deleted elsewhere."""
    server, base, _ = start_serve(tmp_path, WEB_CONCURRENCY="2")
    try:
        product_id = create_product(base)
        product = f"{base}/api/products/{product_id}"
        admin = f"{base}/api/admin/products/{product_id}"
        views = 40  # a connection each: both processes read (and could cache) the product
        for _ in range(views):
            request(product)
        request(admin, "PATCH", {"name": "Lamp 2"}, ADMIN)
        names = {json.loads(request(product)[2])["name"] for _ in range(views)}
        assert names == {"Lamp 2"}
        request(admin, "DELETE", headers=ADMIN)
        statuses = set()
        for _ in range(views):
            try:
                statuses.add(request(product)[0])
            except urllib.error.HTTPError as exc:
                statuses.add(exc.code)
        assert statuses == {404}
    finally:
        stop(server)


def worker_env(tmp_path: Path, database: str, namespace: str, tmp: Path) -> dict[str, str]:
    """The environment of a worker on the test's database and Redis namespace; ``tmp`` is
    where it makes its metrics directory."""
    return footfall_env(
        tmp_path,
        FOOTFALL_DATABASE_URL=database,
        FOOTFALL_BROKER_URL=REDIS_URL,
        FOOTFALL_REDIS_PREFIX=namespace,
        FOOTFALL_HASH_SECRET="test-secret",
        TMPDIR=str(tmp),
    )


def start_worker(
    tmp_path: Path, env: dict[str, str], *, processes: int, metrics_port: int
) -> subprocess.Popen[str]:
    return footfall(
        "worker",
        "--processes",
        str(processes),
        "--threads",
        "1",
        "--metrics-port",
        str(metrics_port),
        env=env,
        cwd=tmp_path,
    )


def start_ready_worker(
    tmp_path: Path, database: str, namespace: str, *, processes: int
) -> tuple[subprocess.Popen[str], str]:
    """`footfall worker` once its metrics answer (its processes are up), and their URL."""
    port = free_port()
    env = worker_env(tmp_path, database, namespace, tmp_path)
    worker = start_worker(tmp_path, env, processes=processes, metrics_port=port)
    metrics = f"http://127.0.0.1:{port}/metrics"
    if not wait_for(lambda: scrape(metrics, "footfall_emails_sent_total") == 0):
        worker.kill()
        raise AssertionError(f"footfall worker did not come up: {worker.communicate()[0]}")
    return worker, metrics


def test_worker_and_scheduler_serve_their_metrics(
    tmp_path: Path, postgres_database: str, redis_namespace: str
) -> None:
    """The worker processes' counts (here an aggregation run) are served on the worker's
    metrics port, summed over its processes; the scheduler serves its own. A SIGHUP reloads
    the worker processes; after a SIGTERM the worker exits 0 and leaves no metrics
    directory behind."""
    worker_port, scheduler_port = free_port(), free_port()
    worker_tmp = tmp_path / "tmp"  # where the worker makes its metrics directory
    worker_tmp.mkdir()
    env = worker_env(tmp_path, postgres_database, redis_namespace, worker_tmp)
    worker = start_worker(tmp_path, env, processes=2, metrics_port=worker_port)
    scheduler = footfall("scheduler", "--metrics-port", str(scheduler_port), env=env, cwd=tmp_path)
    runs = "footfall_aggregation_seconds_count"
    try:
        worker_metrics = f"http://127.0.0.1:{worker_port}/metrics"
        assert wait_for(lambda: scrape(worker_metrics, "footfall_emails_sent_total") == 0)
        settings = make_settings(
            tmp_path,
            FOOTFALL_DATABASE_URL=postgres_database,
            FOOTFALL_BROKER_URL=REDIS_URL,
            FOOTFALL_REDIS_PREFIX=redis_namespace,
        )
        queue = build_container(settings).job_queue()
        try:
            assert asyncio.run(queue.enqueue_coalesced(AGGREGATE_JOB))
            assert wait_for(lambda: (scrape(worker_metrics, runs) or 0) >= 1)
            # Dramatiq's reload: the metrics process stops with the old workers, and a new
            # one starts once the new workers are up (and answers with every count so far).
            worker.send_signal(signal.SIGHUP)
            emails = "footfall_emails_sent_total"
            assert wait_for(lambda: scrape(worker_metrics, emails) is None)
            assert wait_for(lambda: scrape(worker_metrics, emails) == 0)
            assert asyncio.run(queue.enqueue_coalesced(AGGREGATE_JOB))
            assert wait_for(lambda: (scrape(worker_metrics, runs) or 0) >= 2)
        finally:
            queue.close()
        scheduler_metrics = f"http://127.0.0.1:{scheduler_port}/metrics"
        assert wait_for(
            lambda: scrape(scheduler_metrics, "footfall_outbox_relay_failures_total") == 0
        )
    finally:
        try:
            worker_output = stop(worker)
        finally:  # a worker that does not stop must not leave the scheduler running
            scheduler_output = stop(scheduler)
    assert "metrics on http://127.0.0.1" in worker_output + scheduler_output
    assert worker.returncode == 0, worker_output
    assert [path.name for path in worker_tmp.iterdir()] == []


def test_a_killed_worker_leaves_no_worker_processes_running(
    tmp_path: Path, postgres_database: str, redis_namespace: str
) -> None:
    """`footfall worker` killed outright (SIGKILL: nothing passed on), after a SIGHUP reload
    re-ran the Dramatiq CLI: the CLI and its worker and metrics processes stop."""
    worker, metrics = start_ready_worker(tmp_path, postgres_database, redis_namespace, processes=1)
    emails = "footfall_emails_sent_total"
    cli: list[int] = []
    try:
        cli = children_of(worker.pid)
        assert len(cli) == 1
        worker.send_signal(signal.SIGHUP)
        assert wait_for(lambda: scrape(metrics, emails) is None)
        assert wait_for(lambda: scrape(metrics, emails) == 0)
        worker.kill()
        worker.wait(timeout=30)
        assert wait_for(lambda: not process_running(cli[0]))
        assert wait_for(lambda: scrape(metrics, emails) is None)
    finally:
        worker.kill()
        for pid in cli:
            if process_running(pid):
                os.killpg(pid, signal.SIGKILL)  # its own session: the CLI leads the group
        worker.communicate(timeout=30)  # the pipe closes once every process holding it ends


def test_a_stop_sent_to_the_whole_process_group_stops_the_worker_gracefully(
    tmp_path: Path, postgres_database: str, redis_namespace: str
) -> None:
    """systemd (KillMode=control-group), `kill -- -PGID` or `pkill -f` signal every process
    at once: each worker process gets the SIGTERM twice (directly, and passed on by the
    Dramatiq CLI) and must take it as one graceful stop, not as "kill now"."""
    worker, _ = start_ready_worker(tmp_path, postgres_database, redis_namespace, processes=2)
    cli: list[int] = []
    try:
        cli = children_of(worker.pid)
        os.killpg(cli[0], signal.SIGTERM)  # its own session: the CLI leads the group
        assert wait_for(lambda: not process_running(cli[0]))
        worker.wait(timeout=10)
    finally:
        worker.kill()
        for pid in cli:
            if process_running(pid):
                os.killpg(pid, signal.SIGKILL)
        output = worker.communicate(timeout=30)[0]
    assert "Killing worker process" not in output, output
    assert worker.returncode == 0, output


def test_worker_processes_stop_when_the_dramatiq_cli_is_killed(
    tmp_path: Path, postgres_database: str, redis_namespace: str
) -> None:
    """The Dramatiq CLI killed outright (SIGKILL: nothing passed on) cannot stop its worker
    processes: Linux sends each SIGTERM instead, so none goes on consuming unsupervised."""
    worker, _ = start_ready_worker(tmp_path, postgres_database, redis_namespace, processes=2)
    processes: list[int] = []
    try:
        [cli] = children_of(worker.pid)
        processes = children_of(cli)
        assert len(processes) == 3  # two worker processes and the metrics process
        os.kill(cli, signal.SIGKILL)
        assert wait_for(lambda: not any(map(process_running, processes)))
    finally:
        worker.kill()
        kill_what_is_left(processes)
        worker.communicate(timeout=30)


def test_aggregating_an_unmigrated_embedded_database_says_to_migrate(tmp_path: Path) -> None:
    env = footfall_env(tmp_path, FOOTFALL_HASH_SECRET="s")
    done = subprocess.run(
        [*FOOTFALL, "aggregate"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr == (
        "footfall aggregate: database schema at nothing, this version needs 0001: "
        "run `footfall migrate`\n"
    )


def test_the_scheduler_needs_a_broker(tmp_path: Path) -> None:
    """Without one it would relay the outbox to a broker no worker reads: the embedded
    default's schedule runs inside `footfall serve`."""
    env = footfall_env(tmp_path, FOOTFALL_HASH_SECRET="s")
    done = subprocess.run(
        [*FOOTFALL, "scheduler"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "needs FOOTFALL_BROKER_URL" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("command", ["aggregate", "migrate"])
def test_a_one_shot_command_reports_an_unreachable_database_in_one_line(
    tmp_path: Path, command: str
) -> None:
    """What a cron job's log shows when PostgreSQL is down: the reason, not a traceback."""
    closed = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/footfall"
    env = footfall_env(tmp_path, FOOTFALL_DATABASE_URL=closed, FOOTFALL_HASH_SECRET="s")
    done = subprocess.run(
        [*FOOTFALL, command], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(f"footfall {command}: database unavailable (Connection")

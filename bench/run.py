"""`make bench`: Footfall's performance targets, measured side by side in one run.

Needs PostgreSQL and Redis on loopback (the same as the integration tests) and wrk (installed
from Debian's packages when missing). Every load targets 127.0.0.1 and is bounded in time.
Prints a table and writes the same figures as JSON under bench/results/.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import gc
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]

from adapters.sqlalchemy.migrate import upgrade  # noqa: E402
from adapters.sqlalchemy.visits import COPY_COLUMNS  # noqa: E402
from domain.ids import VisitIds  # noqa: E402
from domain.visit import Sighting, UserAgentInfo  # noqa: E402
from entrypoints.container import build_container  # noqa: E402
from entrypoints.settings import load  # noqa: E402

PG = os.environ.get("FOOTFALL_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("FOOTFALL_BENCH_REDIS", "redis://127.0.0.1:6379/0")
# Every server of a run keys its Redis data under this run's prefix; the run deletes them.
REDIS_PREFIX = f"footfall-bench-{uuid.uuid4().hex[:8]}"
DURATION_S = int(os.environ.get("FOOTFALL_BENCH_SECONDS", "10"))
# The HTTP designs run in interleaved rounds and each figure is the median of its rounds:
# a slow moment of the shared machine then hits every design instead of one. Five, not
# three: one day's rounds of tracked/untracked ranged from 0.74 to 0.95 on this machine,
# and a median of three moved by 0.05 from run to run.
ROUNDS = int(os.environ.get("FOOTFALL_BENCH_ROUNDS", "5"))
REPEATS = 3  # aggregation figures: the median of three runs
# Tracked against untracked once more with the product cache off on both (a SELECT per
# request, the baseline of the issue that set the 0.90 target): informational, no target.
UNCACHED_ROUNDS = int(os.environ.get("FOOTFALL_BENCH_UNCACHED_ROUNDS", "3"))
CONNECTIONS = 64
PRODUCTS = 1000
BIN = Path(sys.executable).parent
RESULTS: dict[str, Any] = {}


def say(text: str) -> None:
    print(text, flush=True)


# --- databases -------------------------------------------------------------------------------


def db_url(name: str, driver: str = "postgresql") -> str:
    return PG.rsplit("/", 1)[0].replace("postgresql://", f"{driver}://", 1) + f"/{name}"


async def create_database() -> str:
    name = f"footfall_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    await asyncio.to_thread(upgrade, db_url(name, "postgresql+asyncpg"))
    return name


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(PG)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def seed_products(name: str) -> list[str]:
    db = await asyncpg.connect(db_url(name))
    await db.execute(
        """INSERT INTO products (id, sku, name, description, price, currency, created_at, updated_at)
           SELECT gen_random_uuid(), 'SKU-' || g, 'Product ' || g, repeat('words ', 20), '19.99',
                  'EUR', now(), now()
           FROM generate_series(1, $1) g""",
        PRODUCTS,
    )
    ids = [str(r[0]) for r in await db.fetch("SELECT id FROM products")]
    await db.close()
    return ids


async def insert_visits(name: str, count: int, days_back: float, newest: datetime) -> None:
    """Server-side generation: ``count`` visits over ``days_back`` days up to ``newest``,
    written in time order as ingestion writes them, 1,000 products, visitors from a pool
    of 300,000, a third reporting a duration."""
    db = await asyncpg.connect(db_url(name))
    await db.execute(
        """INSERT INTO visits (id, product_id, visitor_hash, occurred_at, browser, os, device,
                               duration_ms)
           SELECT gen_random_uuid(),
                  ('00000000-0000-0000-0000-' || lpad((g % 1000)::text, 12, '0'))::uuid,
                  sha256((((g::bigint * 7919) % 300000) || ':' || $4)::bytea),
                  $3::timestamptz - ($1 - g) * ($2::float8 * 86400.0 / $1) * interval '1 second',
                  'Chrome', 'Linux', 'desktop',
                  CASE WHEN g % 3 = 0 THEN (g % 60000) + 1 END
           FROM generate_series(1, $1) g""",
        count,
        days_back,
        newest,
        uuid.uuid4().hex,
    )
    await db.execute("ANALYZE visits")
    await db.execute("CHECKPOINT")
    await db.close()


async def settle(name: str) -> None:
    db = await asyncpg.connect(db_url(name))
    await db.execute("ANALYZE visits")
    await db.execute("CHECKPOINT")
    await db.close()


async def vacuum(name: str) -> None:
    db = await asyncpg.connect(db_url(name))
    await db.execute("VACUUM ANALYZE")
    await db.execute("CHECKPOINT")
    await db.close()


# --- HTTP ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start")


def server_env(name: str, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOOTFALL_", "SENDGRID_"))}
    return {
        **env,
        "FOOTFALL_DATABASE_URL": db_url(name, "postgresql+asyncpg"),
        "FOOTFALL_BROKER_URL": REDIS,
        "FOOTFALL_REDIS_PREFIX": f"{REDIS_PREFIX}-{uuid.uuid4().hex[:8]}",
        "FOOTFALL_ADMIN_TOKEN": "bench",
        "FOOTFALL_HASH_SECRET": "bench",
        "FOOTFALL_PORT": str(port),
        "FOOTFALL_LOG_LEVEL": "WARNING",
        "WEB_CONCURRENCY": "2",
        **extra,
    }


def start_footfall(name: str, **extra: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "footfall"), "serve"],
        env=server_env(name, port, **extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until_up(port)
    return process, port


def start_hello() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen(
        [
            str(BIN / "uvicorn"),
            "bench.hello:app",
            "--port",
            str(port),
            "--workers",
            "2",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until_up(port)
    return process, port


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        process.kill()


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(port: int, ids_file: Path, seconds: int) -> dict[str, float]:
    output = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{CONNECTIONS}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(ROOT / "bench/product.lua"),
            f"http://127.0.0.1:{port}",
        ],
        env={**os.environ, "FOOTFALL_BENCH_IDS": str(ids_file)},
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", output, re.M))
    parsed = {}
    for pct, text in latency.items():
        number, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
        parsed[pct] = _ms(number, unit)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        "p50_ms": parsed.get("50", float("nan")),
        "p99_ms": parsed.get("99", float("nan")),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
    }


def _cpu_s(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds each process has used so far (gone ones are left out)."""
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return used


def _cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two readings by the processes alive at the second."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def _process_tree(pid: int) -> list[int]:
    found = [pid]
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        found += _process_tree(int(child))
    return found


def _postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip().startswith("postgres"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@dataclass(frozen=True)
class Burst:
    figures: dict[str, float]  # wrk's
    requests: float
    elapsed: float
    server_s: float  # CPU seconds
    postgres_s: float
    wrk_s: float


def _burst(process: subprocess.Popen[bytes], port: int, ids_file: Path, seconds: int) -> Burst:
    """One wrk run against a server that is up, with the CPU time each side used: the
    server's processes, PostgreSQL's and wrk's (children's user + system)."""
    server = _process_tree(process.pid)
    before = (_cpu_s(server), _cpu_s(_postgres_pids()), os.times())
    started = time.monotonic()
    figures = wrk(port, ids_file, seconds)
    elapsed = time.monotonic() - started
    after = (_cpu_s(server), _cpu_s(_postgres_pids()), os.times())
    return Burst(
        figures,
        requests=figures["rps"] * elapsed,
        elapsed=elapsed,
        server_s=_cpu_delta(before[0], after[0]),
        postgres_s=_cpu_delta(before[1], after[1]),
        wrk_s=sum(after[2][2:4]) - sum(before[2][2:4]),
    )


def _figures(bursts: list[Burst]) -> dict[str, float]:
    """A design's figures over its bursts: req/s and CPU per request from the totals, p50
    the bursts' mean, p99 the worst burst's."""
    requests = sum(b.requests for b in bursts)
    figures = {
        "rps": requests / sum(b.elapsed for b in bursts),
        "p50_ms": statistics.fmean(b.figures["p50_ms"] for b in bursts),
        "p99_ms": max(b.figures["p99_ms"] for b in bursts),
        "non_2xx": sum(b.figures["non_2xx"] for b in bursts),
        "server_cpu_us": sum(b.server_s for b in bursts) / requests * 1e6,
        "postgres_cpu_us": sum(b.postgres_s for b in bursts) / requests * 1e6,
        "wrk_cpu_us": sum(b.wrk_s for b in bursts) / requests * 1e6,
    }
    figures["cpu_us"] = (
        figures["server_cpu_us"] + figures["postgres_cpu_us"] + figures["wrk_cpu_us"]
    )
    return figures


# Warm-up by work, not by time: every API process must have cached every product before
# the measured bursts. Measured on a slow machine (session 7), after a 3 s warm-up the first
# burst still carried cold product-cache misses: server-side p99 62 ms (max 305) against
# 12.8 (max 24) in the next burst; a 10 s warm-up removed them. 20 requests per product
# leave each of the two workers missing a given product with odds of about e^-10.
WARM_UP_REQUESTS = 20 * PRODUCTS
WARM_UP_MAX_S = 20


def warm_up(port: int, ids_file: Path) -> None:
    """Loads the server until it has answered WARM_UP_REQUESTS (3 s at least, 20 s at most):
    caches, connection pools and the product cache of every worker."""
    served = 0.0
    started = time.monotonic()
    while served < WARM_UP_REQUESTS and time.monotonic() - started < WARM_UP_MAX_S:
        served += wrk(port, ids_file, 3)["rps"] * 3


def measure(start: Any, ids_file: Path) -> dict[str, float]:
    """One wrk run after a warm-up. On a shared machine req/s moves with whatever else
    runs; CPU per request moves much less, and on a CPU-bound 2-core box it is what the
    throughput of a design comes down to."""
    process, port = start()
    try:
        warm_up(port, ids_file)
        return _figures([_burst(process, port, ids_file, DURATION_S)])
    finally:
        stop(process)


def measure_pair(start_a: Any, start_b: Any, ids_file: Path) -> tuple[dict[str, float], ...]:
    """Two designs compared in turns: both servers up, warmed, then loaded in half-length
    bursts in the order A B B A, a pause between bursts (the tracked server's last flush
    lands in its own burst). A drift of the machine's pace within the round then weighs on
    both alike: run one after the other, tracked / untracked of one code ranged 0.80-1.00
    from round to round of one run."""
    servers = [start_a(), start_b()]
    try:
        for _, port in servers:
            warm_up(port, ids_file)
        bursts: list[list[Burst]] = [[], []]
        for index in (0, 1, 1, 0):
            time.sleep(0.3)
            process, port = servers[index]
            bursts[index].append(_burst(process, port, ids_file, max(1, DURATION_S // 2)))
        return _figures(bursts[0]), _figures(bursts[1])
    finally:
        for process, _ in servers:
            stop(process)


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {figure: statistics.median(run[figure] for run in runs) for figure in runs[0]}


async def sigterm_under_load(name: str, ids: list[str]) -> dict[str, int]:
    """Visits served (X-Visit-Id received) versus persisted, across a SIGTERM under load."""
    db = await asyncpg.connect(db_url(name))
    before = {str(r[0]) for r in await db.fetch("SELECT id FROM visits")}
    await db.close()
    process, port = start_footfall(name)
    served: set[str] = set()
    stop_at = time.monotonic() + 15

    async def client(n: int) -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return
        i = n
        while time.monotonic() < stop_at:
            i += 1
            request = (
                f"GET /api/products/{ids[i % len(ids)]} HTTP/1.1\r\nHost: bench\r\n"
                "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/124.0 FootfallBench\r\n\r\n"
            )
            try:
                writer.write(request.encode())
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))  # type: ignore[union-attr]
                await reader.readexactly(length)
            except (
                OSError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
                AttributeError,
            ):
                return
            if match := re.search(rb"x-visit-id: ([0-9a-f-]+)", head, re.I):
                served.add(match.group(1).decode())
        writer.close()

    clients = [asyncio.create_task(client(n)) for n in range(32)]
    await asyncio.sleep(3)
    process.send_signal(signal.SIGTERM)  # mid-load: in-flight requests finish, buffer flushes
    await asyncio.gather(*clients)
    await asyncio.to_thread(process.wait, 60)
    db = await asyncpg.connect(db_url(name))
    persisted = {str(r[0]) for r in await db.fetch("SELECT id FROM visits")} - before
    await db.close()
    return {
        "served": len(served),
        "persisted": len(persisted),
        "served_and_persisted": len(served & persisted),
    }


# --- ingestion and aggregation ---------------------------------------------------------------


def bench_sightings(count: int) -> list[Sighting]:
    """Page views as the product page hands them over: 65,536 client addresses."""
    ids, product = VisitIds(), uuid.uuid4()
    agent = UserAgentInfo(is_bot=False, browser="Chrome", os="Linux", device="desktop")
    now = time.time_ns() // 1_000
    return [
        Sighting(ids(), product, f"10.{n % 7}.{n // 256 % 256}.{n % 256}", agent, now)
        for n in range(count)
    ]


async def ingestion(count: int = 200_000) -> dict[str, Any]:
    """Each side writes into a fresh database of its own, so none pays for another's index
    growth. Three runs, each figure their median (one run's writer / raw COPY ranged 0.48
    to 0.73 on one machine in a day)."""
    runs = []
    for _ in range(REPEATS):
        names = [await create_database() for _ in range(3)]
        try:
            runs.append(await _ingestion(*names, count=count))
        finally:
            for name in names:
                await drop_database(name)
    return {**medians(runs), "runs": runs}


async def _ingestion(name: str, write_name: str, raw_name: str, count: int) -> dict[str, float]:
    sightings = bench_sightings(count)
    chunk = 20_000  # the write alone: the writer's COPY, a transaction per chunk

    # The writer as the service runs it: page views handed to the buffer as fast as a
    # producer can, the buffer's own task sealing (keyed hash) and writing them (COPY,
    # pipelined), until the graceful stop has written the last one. The bound is the count,
    # so the figure is the writer's pace, not its drop policy.
    container = bench_container(name, FOOTFALL_VISIT_BUFFER_MAX=str(count))
    buffer = container.visit_buffer()
    await before_side()
    started = time.perf_counter()
    buffer.start()
    for start in range(0, count, 1_000):
        for sighting in sightings[start : start + 1_000]:
            buffer.add(sighting)
        await asyncio.sleep(0)  # as requests take turns with the buffer's task
    await buffer.close()
    writer_s = time.perf_counter() - started
    assert container.metrics().registry.get_sample_value("footfall_visits_dropped_total") == 0
    visits = list((await container.visit_sealer().seal(sightings)).values())
    await container.visit_writer().close()
    await container.engine().dispose()

    # The write alone: the same visits, sealed beforehand, through the service's writer.
    container = bench_container(write_name)
    writer = container.visit_writer()
    await before_side()
    started = time.perf_counter()
    for start in range(0, count, chunk):
        await writer.write(visits[start : start + chunk])
    write_s = time.perf_counter() - started
    await writer.close()
    await container.engine().dispose()

    # Raw COPY: the same rows as plain tuples, on a stock asyncpg connection.
    db = await asyncpg.connect(db_url(raw_name))
    seq = await db.fetchval("SELECT pg_current_xact_id()::text::bigint")
    rows = [(*v[:3], v.occurred_at, *v[4:], seq) for v in visits]
    await before_side()
    started = time.perf_counter()
    await db.copy_records_to_table("visits", records=rows, columns=COPY_COLUMNS)
    raw_s = time.perf_counter() - started
    await db.close()
    return {
        "writer_rows_per_s": count / writer_s,
        "write_only_rows_per_s": count / write_s,
        "copy_rows_per_s": count / raw_s,
    }


async def before_side() -> None:
    """Before each side: a CHECKPOINT, so that no side pays for the writes of the one before
    it (the sides run in turn, raw COPY last; without it raw COPY measured 214k-273k rows/s
    in full runs, 300k-385k alone). And what the bench holds (its input: hundreds of
    thousands of rows) leaves the cyclic collector's reach, as the service's processes
    freeze what they built at start-up (entrypoints.http.app): otherwise the writer, which
    makes objects, pays for full collections that walk the bench's rows (1.7 µs a visit
    here), and raw COPY, which makes none, does not."""
    admin = await asyncpg.connect(PG)
    await admin.execute("CHECKPOINT")
    await admin.close()
    gc.collect()
    gc.freeze()


@functools.cache
def data_dir() -> str:
    """Where the bench's containers keep their day salts (no broker: a file), removed when
    the bench exits."""
    path = tempfile.mkdtemp(prefix="footfall-bench-")
    atexit.register(shutil.rmtree, path, True)
    return path


def bench_container(name: str, **env: str) -> Any:
    """Footfall's own composition over the bench database (no broker, no server)."""
    return build_container(
        load(
            {
                "FOOTFALL_DATABASE_URL": db_url(name, "postgresql+asyncpg"),
                "FOOTFALL_HASH_SECRET": "bench",
                "FOOTFALL_DATA_DIR": data_dir(),
                **env,
            }
        )
    )


async def aggregate(name: str, container: Any = None) -> tuple[int, float]:
    """One update_analytics run; in a given container, as a long-lived worker runs them."""
    own = container is None
    container = bench_container(name) if own else container
    started = time.perf_counter()
    report = await container.analytics_service().update_analytics()
    elapsed = time.perf_counter() - started
    if own:
        await container.engine().dispose()
    return report.visits_processed, elapsed


async def incremental_cost() -> dict[str, float]:
    """Each history in a database of its own, aggregated once before the measured runs,
    which alternate between the two histories (1M first, then 10M first, ...) as the HTTP
    rounds do: measured one history after the other, a slower stretch of the shared machine
    fell on one of them (10M took 0.60 s alone and 0.70-0.73 s at the end of full runs).

    (Extending the 1M database to 10M, as earlier runs did, put 9M late visits into days
    already counted, each window recounting them: a bulk import of old days that the service
    does not have, 90 s here, and a history in no time order.)"""
    now = datetime.now(UTC)
    targets = (1_000_000, 10_000_000)
    names: dict[int, str] = {}
    workers: dict[int, Any] = {}
    runs: dict[int, list[float]] = {target: [] for target in targets}
    try:
        for target in targets:
            say(f"  history: {target:,} visits ...")
            name = names[target] = await create_database()
            # 89 days up to yesterday, written in time order a million at a time, as
            # ingestion writes them: each million covers its own stretch of days.
            chunks = target // 1_000_000
            span = 89 / chunks
            for k in range(chunks):
                newest = now - timedelta(days=1 + span * (chunks - 1 - k))
                await insert_visits(name, 1_000_000, span, newest)
            await aggregate(name)  # the history is aggregated before the measured runs
            await vacuum(name)  # and long since vacuumed, as in a steady state
            # The measured runs share one worker's services, whose first run (as after a
            # deploy) does the hourly housekeeping: retention, forgetting closed days' keys.
            workers[target] = bench_container(name)
            await aggregate(name, workers[target])
        for repeat in range(REPEATS):
            for target in targets if repeat % 2 == 0 else targets[::-1]:
                await insert_visits(names[target], 100_000, 1, now)
                processed, seconds = await aggregate(names[target], workers[target])
                assert processed == 100_000, processed
                runs[target].append(seconds)
    finally:
        for worker in workers.values():
            await worker.engine().dispose()
        for name in names.values():
            await drop_database(name)
    figures: dict[str, float] = {}
    for target in targets:
        key = f"new_100k_with_{target // 1_000_000}M_history_s"
        figures[key] = statistics.median(runs[target])
        figures[key + "_runs"] = runs[target]
    return figures


async def full_rebuild() -> dict[str, Any]:
    """Each run folds its own copy of the same 2M visits (CREATE DATABASE ... TEMPLATE)."""
    name = await create_database()
    runs = []
    try:
        await insert_visits(name, 2_000_000, 30, datetime.now(UTC))
        for _ in range(REPEATS):
            copy = f"{name}_run"
            admin = await asyncpg.connect(PG)
            await admin.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{name}"')
            await admin.close()
            try:
                await settle(copy)  # as insert_visits left the original
                processed, seconds = await aggregate(copy)
            finally:
                await drop_database(copy)
            assert processed == 2_000_000, processed
            runs.append(seconds)
        return {"rebuild_2M_s": statistics.median(runs), "rebuild_2M_s_runs": runs}
    finally:
        await drop_database(name)


# --- report ----------------------------------------------------------------------------------


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    say("wrk is missing: installing it from Debian's packages")
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False)
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)


def row(label: str, value: str, target: str = "", ok: bool | str | None = None) -> str:
    mark = ok if isinstance(ok, str) else "" if ok is None else ("yes" if ok else "NO")
    return f"| {label} | {value} | {target} | {mark} |"


async def main() -> None:
    ensure_wrk()
    name = await create_database()
    ids_file = ROOT / "bench/results/.product-ids"
    ids_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        ids = await seed_products(name)
        ids_file.write_text("\n".join(ids) + "\n")
        say(
            f"HTTP, wrk -t2 -c{CONNECTIONS} -d{DURATION_S}s, {PRODUCTS} products, "
            f"{ROUNDS} interleaved rounds ..."
        )
        designs = {
            "tracked": lambda: start_footfall(name),
            "untracked": lambda: start_footfall(name, FOOTFALL_BENCH_TRACKING="off"),
            "synchronous_insert": lambda: start_footfall(
                name, FOOTFALL_BENCH_VISIT_SINK="sync", FOOTFALL_PRODUCT_CACHE_TTL_S="0"
            ),
            "hello_world": start_hello,
        }
        rounds: dict[str, list[dict[str, float]]] = {key: [] for key in designs}
        for number in range(ROUNDS):
            # tracked and untracked in turns within the round (their ratio is the target
            # with the least margin), the two baselines after them
            paired = measure_pair(designs["tracked"], designs["untracked"], ids_file)
            results = dict(zip(("tracked", "untracked"), paired, strict=True))
            for key in ("synchronous_insert", "hello_world"):
                results[key] = measure(designs[key], ids_file)
            for key, figures in results.items():
                rounds[key].append(figures)
                say(
                    f"  round {number + 1} {key}: {figures['rps']:,.0f} req/s, "
                    f"p99 {figures['p99_ms']:.1f} ms, CPU {figures['cpu_us']:.0f} µs/request "
                    f"(server {figures['server_cpu_us']:.0f}, PostgreSQL "
                    f"{figures['postgres_cpu_us']:.0f}, wrk {figures['wrk_cpu_us']:.0f})"
                )
        RESULTS["http_rounds"] = rounds
        RESULTS["http"] = {key: medians(runs) for key, runs in rounds.items()}
        say("tracked and untracked with the product cache off on both ...")
        uncached: dict[str, list[dict[str, float]]] = {"tracked": [], "untracked": []}
        for number in range(UNCACHED_ROUNDS):
            paired = measure_pair(
                lambda: start_footfall(name, FOOTFALL_PRODUCT_CACHE_TTL_S="0"),
                lambda: start_footfall(
                    name, FOOTFALL_BENCH_TRACKING="off", FOOTFALL_PRODUCT_CACHE_TTL_S="0"
                ),
                ids_file,
            )
            for key, figures in zip(("tracked", "untracked"), paired, strict=True):
                uncached[key].append(figures)
                say(
                    f"  round {number + 1} {key}, uncached: {figures['rps']:,.0f} req/s, "
                    f"CPU {figures['cpu_us']:.0f} µs/request"
                )
        RESULTS["http_uncached_rounds"] = uncached
        say("graceful restart under load ...")
        RESULTS["sigterm"] = await sigterm_under_load(name, ids)
        say("ingestion ...")
        RESULTS["ingestion"] = await ingestion()
    finally:
        await drop_database(name)
        ids_file.unlink(missing_ok=True)
        await forget_redis_keys()
    say("aggregation: 100k new visits over 1M and 10M of history ...")
    RESULTS["aggregation"] = await incremental_cost()
    say("aggregation: full rebuild of 2M visits ...")
    RESULTS["aggregation"].update(await full_rebuild())
    report()


async def forget_redis_keys() -> None:
    """The servers' queues, salts and heartbeats, by this run's prefix only: the Redis may be
    shared, so never a FLUSHDB."""
    client = redis.asyncio.Redis.from_url(REDIS)
    try:
        async for key in client.scan_iter(match=f"{REDIS_PREFIX}-*", count=1000):
            await client.delete(key)
    finally:
        await client.aclose()


def tracked_ratios(rounds: dict[str, list[dict[str, float]]]) -> list[float]:
    """Tracked / untracked req/s, round by round (the two ran in turns within each round)."""
    return [
        t["rps"] / u["rps"] for t, u in zip(rounds["tracked"], rounds["untracked"], strict=True)
    ]


def median_interval(values: list[float], coverage: float = 0.90) -> tuple[float, float, float]:
    """Where the median of the rounds' population lies, from the rounds alone: the narrowest
    pair of order statistics x(k), x(n+1-k) that holds it with at least ``coverage``
    (distribution-free: each round falls below the median with odds 1/2). Five rounds give
    their min-max (94%), fifteen the 4th and 12th (96%). Returns (low, high, coverage)."""
    ordered = sorted(values)
    n = len(ordered)

    def holds(k: int) -> float:  # P(x(k+1) <= median <= x(n-k)), k rounds outside each side
        return 1 - 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n

    k = 0
    while k + 1 < n - k - 1 and holds(k + 1) >= coverage:
        k += 1
    return ordered[k], ordered[n - 1 - k], holds(k)


def report() -> None:
    http, sig = RESULTS["http"], RESULTS["sigterm"]
    ing, agg = RESULTS["ingestion"], RESULTS["aggregation"]
    tracked = http["tracked"]
    rounds = RESULTS["http_rounds"]
    per_round = tracked_ratios(rounds)
    # Tracked and untracked are measured in turns within each round: their ratio is taken
    # round by round, then the median (a ratio of medians would pair different rounds).
    overhead = statistics.median(per_round)
    low, high, held = median_interval(per_round)
    # The same comparison by CPU per request (all processes): how many tracked requests the
    # machine's CPU buys for every untracked one.
    by_cpu = statistics.median(
        u["cpu_us"] / t["cpu_us"]
        for t, u in zip(rounds["tracked"], rounds["untracked"], strict=True)
    )
    uncached_per_round = tracked_ratios(RESULTS["http_uncached_rounds"])
    vs_sync = tracked["rps"] / http["synchronous_insert"]["rps"]
    vs_hello = tracked["rps"] / http["hello_world"]["rps"]
    # each run's sides one after the other: their ratio per run, then the median
    ingest = statistics.median(r["writer_rows_per_s"] / r["copy_rows_per_s"] for r in ing["runs"])
    write_only = statistics.median(
        r["write_only_rows_per_s"] / r["copy_rows_per_s"] for r in ing["runs"]
    )
    incremental = agg["new_100k_with_10M_history_s"] / agg["new_100k_with_1M_history_s"]
    RESULTS["ratios"] = {
        "tracked_vs_untracked": overhead,
        "tracked_vs_untracked_per_round": per_round,
        "tracked_vs_untracked_interval": [low, high, held],
        "tracked_vs_untracked_by_cpu": by_cpu,
        "tracked_vs_untracked_uncached": statistics.median(uncached_per_round),
        "tracked_vs_untracked_uncached_per_round": uncached_per_round,
        "tracked_vs_synchronous_insert": vs_sync,
        "tracked_vs_hello_world": vs_hello,
        "writer_vs_raw_copy": ingest,
        "write_only_vs_raw_copy": write_only,
        "incremental_10M_vs_1M": incremental,
    }
    RESULTS["machine"] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    lines = [
        "",
        f"| design (GET product, 64 connections; median of {len(per_round)} rounds) "
        "| req/s | p50 ms | p99 ms |",
        "| --- | --- | --- | --- |",
    ]
    for label, key in (
        ("Footfall, tracked (buffered visits, product cache)", "tracked"),
        ("same server, tracking off", "untracked"),
        ("seed's design: SELECT + one INSERT per request", "synchronous_insert"),
        ("Litestar hello-world, same server settings", "hello_world"),
    ):
        figures = http[key]
        lines.append(
            f"| {label} | {figures['rps']:,.0f} | {figures['p50_ms']:.1f} | {figures['p99_ms']:.1f} |"
        )
    lines += ["", "| measure | result | target | met |", "| --- | --- | --- | --- |"]
    lines += [
        row(
            "tracked / untracked (median of the rounds' ratios)",
            f"{overhead:.3f}",  # three places: 0.898 must not print as a failing 0.90
            ">= 0.90",
            overhead >= 0.90,
        ),
        row("tracked / untracked, round by round", " / ".join(f"{r:.2f}" for r in per_round)),
        row(
            "tracked / untracked: where the median lies, from these rounds (order statistics)",
            f"{low:.2f}-{high:.2f} ({held:.0%})",
            "all of it >= 0.90",
            True if low >= 0.90 else (False if high < 0.90 else "the noise decides"),
        ),
        row(
            "CPU per request, untracked / tracked (server + PostgreSQL + wrk; medians "
            "of the rounds)",
            f"{http['untracked']['cpu_us']:.0f} / {tracked['cpu_us']:.0f} µs; "
            f"by round {by_cpu:.2f}",
        ),
        row(
            "tracked / untracked with the product cache off on both (a SELECT per request; "
            f"median of {len(uncached_per_round)} rounds' ratios, by round)",
            f"{statistics.median(uncached_per_round):.2f} ("
            + " / ".join(f"{r:.2f}" for r in uncached_per_round)
            + ")",
        ),
        row(
            "tracked p99 at 64 connections",
            f"{tracked['p99_ms']:.1f} ms",
            "<= 25 ms",
            tracked["p99_ms"] <= 25,
        ),
        row(
            "tracked p99, round by round",
            " / ".join(f"{run['p99_ms']:.1f}" for run in rounds["tracked"]) + " ms",
        ),
        row("tracked / seed's synchronous design", f"{vs_sync:.2f}", ">= 2.5", vs_sync >= 2.5),
        row("tracked / hello-world ceiling", f"{vs_hello:.2f}", ">= 0.45", vs_hello >= 0.45),
        row(
            "visits served vs persisted across SIGTERM",
            f"{sig['served']:,} / {sig['served_and_persisted']:,} (rows {sig['persisted']:,})",
            "equal",
            sig["served"] == sig["served_and_persisted"] == sig["persisted"],
        ),
        row(
            "visit writer (seal + COPY) / raw COPY (median of 3 runs' ratios; rows/s)",
            f"{ingest:.2f} ({ing['writer_rows_per_s']:,.0f} / {ing['copy_rows_per_s']:,.0f})",
            ">= 0.5",
            ingest >= 0.5,
        ),
        row(
            "visit writer, run by run",
            " / ".join(f"{r['writer_rows_per_s'] / r['copy_rows_per_s']:.2f}" for r in ing["runs"]),
        ),
        row(
            "of which the write alone / raw COPY",
            f"{write_only:.2f} ({ing['write_only_rows_per_s']:,.0f} / "
            f"{ing['copy_rows_per_s']:,.0f})",
        ),
        row("update_analytics, 100k new, 1M history", f"{agg['new_100k_with_1M_history_s']:.2f} s"),
        row(
            "update_analytics, 100k new, 10M history", f"{agg['new_100k_with_10M_history_s']:.2f} s"
        ),
        row("incremental cost 10M / 1M", f"{incremental:.2f}", "<= 1.2", incremental <= 1.2),
        row(
            "full rebuild of 2M visits",
            f"{agg['rebuild_2M_s']:.2f} s",
            "<= 4 s",
            agg["rebuild_2M_s"] <= 4,
        ),
    ]
    text = "\n".join(lines)
    say(text)
    out = ROOT / "bench/results" / f"{datetime.now(UTC).strftime('%Y-%m-%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(RESULTS, indent=2) + "\n")
    (ROOT / "bench/results/latest.md").write_text(text.strip() + "\n")
    say(f"\nwritten to {out.relative_to(ROOT)} and bench/results/latest.md")


if __name__ == "__main__":
    asyncio.run(main())

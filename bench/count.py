"""`make bench-count`: what tracking costs a product page, counted in instructions.

Seconds on a shared two-core machine move by +-10% from round to round (see `make bench`);
instructions do not, so this is the tool for telling whether a change to the tracking path
made it cheaper. The tracked and the untracked server (`footfall serve`, one uvicorn worker,
each on a database of its own) run side by side under ``valgrind --tool=callgrind``:

1. every product requested once, in order, then 2,000 at random: every product is in the
   cache before counting starts. (With the random requests alone, ~13% of the 1,000
   products were still unread, and ~130 first reads of ~1.2M instructions each fell in the
   counted window: +50k a request on both sides and a spread of +-6k from run to run.)
2. counters zeroed (``callgrind_control -z``), 3,000 requests over 8 keep-alive connections
   with the benchmark's User-Agent, a wait for the last flush (every 5 s here, so a flush
   holds a few hundred visits as in the benchmark), counters dumped.

The product cache's TTL is set long enough that no re-read falls in the window. Runs of the
same code differ by a few thousand instructions a request: flushes fall in the window with
other batch sizes, and the timers' per-second work weighs more when valgrind runs slower (a
tracked request: 437.6k with the two servers here, 442.8k-447.3k with four at once). Both
servers start from this checkout;
``PYTHONPATH=<another checkout>/src`` runs that code instead, and a ``sitecustomize`` on
PYTHONPATH can swap one part at a time (e.g. a tracker answering a constant id).
About three minutes; valgrind is installed from Debian's packages when missing.
"""

from __future__ import annotations

import asyncio
import random
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from bench import run as bench  # noqa: E402

WARM_RANDOM = 2_000
COUNTED = 3_000
CONNECTIONS = 8
FLUSH_INTERVAL_S = 5
AGENT = (  # bench/product.lua's, which wrk sends
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 FootfallBench/1.00"
)
OUT = Path("/tmp")
SERVE = [str(bench.BIN / "footfall"), "serve"]


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, product_id: str) -> None:
    writer.write(
        f"GET /api/products/{product_id} HTTP/1.1\r\nHost: bench\r\n"
        f"User-Agent: {AGENT}\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"unexpected answer: {head[:40]!r}")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    await reader.readexactly(length)


async def _connection(port: int, product_ids: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for product_id in product_ids:
            await _get(reader, writer, product_id)
    finally:
        writer.close()


async def _load(port: int, product_ids: list[str], count: int) -> None:
    per_connection = count // CONNECTIONS
    await asyncio.gather(
        *(
            _connection(port, random.choices(product_ids, k=per_connection))
            for _ in range(CONNECTIONS)
        )
    )


def _instructions(dump: Path) -> int:
    text = subprocess.run(
        ["callgrind_annotate", str(dump)], capture_output=True, text=True, check=True
    ).stdout
    found = re.search(r"([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", text) or re.search(
        r"([\d,]+)\s+PROGRAM TOTALS", text
    )
    if found is None:
        raise RuntimeError(f"no totals in {dump}")
    return int(found.group(1).replace(",", ""))


async def _databases(count: int) -> list[tuple[str, list[str]]]:
    """One database per server, made one after the other (migrations are not thread-safe)."""
    made = []
    for _ in range(count):
        name = await bench.create_database()
        made.append((name, await bench.seed_products(name)))
    return made


def count(label: str, database: tuple[str, list[str]], **extra: str) -> float:
    """Instructions a request of one server variant, counted over COUNTED requests."""
    name, product_ids = database
    port = bench.free_port()
    out = OUT / f"footfall-count-{name}.callgrind"
    env = bench.server_env(
        name,
        port,
        WEB_CONCURRENCY="1",
        FOOTFALL_PRODUCT_CACHE_TTL_S="1000000",
        FOOTFALL_VISIT_FLUSH_INTERVAL_S=str(FLUSH_INTERVAL_S),
        **extra,
    )
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *SERVE],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        bench.wait_until_up(port, 600)
        asyncio.run(_connection(port, product_ids))  # every product cached before counting
        asyncio.run(_load(port, product_ids, WARM_RANDOM))
        time.sleep(FLUSH_INTERVAL_S + 1)
        subprocess.run(
            ["callgrind_control", "-z", str(server.pid)], check=True, capture_output=True
        )
        asyncio.run(_load(port, product_ids, COUNTED))
        time.sleep(FLUSH_INTERVAL_S + 1)  # the counted visits' flush
        subprocess.run(
            ["callgrind_control", "-d", str(server.pid)], check=True, capture_output=True
        )
        time.sleep(2)
    finally:
        server.terminate()
        server.wait(120)
    dumps = sorted(OUT.glob(f"{out.name}.*"))  # the -d dump; the final one is at exit
    per_request = _instructions(dumps[0]) / COUNTED
    for path in [out, *dumps]:
        path.unlink(missing_ok=True)
    bench.say(f"  {label}: {per_request:,.0f} instructions a request")
    return per_request


def ensure_valgrind() -> None:
    if shutil.which("valgrind"):
        return
    bench.say("valgrind is missing: installing it from Debian's packages")
    subprocess.run(["apt-get", "install", "-y", "-qq", "valgrind"], check=False)
    if not shutil.which("valgrind"):
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "valgrind"], check=True)


def main() -> None:
    ensure_valgrind()
    bench.say(f"callgrind, one worker each, {COUNTED:,} requests after a warm-up ...")
    databases = asyncio.run(_databases(2))
    try:
        with ThreadPoolExecutor(2) as side_by_side:
            untracked_run = side_by_side.submit(
                count, "untracked", databases[0], FOOTFALL_BENCH_TRACKING="off"
            )
            tracked_run = side_by_side.submit(count, "tracked", databases[1])
            untracked, tracked = untracked_run.result(), tracked_run.result()
    finally:
        for name, _ in databases:
            asyncio.run(bench.drop_database(name))
        asyncio.run(bench.forget_redis_keys())
    share = tracked / untracked - 1
    bench.say(
        f"tracking: +{tracked - untracked:,.0f} instructions a request (+{share:.1%}); "
        f"untracked / tracked {untracked / tracked:.3f}"
    )


if __name__ == "__main__":
    started = time.monotonic()
    main()
    bench.say(f"({time.monotonic() - started:.0f} s)")

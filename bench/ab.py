"""`make bench-ab`: one design, two versions of the code, loaded in turns on one machine.

A `make bench` run measures the machine as much as the code: the same code read 0.821 and
0.944 for tracked / untracked on one machine within an hour. To tell whether a change moved
the product page's cost, run both versions side by side instead: each round starts both
servers (the bench's settings: `footfall serve`, 2 uvicorn workers, PostgreSQL and Redis on
loopback, 1,000 products, `wrk -t2 -c64`), warms them up and loads them in turns (A B B A;
the next round B A A B), then prints B / A for req/s and for CPU per request, round by
round and their medians. Identical code (HEAD against itself, session 11's machine) read
0.93-1.04 by round and 1.005 as the median of six: a difference smaller than a few per cent
needs more rounds.

    make bench-ab A=b015c24 B=HEAD ROUNDS=6          # two commits
    make bench-ab A=HEAD                             # HEAD against the working tree
    make bench-ab A=HEAD ENV="FOOTFALL_BENCH_TRACKING=off"

A revision's `src/` is taken with `git archive` into a temporary directory; the working
tree is `.`. Both run on this checkout's virtual environment (code changes only).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import run as bench


def source_of(revision: str, scratch: Path) -> str:
    """The ``src`` directory of a revision, or of the working tree for ``.``."""
    if revision == ".":
        return str(bench.ROOT / "src")
    target = scratch / revision.replace("/", "_")
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(bench.ROOT), "archive", revision, "src"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return str(target / "src")


async def compare(a: str, b: str, rounds: int, env: dict[str, str]) -> None:
    name = await bench.create_database()
    with tempfile.TemporaryDirectory(prefix="footfall-ab-") as scratch:
        ids_file = Path(scratch) / "product-ids"
        try:
            ids_file.write_text("\n".join(await bench.seed_products(name)) + "\n")
            sources = {side: source_of(rev, Path(scratch)) for side, rev in (("A", a), ("B", b))}

            def start(side: str) -> object:
                return lambda: bench.start_footfall(name, PYTHONPATH=sources[side], **env)

            rps: list[float] = []
            cpu: list[float] = []
            for number in range(rounds):
                order = ("A", "B") if number % 2 == 0 else ("B", "A")
                first, second = bench.measure_pair(start(order[0]), start(order[1]), ids_file)
                figures = dict(zip(order, (first, second), strict=True))
                rps.append(figures["B"]["rps"] / figures["A"]["rps"])
                cpu.append(figures["A"]["cpu_us"] / figures["B"]["cpu_us"])
                bench.say(
                    f"  round {number + 1}: "
                    + " | ".join(
                        f"{side} {figures[side]['rps']:,.0f} req/s, "
                        f"{figures[side]['cpu_us']:.0f} µs/request"
                        for side in ("A", "B")
                    )
                    + f" | B/A {rps[-1]:.3f}"
                )
            bench.say(
                f"B / A: req/s {statistics.median(rps):.3f}, CPU per request (A/B) "
                f"{statistics.median(cpu):.3f} (medians of {rounds} rounds; A = {a}, B = {b})"
            )
        finally:
            await bench.drop_database(name)
            await bench.forget_redis_keys()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", default="HEAD", help="revision A (default HEAD)")
    parser.add_argument("--b", default=".", help="revision B (default: the working tree)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("env", nargs="*", help="NAME=value for both servers")
    args = parser.parse_args()
    bench.ensure_wrk()
    env = dict(item.split("=", 1) for item in args.env)
    bench.say(f"A/B, {args.rounds} rounds: A = {args.a}, B = {args.b} {env or ''}")
    asyncio.run(compare(args.a, args.b, args.rounds, env))


if __name__ == "__main__":
    main()

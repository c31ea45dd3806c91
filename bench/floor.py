"""The floor under an arrival: what one Redis round trip costs from this Python process,
beside what a whole bare FastAPI request costs, on the same machine, in one run.

    .venv/bin/python bench/floor.py [--redis-url redis://127.0.0.1:6379/0] [--n 5000]

An arrival needs two round trips (`enqueue`, `claim`); if one round trip through redis-py's
asyncio client already costs more than a bare request, arrivals cannot reach 50 % of the bare
endpoint's rate on this machine however lean the rest is (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from redis.asyncio import Redis


async def per_call_us(fn: Callable[[], Awaitable[Any]], n: int) -> float:
    """Median over 5 batches of the mean time per call, in µs."""
    batches = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(n // 5):
            await fn()
        batches.append((time.perf_counter() - started) / (n // 5) * 1e6)
    return statistics.median(batches)


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.get("/bench/bare")
    async def bare() -> dict[str, bool]:
        return {"ok": True}

    return app


async def asgi_get(app: FastAPI) -> None:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": "/bench/bare", "raw_path": b"/bench/bare",
             "query_string": b"", "root_path": "", "headers": [(b"host", b"bench")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    await app(scope, receive, send)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--n", type=int, default=5000)
    args = parser.parse_args()

    app = bare_app()
    redis = Redis.from_url(args.redis_url, decode_responses=True)
    script = redis.register_script("return 1")
    keys = [f"sb:{{t:floor}}:k{i}" for i in range(16)]  # an arrival's script gets 16 keys
    argv = ['{"queue":"q"}', 1_795_364_734_001, 1_000_000, "guarded"]
    try:
        await script(keys=keys, args=argv)
        rows = [
            ("bare FastAPI request, in process (no HTTP parsing)", await per_call_us(
                lambda: asgi_get(app), args.n)),
            ("redis-py asyncio PING round trip", await per_call_us(redis.ping, args.n)),
            ("redis-py asyncio EVALSHA `return 1` with 16 keys", await per_call_us(
                lambda: script(keys=keys, args=argv), args.n)),
        ]
    finally:
        await redis.aclose()
    print("| what | µs per call (median of 5 batches) |\n|---|---|")
    for label, us in rows:
        print(f"| {label} | {us:.0f} |")


if __name__ == "__main__":
    asyncio.run(main())

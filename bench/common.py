"""What the benchmarks share: free loopback ports, their own redis-server, percentiles, and the
app in process on its own redis-server and a temporary SQLite."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

HOST = "127.0.0.1"
# The local PostgreSQL the benches make their own databases on (trust auth).
PG_URL = f"postgresql+asyncpg://postgres@{HOST}:5432"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def wait_listening(port: int, proc: subprocess.Popen[bytes], seconds: float = 10) -> None:
    """Until something listens on the loopback port (the process must not exit first)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on port {port} within {seconds} s")


def start_redis(port: int, log: Callable[[str], None]) -> subprocess.Popen[bytes]:
    """A redis-server of our own: loopback, no persistence."""
    proc = subprocess.Popen(
        ["redis-server", "--bind", HOST, "--port", str(port), "--save", "", "--appendonly",
         "no", "--protected-mode", "yes", "--loglevel", "warning"], stdout=subprocess.DEVNULL)
    log(f"started redis-server pid={proc.pid} port={port}")
    wait_listening(port, proc)
    return proc


def stop(proc: subprocess.Popen[bytes], log: Callable[[str], None]) -> None:
    """SIGTERM, then SIGKILL if it does not exit within 10 s."""
    if proc.poll() is None:
        log(f"stopping pid={proc.pid}")
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


@contextlib.asynccontextmanager
async def app_in_process(admin_token: str, log: Callable[[str], None] = print,
                         **settings: Any) -> AsyncIterator[Any]:
    """An httpx client on the app (lifespan run, background loops off) over a redis-server of
    its own and SQLite in a temporary directory; everything stopped afterwards."""
    import httpx

    from app.main import create_app
    from app.settings import Settings

    port = free_port()
    redis = start_redis(port, log)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            app = create_app(Settings(**{
                "redis_url": f"redis://{HOST}:{port}/0",
                "database_url": f"sqlite+aiosqlite:///{tmp}/sb.db", "admin_token": admin_token,
                "background_tasks": False, "log_level": "WARNING", **settings}))
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://sb",
                                             timeout=60) as http:
                    yield http
    finally:
        stop(redis, log)


async def pg_admin(sql: str) -> None:
    """One statement on the local PostgreSQL's `postgres` database, outside a transaction
    (CREATE / DROP DATABASE)."""
    from sqlalchemy import pool, text
    from sqlalchemy.ext.asyncio import create_async_engine

    admin = create_async_engine(f"{PG_URL}/postgres", isolation_level="AUTOCOMMIT",
                                poolclass=pool.NullPool)
    try:
        async with admin.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await admin.dispose()

"""Webhook delivery and history under load: deliveries per second, event → delivery latency,
and how far the SQL history lags behind the event stream.

    .venv/bin/python bench/webhooks.py [--calls 2000] [--rate 100] [--agents 20]

Starts its own redis-server and a receiver process (bench/receiver.py, uvicorn, answers 204 and
logs when each delivery arrived), both on loopback free ports and stopped by PID at the end,
then runs the service in process with its background loops (timers, history, webhook fan-out
and sender) on SQLite in a temporary directory (`--database-url` for PostgreSQL). One wall-clock
tenant, one queue (`auto_accept`, no wrap-up), `--agents` agents, one subscription to every
event. Calls arrive at `--rate` per second (scheduled, not paced by replies) and complete at
once, 7 events each. While they run and until everything is delivered:

- deliveries/s = deliveries ÷ (last arrival at the receiver − first event);
- latency = arrival at the receiver − the event's time (its stream id), p50/p99;
- history lag = age of the oldest event the history group has not acknowledged, sampled
  every 100 ms, p50/p99/max; and how long after the last call the history held every call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `app` importable when run as a script

import httpx  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from app.agents import service as agents  # noqa: E402
from app.agents.schemas import AgentConfig, AgentStateChange  # noqa: E402
from app.calls import service as calls  # noqa: E402
from app.calls.schemas import CallCreate, Complete  # noqa: E402
from app.history.models import CallHistory  # noqa: E402
from app.main import create_app  # noqa: E402
from app.queues import service as queues  # noqa: E402
from app.queues.schemas import QueueConfig  # noqa: E402
from app.runtime import Runtime  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.store import keys  # noqa: E402
from app.tenants import service as tenants  # noqa: E402
from app.tenants.schemas import TenantCreate  # noqa: E402
from app.webhooks import service as webhooks  # noqa: E402
from app.webhooks.outbox import WebhookDelivery  # noqa: E402
from app.webhooks.schemas import WebhookConfig  # noqa: E402
from bench.common import HOST, free_port, pct, start_redis, stop, wait_listening  # noqa: E402

TENANT = "bench"


def log(msg: str) -> None:
    print(f"[webhooks {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def event_ms(event_id: str) -> int:
    return int(event_id.split("-", 1)[0])


async def history_lag_ms(rt: Runtime) -> float:
    """Age of the oldest event the history group has not acknowledged (0: none)."""
    stream = keys.key(TENANT, "events")
    groups: Any = await rt.redis.xinfo_groups(stream)
    group = next((g for g in groups if g["name"] == "history"), None)
    if group is None:
        return 0.0
    pending: Any = await rt.redis.xpending(stream, "history")
    if pending and int(pending["pending"]) > 0:
        oldest = str(pending["min"])
    else:
        after: Any = await rt.redis.xrange(stream, min=f"({group['last-delivered-id']}", count=1)
        if not after:
            return 0.0
        oldest = str(after[0][0])
    return max(0.0, time.time() * 1000 - event_ms(oldest))


async def count(rt: Runtime, query: Any) -> int:
    async with rt.db.sessions() as session:
        return int((await session.execute(query)).scalar_one())


async def run(args: argparse.Namespace, redis_url: str, database_url: str,
              receiver_url: str) -> dict[str, Any]:
    settings = Settings(redis_url=redis_url, database_url=database_url, auto_migrate=True,
                        webhook_allow_private=True, log_level="WARNING")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        rt: Runtime = app.state.runtime
        await tenants.create_tenant(rt, TenantCreate(id=TENANT, name="bench"))
        await queues.put_queue(rt, TENANT, "q", QueueConfig(auto_accept=True, wrap_up_s=0))
        await webhooks.put_webhook(rt, TENANT, "all",
                                   WebhookConfig(url=receiver_url + "/hooks", events=["*"]))
        for i in range(args.agents):
            await agents.put_agent(rt, TENANT, f"a{i:03d}", AgentConfig())
            await agents.set_state(rt, TENANT, f"a{i:03d}", AgentStateChange(state="available"))
        lags: list[float] = []
        done = asyncio.Event()

        async def sample() -> None:
            while not done.is_set():
                lags.append(await history_lag_ms(rt))
                await asyncio.sleep(0.1)

        async def one(n: int) -> None:
            call, _ = await calls.create_call(rt, TENANT, CallCreate(queue="q",
                                                                     external_id=f"x{n}"))
            await calls.complete(rt, TENANT, call.id, Complete())

        sampler = asyncio.create_task(sample())
        start = time.monotonic()
        tasks = []
        for n in range(args.calls):
            due = start + n / args.rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
        load_s = time.monotonic() - start
        log(f"{args.calls} calls in {load_s:.1f} s; waiting for history and deliveries")
        ended = time.monotonic()
        history_s = None
        pending_q = select(func.count()).select_from(WebhookDelivery).where(
            WebhookDelivery.status == "pending")
        while time.monotonic() - ended < args.drain_timeout:
            if history_s is None and await count(
                    rt, select(func.count()).select_from(CallHistory)) >= args.calls:
                history_s = time.monotonic() - ended
            if history_s is not None and await count(rt, pending_q) == 0:
                break
            await asyncio.sleep(0.1)
        drain_s = time.monotonic() - ended
        done.set()
        await sampler
        events: Any = await rt.redis.xrange(keys.key(TENANT, "events"))
        event_at = {str(i): event_ms(str(i)) for i, _ in events}
        deliveries = await count(rt, select(func.count()).select_from(WebhookDelivery))
    async with httpx.AsyncClient() as client:
        arrivals = (await client.get(receiver_url + "/log")).json()
    first_arrival = {}
    for event_id, at in arrivals:
        first_arrival.setdefault(event_id, at)
    latencies = [first_arrival[i] * 1000 - event_at[i] for i in first_arrival if i in event_at]
    span_s = (max(first_arrival.values()) * 1000 - min(event_at.values())) / 1000
    return {
        "calls": args.calls, "rate_per_s": args.rate, "agents": args.agents,
        "events": len(event_at), "deliveries": deliveries, "received": len(arrivals),
        "distinct_received": len(first_arrival), "load_s": round(load_s, 1),
        "deliveries_per_s": round(len(first_arrival) / span_s, 1),
        "latency_ms": {"p50": round(pct(latencies, 50), 1), "p99": round(pct(latencies, 99), 1),
                       "max": round(max(latencies), 1)},
        "history_lag_ms": {"p50": round(pct(lags, 50), 1), "p99": round(pct(lags, 99), 1),
                           "max": round(max(lags), 1) if lags else None},
        "history_complete_after_s": None if history_s is None else round(history_s, 2),
        "drained_after_s": round(drain_s, 2),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--rate", type=float, default=100.0, help="call arrivals per second")
    p.add_argument("--agents", type=int, default=20)
    p.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    p.add_argument("--drain-timeout", type=float, default=120.0)
    args = p.parse_args()
    redis_port, receiver_port = free_port(), free_port()
    redis = start_redis(redis_port, log)
    receiver = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.receiver:app", "--host", HOST, "--port",
         str(receiver_port), "--log-level", "warning"], cwd=ROOT)
    try:
        wait_listening(receiver_port, receiver)
        with tempfile.TemporaryDirectory() as tmp:
            database_url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
            result = asyncio.run(run(args, f"redis://{HOST}:{redis_port}/0", database_url,
                                     f"http://{HOST}:{receiver_port}"))
    finally:
        stop(receiver, log)
        stop(redis, log)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

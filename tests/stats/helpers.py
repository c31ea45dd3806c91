"""Shared steps of the statistics tests: a manual clock on a 15-minute boundary, the history
written, reports read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.history.consumer import HistoryConsumer
from tests.support import Api, TenantApi, expect

STEP_MS = 900_000


async def to_boundary(t: TenantApi) -> int:
    """Advance the clock to the next 15-minute boundary; its epoch ms."""
    now = await t.clock_ms()
    start = (now // STEP_MS + 1) * STEP_MS
    await t.advance((start - now) / 1000)
    return start


async def until(t: TenantApi, start_ms: int, seconds: float) -> None:
    """Advance the clock to `seconds` after the start."""
    await t.advance((start_ms + round(seconds * 1000) - await t.clock_ms()) / 1000)


async def write_history(service: Api, t: TenantApi) -> None:
    await HistoryConsumer(service.runtime).tenant_step(t.id)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


async def report(t: TenantApi, kind: str, start_ms: int, end_ms: int,
                 **params: Any) -> dict[str, Any]:
    query = {"from": iso(start_ms), "to": iso(end_ms), **{k: str(v) for k, v in params.items()}}
    return expect(await t.request("GET", f"/v1/stats/{kind}", params=query), 200)

"""`GET /v1/clock` and `POST /v1/clock/advance` (DESIGN §3.7)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from app.clock import ClockMode, rfc3339, to_datetime, to_ms
from app.errors import conflict, invalid
from app.runtime import Runtime
from app.schemas import Lax, Strict, Timestamp
from app.store import reads
from app.timers.service import fire_due

MAX_ADVANCE_S = 366 * 86_400


class ClockView(BaseModel):
    mode: ClockMode
    now: Timestamp
    next_timer_at: Timestamp | None = Field(
        None, description="When the tenant's next timer (offer expiry, wrap-up end, max wait, "
        "...) is due; a simulation advances a manual clock to it to see what happens then.")


class Advance(Strict):
    seconds: float | None = Field(None, ge=0, le=MAX_ADVANCE_S)
    to: Annotated[Timestamp, Lax] | None = Field(
        None, description="RFC 3339; not before the clock's now.")

    @model_validator(mode="after")
    def _one(self) -> Advance:
        if (self.seconds is None) == (self.to is None):
            raise ValueError("give exactly one of seconds, to")
        if self.to is not None and self.to.tzinfo is None:
            raise ValueError("to needs a time zone (e.g. Z)")
        return self


class Advanced(ClockView):
    fired: int = Field(description="Timers fired on the way.")


async def _mode_and_now(rt: Runtime, tenant: str) -> tuple[ClockMode, int]:
    mode = await reads.clock_mode(rt.redis, tenant)
    if mode is None:
        await rt.run("peek", tenant, {})  # projects the tenant
        mode = await reads.clock_mode(rt.redis, tenant) or ClockMode.wall.value
    if mode == ClockMode.manual:
        now = await reads.manual_now_ms(rt.redis, tenant)
        return ClockMode.manual, now if now is not None else rt.clock.now_ms()
    return ClockMode.wall, rt.clock.now_ms()


async def _next_timer(rt: Runtime, tenant: str) -> datetime | None:
    first = await reads.first_timer(rt.redis, tenant)
    return None if first is None else to_datetime(first[1])


async def get_clock(rt: Runtime, tenant: str) -> ClockView:
    mode, now = await _mode_and_now(rt, tenant)
    return ClockView(mode=mode, now=to_datetime(now), next_timer_at=await _next_timer(rt, tenant))


async def advance(rt: Runtime, tenant: str, body: Advance) -> Advanced:
    mode, now = await _mode_and_now(rt, tenant)
    if mode != ClockMode.manual:
        raise conflict("clock-not-manual", "Clock is not manual",
                       "This tenant runs on the wall clock; only manual clocks advance.",
                       mode=mode.value)
    target = now + round(body.seconds * 1000) if body.seconds is not None else to_ms(body.to)  # type: ignore[arg-type]
    if target < now:
        raise invalid("to", f"{body.to} is before the clock's now {rfc3339(now)}")
    if target - now > MAX_ADVANCE_S * 1000:
        raise invalid("to", f"{body.to} is more than {MAX_ADVANCE_S} s after the clock's now "
                      f"{rfc3339(now)}; advance in steps")
    fired = await fire_due(rt, tenant, target, manual=True)
    _, after = await _mode_and_now(rt, tenant)
    return Advanced(mode=mode, now=to_datetime(after), fired=fired,
                    next_timer_at=await _next_timer(rt, tenant))

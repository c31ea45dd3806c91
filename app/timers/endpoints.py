from __future__ import annotations

from fastapi import APIRouter

from app.deps import Admin, Reader, RuntimeDep
from app.timers import clock
from app.timers.clock import Advance, Advanced, ClockView

router = APIRouter(prefix="/v1/clock", tags=["clock"])


@router.get("", summary="The tenant's clock")
async def get_clock(rt: RuntimeDep, who: Reader) -> ClockView:
    return await clock.get_clock(rt, who.tenant)


@router.post("/advance", summary="Move a manual clock on, firing every due timer in order")
async def advance(rt: RuntimeDep, who: Admin, body: Advance) -> Advanced:
    return await clock.advance(rt, who.tenant, body)

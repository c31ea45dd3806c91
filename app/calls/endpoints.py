from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from app.calls import service
from app.calls.schemas import (
    CallCreate,
    CallList,
    CallPatch,
    CallState,
    CallView,
    Complete,
    OfferAnswer,
    Reject,
    Transfer,
)
from app.deps import CallHandler, Reader, RuntimeDep, Telephony
from app.schemas import ID_PATTERN

router = APIRouter(prefix="/v1/calls", tags=["calls"])
CallId = Annotated[str, Path(pattern=ID_PATTERN)]


@router.post("", status_code=201, summary="A call arrives",
             responses={200: {"model": CallView, "description": "Seen before (external_id)"}})
async def create_call(rt: RuntimeDep, who: Telephony, body: CallCreate,
                      response: Response) -> CallView:
    view, new = await service.create_call(rt, who.tenant, body)
    if not new:
        response.status_code = 200
    return view


@router.get("", summary="Calls; with queue, its waiting calls in routing order")
async def list_calls(
    rt: RuntimeDep, who: Reader,
    queue: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    state: Annotated[CallState | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> CallList:
    return CallList(calls=await service.list_calls(rt, who.tenant, queue, state, limit))


@router.get("/{call_id}", summary="A call as it stands")
async def get_call(rt: RuntimeDep, who: Reader, call_id: CallId) -> CallView:
    return await service.get_call(rt, who.tenant, call_id)


@router.patch("/{call_id}", summary="Change a waiting call's priority, requirements, attributes")
async def patch_call(rt: RuntimeDep, who: Telephony, call_id: CallId,
                     body: CallPatch) -> CallView:
    return await service.patch(rt, who.tenant, call_id, body)


@router.post("/{call_id}/accept", summary="Take the offer: the call is connected")
async def accept(rt: RuntimeDep, who: CallHandler, call_id: CallId,
                 body: OfferAnswer) -> CallView:
    return await service.accept(rt, who.tenant, call_id, body)


@router.post("/{call_id}/reject", summary="Decline the offer: the call goes back to its place")
async def reject(rt: RuntimeDep, who: CallHandler, call_id: CallId, body: Reject) -> CallView:
    return await service.reject(rt, who.tenant, call_id, body)


@router.post("/{call_id}/abandon", summary="The caller hung up")
async def abandon(rt: RuntimeDep, who: Telephony, call_id: CallId) -> CallView:
    return await service.abandon(rt, who.tenant, call_id)


@router.post("/{call_id}/complete", summary="The conversation ended")
async def complete(rt: RuntimeDep, who: CallHandler, call_id: CallId,
                   body: Complete) -> CallView:
    return await service.complete(rt, who.tenant, call_id, body)


@router.post("/{call_id}/transfer", summary="Send the call to a queue or an agent")
async def transfer(rt: RuntimeDep, who: CallHandler, call_id: CallId,
                   body: Transfer) -> CallView:
    return await service.transfer(rt, who.tenant, call_id, body)

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

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
from app.schemas import ID_PATTERN, model_response

router = APIRouter(prefix="/v1/calls", tags=["calls"])
CallId = Annotated[str, Path(pattern=ID_PATTERN)]


@router.post("", status_code=201, summary="A call arrives", response_model=CallView,
             responses={200: {"model": CallView, "description": "Seen before (external_id)"}})
async def create_call(rt: RuntimeDep, who: Telephony, body: CallCreate) -> Response:
    view, new = await service.create_call(rt, who.tenant, body)
    return model_response(view, 201 if new else 200)


@router.get("", summary="Calls; with queue, its waiting calls in routing order")
async def list_calls(
    rt: RuntimeDep, who: Reader,
    queue: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    state: Annotated[CallState | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> CallList:
    return CallList(calls=await service.list_calls(rt, who.tenant, queue, state, limit))


@router.get("/{call_id}", summary="A call as it stands", response_model=CallView)
async def get_call(rt: RuntimeDep, who: Reader, call_id: CallId) -> Response:
    return model_response(await service.get_call(rt, who.tenant, call_id))


@router.patch("/{call_id}", response_model=CallView,
              summary="Change a waiting call's priority, requirements, attributes")
async def patch_call(rt: RuntimeDep, who: Telephony, call_id: CallId,
                     body: CallPatch) -> Response:
    return model_response(await service.patch(rt, who.tenant, call_id, body))


@router.post("/{call_id}/accept", summary="Take the offer: the call is connected",
             response_model=CallView)
async def accept(rt: RuntimeDep, who: CallHandler, call_id: CallId,
                 body: OfferAnswer) -> Response:
    return model_response(await service.accept(rt, who.tenant, call_id, body))


@router.post("/{call_id}/reject", summary="Decline the offer: the call goes back to its place",
             response_model=CallView)
async def reject(rt: RuntimeDep, who: CallHandler, call_id: CallId, body: Reject) -> Response:
    return model_response(await service.reject(rt, who.tenant, call_id, body))


@router.post("/{call_id}/abandon", summary="The caller hung up", response_model=CallView)
async def abandon(rt: RuntimeDep, who: Telephony, call_id: CallId) -> Response:
    return model_response(await service.abandon(rt, who.tenant, call_id))


@router.post("/{call_id}/complete", summary="The conversation ended", response_model=CallView)
async def complete(rt: RuntimeDep, who: CallHandler, call_id: CallId,
                   body: Complete) -> Response:
    return model_response(await service.complete(rt, who.tenant, call_id, body))


@router.post("/{call_id}/transfer", summary="Send the call to a queue or an agent",
             response_model=CallView)
async def transfer(rt: RuntimeDep, who: CallHandler, call_id: CallId,
                   body: Transfer) -> Response:
    return model_response(await service.transfer(rt, who.tenant, call_id, body))

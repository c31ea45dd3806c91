from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from app.deps import Admin, Reader, RuntimeDep
from app.queues import service
from app.queues.schemas import Queue, QueueConfig, QueueList
from app.schemas import ID_PATTERN

router = APIRouter(prefix="/v1/queues", tags=["queues"])
QueueId = Annotated[str, Path(pattern=ID_PATTERN)]


@router.put("/{queue_id}", summary="Create or replace a queue")
async def put_queue(rt: RuntimeDep, who: Admin, queue_id: QueueId, body: QueueConfig) -> Queue:
    return await service.put_queue(rt, who.tenant, queue_id, body)


@router.get("", summary="List queues")
async def list_queues(rt: RuntimeDep, who: Reader) -> QueueList:
    return QueueList(queues=await service.list_queues(rt, who.tenant))


@router.get("/{queue_id}", summary="Get a queue")
async def get_queue(rt: RuntimeDep, who: Reader, queue_id: QueueId) -> Queue:
    return await service.get_queue(rt, who.tenant, queue_id)


@router.delete("/{queue_id}", status_code=204, summary="Delete an empty, unreferenced queue")
async def delete_queue(rt: RuntimeDep, who: Admin, queue_id: QueueId) -> Response:
    await service.delete_queue(rt, who.tenant, queue_id)
    return Response(status_code=204)

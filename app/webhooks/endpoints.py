from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from app.deps import Admin, RuntimeDep
from app.schemas import ID_PATTERN
from app.webhooks import service
from app.webhooks.schemas import (
    AttemptList,
    PingResult,
    Webhook,
    WebhookConfig,
    WebhookCreated,
    WebhookList,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
WebhookId = Annotated[str, Path(pattern=ID_PATTERN)]


@router.put("/{webhook_id}", summary="Create or replace a webhook subscription (secret shown once)")
async def put_webhook(rt: RuntimeDep, who: Admin, webhook_id: WebhookId,
                      body: WebhookConfig) -> WebhookCreated:
    return await service.put_webhook(rt, who.tenant, webhook_id, body)


@router.get("", summary="List webhook subscriptions")
async def list_webhooks(rt: RuntimeDep, who: Admin) -> WebhookList:
    return WebhookList(webhooks=await service.list_webhooks(rt, who.tenant))


@router.get("/{webhook_id}", summary="Get a webhook subscription")
async def get_webhook(rt: RuntimeDep, who: Admin, webhook_id: WebhookId) -> Webhook:
    return await service.get_webhook(rt, who.tenant, webhook_id)


@router.delete("/{webhook_id}", status_code=204, summary="Delete a webhook subscription")
async def delete_webhook(rt: RuntimeDep, who: Admin, webhook_id: WebhookId) -> Response:
    await service.delete_webhook(rt, who.tenant, webhook_id)
    return Response(status_code=204)


@router.post("/{webhook_id}/resume", summary="Make a paused webhook subscription active again")
async def resume_webhook(rt: RuntimeDep, who: Admin, webhook_id: WebhookId) -> Webhook:
    return await service.resume_webhook(rt, who.tenant, webhook_id)


@router.get("/{webhook_id}/deliveries", summary="Every delivery attempt, newest first")
async def deliveries(rt: RuntimeDep, who: Admin, webhook_id: WebhookId,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> AttemptList:
    return await service.attempts(rt, who.tenant, webhook_id, limit)


@router.post("/{webhook_id}/test", summary="Send a signed `webhook.ping` now")
async def test_webhook(rt: RuntimeDep, who: Admin, webhook_id: WebhookId) -> PingResult:
    return await service.ping(rt, who.tenant, webhook_id)

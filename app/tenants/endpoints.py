from __future__ import annotations

from fastapi import APIRouter

from app.deps import Admin, PlatformAdmin, RuntimeDep
from app.tenants import service
from app.tenants.schemas import ApiKeyCreate, ApiKeyCreated, TenantCreate, TenantCreated

router = APIRouter(prefix="/v1", tags=["tenants"])


@router.post("/tenants", status_code=201, summary="Create a tenant (platform admin token)")
async def create_tenant(rt: RuntimeDep, _: PlatformAdmin, body: TenantCreate) -> TenantCreated:
    return await service.create_tenant(rt, body)


@router.post("/api-keys", status_code=201, summary="Create an API key (shown once)")
async def create_api_key(rt: RuntimeDep, who: Admin, body: ApiKeyCreate) -> ApiKeyCreated:
    return await service.create_api_key(rt, who.tenant, body)

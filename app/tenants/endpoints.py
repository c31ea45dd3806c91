from __future__ import annotations

from fastapi import APIRouter

from app.deps import Admin, PlatformAdmin, Reader, RuntimeDep
from app.tenants import service
from app.tenants.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    Tenant,
    TenantCreate,
    TenantCreated,
    TenantUpdate,
)

router = APIRouter(prefix="/v1", tags=["tenants"])


@router.post("/tenants", status_code=201, summary="Create a tenant (platform admin token)")
async def create_tenant(rt: RuntimeDep, _: PlatformAdmin, body: TenantCreate) -> TenantCreated:
    return await service.create_tenant(rt, body)


@router.post("/api-keys", status_code=201, summary="Create an API key (shown once)")
async def create_api_key(rt: RuntimeDep, who: Admin, body: ApiKeyCreate) -> ApiKeyCreated:
    return await service.create_api_key(rt, who.tenant, body)


@router.get("/tenant", summary="The tenant of the calling key")
async def get_tenant(rt: RuntimeDep, who: Reader) -> Tenant:
    return await service.get_tenant(rt, who.tenant)


@router.patch("/tenant", summary="Rename the tenant or change its time zone")
async def update_tenant(rt: RuntimeDep, who: Admin, body: TenantUpdate) -> Tenant:
    return await service.update_tenant(rt, who.tenant, body)

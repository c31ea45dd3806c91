from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel

from app.auth import Role
from app.clock import ClockMode
from app.schemas import Id, Lax, Name, Strict, Timestamp


class TenantCreate(Strict):
    id: Id
    name: Name | None = None
    clock: Annotated[ClockMode, Lax] = ClockMode.wall


class TenantCreated(BaseModel):
    id: str
    name: str
    clock: ClockMode
    created_at: Timestamp
    api_key: str
    api_key_id: str


class ApiKeyCreate(Strict):
    name: Name
    role: Annotated[Role, Lax]


class ApiKeyCreated(BaseModel):
    id: str
    name: str
    role: Annotated[Role, Lax]
    api_key: str

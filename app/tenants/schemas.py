from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, StringConstraints

from app.auth import Role
from app.clock import ClockMode
from app.schemas import Id, Strict, Timestamp

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class TenantCreate(Strict):
    id: Id
    name: Name | None = None
    clock: ClockMode = ClockMode.wall


class TenantCreated(BaseModel):
    id: str
    name: str
    clock: ClockMode
    created_at: Timestamp
    api_key: str
    api_key_id: str


class ApiKeyCreate(Strict):
    name: Name
    role: Role


class ApiKeyCreated(BaseModel):
    id: str
    name: str
    role: Role
    api_key: str

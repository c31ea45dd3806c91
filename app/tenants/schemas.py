from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from app.auth import Role
from app.clock import ClockMode
from app.schemas import Id, Lax, Name, Strict, Timestamp


def _known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a directory
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as "
                         "'Europe/Madrid')") from None
    return name


TimeZoneName = Annotated[
    str, StringConstraints(min_length=1, max_length=64), AfterValidator(_known_zone),
    Field(description="IANA time zone; decides what \"today\" is for the tenant's "
          "statistics and where day intervals start.")]


class TenantCreate(Strict):
    id: Id
    name: Name | None = None
    clock: Annotated[ClockMode, Lax] = ClockMode.wall
    time_zone: TimeZoneName = "UTC"


class TenantUpdate(Strict):
    name: Name | None = None
    time_zone: TimeZoneName | None = None


class Tenant(BaseModel):
    id: str
    name: str
    clock: ClockMode
    time_zone: str
    created_at: Timestamp


class TenantCreated(BaseModel):
    id: str
    name: str
    clock: ClockMode
    time_zone: str
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

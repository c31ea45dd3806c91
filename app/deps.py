"""Typed dependencies, declared once: the runtime and the caller's identity and role."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated, cast

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import DBAPIError, OperationalError

from app.auth import Principal, Role, hash_key
from app.db import repositories as repo
from app.errors import SwitchboardError
from app.runtime import Runtime

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer sb_...`")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def get_runtime(request: Request) -> Runtime:
    return cast(Runtime, request.app.state.runtime)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def _unauthorized(detail: str) -> SwitchboardError:
    return SwitchboardError(401, "unauthorized", "Unauthorized", detail)


async def get_principal(rt: RuntimeDep, credentials: Credentials) -> Principal:
    if credentials is None:
        raise _unauthorized("Send an API key: Authorization: Bearer <key>.")
    key_hash = hash_key(credentials.credentials)
    fresh, principal = rt.keys.get(key_hash)
    if not fresh:
        try:
            async with rt.db.sessions() as session:
                row = await repo.find_api_key(session, key_hash)
        except (OperationalError, DBAPIError, OSError):
            if principal is None:
                raise
            # SQL is down: the key's last known answer stands.
        else:
            principal = None if row is None else Principal(row.tenant_id, Role(row.role),
                                                           row.id)
            rt.keys.put(key_hash, principal)
    if principal is None:
        raise _unauthorized("The API key is not valid.")
    return principal


def allow(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting the given roles (admin is always admitted)."""
    admitted = {Role.admin, *roles}

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in admitted:
            raise SwitchboardError(
                403, "forbidden", "Forbidden",
                f"A {principal.role} key cannot do this; it needs one of: "
                f"{', '.join(sorted(admitted))}.", role=principal.role.value)
        return principal

    return check


Admin = Annotated[Principal, Depends(allow())]
Reader = Annotated[Principal, Depends(allow(Role.supervisor, Role.telephony, Role.agent))]
Telephony = Annotated[Principal, Depends(allow(Role.telephony))]
CallHandler = Annotated[Principal, Depends(allow(Role.telephony, Role.agent))]
AgentStateSetter = Annotated[Principal, Depends(allow(Role.agent, Role.supervisor))]
EventReader = Annotated[Principal, Depends(allow(Role.supervisor, Role.telephony))]


async def platform_admin(rt: RuntimeDep, credentials: Credentials) -> None:
    token = rt.settings.admin_token
    if token is None:
        raise SwitchboardError(
            403, "admin-token-not-set", "Tenant creation over HTTP is off",
            "Set SWITCHBOARD_ADMIN_TOKEN to create tenants over HTTP, or run "
            "`switchboard tenants create <id>`.")
    if credentials is None or not secrets.compare_digest(
            credentials.credentials.encode(), token.get_secret_value().encode()):
        raise _unauthorized("Tenant creation needs the platform admin token.")


PlatformAdmin = Annotated[None, Depends(platform_admin)]

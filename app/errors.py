"""Errors as RFC 9457 problem documents.

    SwitchboardError (status, slug)      one base; a handler turns it into problem+json
      raised by services:  not-found 404, *-conflict 409 (queue-full, agent-busy, ...),
                           unauthorized 401, forbidden 403, payload-too-large 413
      mapped at the edge:  validation-error 422 (pydantic), backend-unavailable 503 (Redis or
                           SQL unreachable), route-not-found 404 / method-not-allowed 405,
                           internal-error 500 (a bug; the body names the request id)

Every problem has a stable `type` slug under /problems/, a `title`, the `status`, a `detail`
sentence and, where useful, members naming what was wrong (`errors`, `state`, `queue`, ...).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PROBLEM_JSON = "application/problem+json"


class FieldError(BaseModel):
    field: str = Field(description="Where: a dotted path into the body, a query parameter or a "
                                   "header name.")
    message: str
    type: str | None = Field(None, description="The kind of check that failed (validation).")


class Problem(BaseModel):
    """An error, as RFC 9457 `application/problem+json`. Besides these members a problem may
    carry others naming what was wrong (`state`, `queue`, `limit`, ...)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A stable slug, e.g. `/problems/queue-full`: what clients "
                                  "branch on.", examples=["/problems/validation-error"])
    title: str
    status: int
    detail: str = Field(description="What was wrong, in a sentence.")
    errors: list[FieldError] | None = Field(
        None, description="`validation-error`: every field that is wrong.")


class SwitchboardError(Exception):
    def __init__(self, status: int, slug: str, title: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return problem(self.status, self.slug, self.title, self.detail, **self.extra)


def problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail,
            **{k: v for k, v in extra.items() if v is not None}}


def not_found(kind: str, object_id: str) -> SwitchboardError:
    return SwitchboardError(404, f"{kind}-not-found", f"{kind.capitalize()} not found",
                            f"No {kind} {object_id!r} in this tenant.", **{f"{kind}_id": object_id})


def conflict(slug: str, title: str, detail: str, **extra: Any) -> SwitchboardError:
    return SwitchboardError(409, slug, title, detail, **extra)


def invalid(field: str, message: str) -> SwitchboardError:
    """A 422 found after parsing (a reference to something that does not exist, ...)."""
    return SwitchboardError(422, "validation-error", "Invalid request", f"{field}: {message}",
                            errors=[{"field": field, "message": message}])

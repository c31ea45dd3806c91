"""Types shared by the HTTP schemas: ids, skills, requirements, attributes, limits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, StringConstraints
from pydantic import Strict as PydanticStrict
from starlette.responses import Response

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
SkillName = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
SkillLevel = Annotated[int, Field(ge=1, le=10)]
Priority = Annotated[int, Field(ge=0, le=100, description="0 (normal) to 100 (most urgent)")]
# Free text a person reads (names, reasons): no control characters (PostgreSQL refuses NUL).
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NO_CONTROL)]
Text = Annotated[str, StringConstraints(max_length=200, pattern=NO_CONTROL)]
AttributeKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]
AttributeValue = Annotated[str, StringConstraints(max_length=1024)] | int | float | bool | None
Attributes = Annotated[dict[AttributeKey, AttributeValue], Field(max_length=50)]

MAX_REQUIREMENTS = 20


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# Strict models still take an enum or a time from its JSON string.
Lax = PydanticStrict(False)

# RFC 3339 UTC with milliseconds on the wire: 2026-11-22T16:09:05.123Z.
Timestamp = Annotated[datetime, PlainSerializer(_rfc3339, return_type=str, when_used="json")]


class Strict(BaseModel):
    """Request bodies refuse unknown fields (a typo must not be silently ignored) and wrong
    JSON types ("20" or true for a number, "yes" for a boolean), and NaN or infinity."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Requirement(Strict):
    skill: SkillName
    min_level: SkillLevel = 1


Requirements = Annotated[list[Requirement], Field(max_length=MAX_REQUIREMENTS)]


def model_response(model: BaseModel, status_code: int = 200) -> Response:
    """Serialise a response model once. Returning the model itself makes FastAPI dump it,
    validate the dump against the response model and serialise it again; on the hot paths
    (arrivals, offers, agent states) that is a measurable share of a request."""
    return Response(model.model_dump_json(), status_code=status_code,
                    media_type="application/json")

"""The committed OpenAPI document is what the app serves (DESIGN §3), and its errors are
what the app sends: problem+json, described by the `Problem` schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from app.errors import PROBLEM_JSON
from app.main import create_app
from app.settings import Settings
from tests.support import Api, expect

FIX = "run `switchboard openapi --write` and commit openapi/openapi.json"


def _differences(committed: Any, served: Any, where: str = "") -> list[str]:
    if isinstance(committed, dict) and isinstance(served, dict):
        out: list[str] = []
        for key in sorted(set(committed) | set(served)):
            path = f"{where}/{key}"
            if key not in served:
                out.append(f"{path}: only in the committed file")
            elif key not in committed:
                out.append(f"{path}: only in the served spec")
            else:
                out.extend(_differences(committed[key], served[key], path))
        return out
    return [] if committed == served else [f"{where or '/'}: differs"]


def test_committed_openapi_equals_the_served_spec(repo_root: Path) -> None:
    spec_file = repo_root / "openapi" / "openapi.json"
    if not spec_file.exists():
        pytest.fail(f"{spec_file} is missing: {FIX}.")
    committed = json.loads(spec_file.read_text())
    served = json.loads(json.dumps(create_app(Settings()).openapi()))
    if committed != served:
        diff = _differences(committed, served)
        pytest.fail(f"openapi/openapi.json differs from the spec the app serves; {FIX}.\n"
                    + "\n".join(diff[:20]) + ("\n..." if len(diff) > 20 else ""))


def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(json.dumps(create_app(Settings()).openapi()))
    return spec


def test_every_operation_documents_its_errors_as_problems() -> None:
    spec = _spec()
    problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    operations = [(path, method, op) for path, ops in spec["paths"].items()
                  for method, op in ops.items()]
    assert len(operations) > 40
    for path, method, op in operations:
        responses = op["responses"]
        assert responses["default"]["content"] == problem, (method, path)
        if "422" in responses:
            assert responses["422"]["content"] == problem, (method, path)
    assert "HTTPValidationError" not in json.dumps(spec)  # never sent


async def test_the_errors_sent_are_the_problems_documented(service: Api) -> None:
    """A 422, 401, 404, 409 and 503 as the API sends them, each valid against the spec."""
    spec = _spec()
    schema = {"$ref": "#/components/schemas/Problem", "components": spec["components"]}
    tenant = await service.tenant("manual")
    await tenant.put_queue("q", max_size=1)
    await tenant.arrive("q")
    sent: list[tuple[int, httpx.Response]] = [
        (422, await tenant.request("POST", "/v1/calls", {"queue": "q", "priority": "high"})),
        (401, await tenant.request("GET", "/v1/queues", headers={"Authorization": "Bearer x"})),
        (404, await tenant.request("GET", "/v1/calls/c-none")),
        (409, await tenant.request("POST", "/v1/calls", {"queue": "q"})),
    ]
    service.runtime.streams.limit = 0  # every stream slot taken
    sent.append((503, await tenant.request("GET", "/v1/events/stream")))
    for status, response in sent:
        body = expect(response, status)
        assert response.headers["content-type"].startswith(PROBLEM_JSON), status
        jsonschema.validate(body, schema)
        assert body["status"] == status
    assert sent[0][1].json()["errors"][0]["field"] == "body.priority"

"""The committed OpenAPI document is what the app serves (DESIGN §3)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.main import create_app
from app.settings import Settings

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

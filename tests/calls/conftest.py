"""These tests also run on a three-primary Redis Cluster (DESIGN §2: tenants spread over
shards, every script on one slot)."""

from __future__ import annotations

import pytest

from tests.conftest import BACKENDS


@pytest.fixture(params=[*BACKENDS, "cluster+postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)

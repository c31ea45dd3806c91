"""SQL down: routing goes on (keys seen before keep working, calls and agent states live in
Redis); what needs SQL — configuration — answers 503 backend-unavailable."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from app.db.engine import open_database
from app.main import create_app
from app.settings import Settings
from tests.processes import free_port
from tests.support import Api, expect


@pytest.mark.parametrize("backend", ["redis+postgresql"], indirect=True)
async def test_routing_goes_on_while_sql_is_down(make_settings: Callable[..., Settings]) -> None:
    # A zero TTL makes every request ask SQL for its key, so the outage is felt at once.
    settings = make_settings(api_key_cache_ttl_s=0)
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sb") as http:
        service = Api(http, app)
        tenant = await service.tenant("manual")
        await tenant.put_queue("q", wrap_up_s=2)
        await tenant.put_agent("ana")

        rt = service.runtime
        healthy = rt.db
        rt.db = open_database(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/none")
        try:
            await tenant.state("ana", "available")
            call = await tenant.arrive("q")
            assert call["state"] == "offered"
            await tenant.accept(call["id"])
            await tenant.complete(call["id"])
            await tenant.advance(2)
            assert (await tenant.call(call["id"]))["state"] == "completed"

            # The replica stays in service: readiness reports SQL but does not fail on it.
            ready = await http.get("/readyz")
            assert ready.status_code == 200
            assert ready.json() == {"status": "ready", "sql": "unreachable"}

            refused = await tenant.request("PUT", "/v1/queues/other", {})
            assert refused.status_code == 503
            assert refused.json()["type"] == "/problems/backend-unavailable"
            assert refused.json()["backend"] == "SQL"
            unknown = await tenant.request("GET", "/v1/clock",
                                           headers={"Authorization": "Bearer sb_x_never-seen"})
            assert unknown.status_code == 503
        finally:
            await rt.db.dispose()
            rt.db = healthy
        expect(await tenant.request("PUT", "/v1/queues/other", {}), 200)

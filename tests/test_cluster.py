"""The service on a three-primary Redis Cluster (DESIGN §2): tenants spread over the shards,
every script is loaded on every primary, a node that lost its scripts (NOSCRIPT), was
restarted, or took over as a promoted replica is served again without help, and one shard
down leaves the others' tenants routing. The lifecycle, state and concurrency tests also run
on a cluster (their "cluster+postgresql" parameter)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from app.main import create_app
from app.settings import Settings
from app.store import keys
from tests.clusters import ClusterNode, RedisClusterProcesses
from tests.processes import until
from tests.support import Api, Json, TenantApi, expect, forget_tenants, unique

pytestmark = pytest.mark.parametrize("backend", ["cluster+postgresql"])


@pytest.fixture
async def api(make_settings: Callable[..., Settings]) -> AsyncIterator[Api]:
    settings = make_settings()
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sb") as http:
        api = Api(http, app)
        yield api
    await forget_tenants(settings.redis_url, api.tenants)


def tenant_ids_on_every_node(cluster: RedisClusterProcesses, per_node: int) -> list[str]:
    """Fresh tenant ids, `per_node` of them on each primary."""
    found: dict[int, list[str]] = {n.port: [] for n in cluster.nodes}
    while any(len(ids) < per_node for ids in found.values()):
        tenant = unique("shard")
        ids = found[cluster.node_of(keys.key(tenant, "calls")).port]
        if len(ids) < per_node:
            ids.append(tenant)
    return [t for ids in found.values() for t in ids]


def keys_on(node: ClusterNode, tenant: str) -> list[str]:
    return node.cli("--scan", "--pattern", keys.prefix(tenant) + "*").split()


async def one_call(tenant: TenantApi, agent: str = "ana") -> Json:
    await tenant.put_queue("q")
    await tenant.put_agent(agent)
    return await tenant.handle_one_call("q", agent)


async def test_tenants_spread_over_every_primary(api: Api,
                                                 redis_cluster: RedisClusterProcesses) -> None:
    tenants = tenant_ids_on_every_node(redis_cluster, per_node=2)
    for tenant_id in tenants:
        done = await one_call(await api.tenant("manual", tenant_id))
        assert done["state"] == "completed"
    for tenant_id in tenants:
        home = redis_cluster.node_of(keys.key(tenant_id, "calls"))
        for node in redis_cluster.nodes:
            found = keys_on(node, tenant_id)
            if node is home:
                assert keys.key(tenant_id, "calls") in found, found
                assert keys.key(tenant_id, "events") in found, found
            else:
                assert found == [], f"{tenant_id} has keys on {node.port}: {found}"


async def test_scripts_are_loaded_on_every_primary(api: Api,
                                                   redis_cluster: RedisClusterProcesses) -> None:
    for node in redis_cluster.nodes:  # whatever earlier tests left cached there
        assert node.cli("script", "flush").strip() == "OK"
    expect(await api.http.get("/readyz"), 200)
    shas = [s.sha for s in api.runtime.store.scripts.values()]
    assert len(shas) >= 18 and all(shas)
    for node in redis_cluster.nodes:
        assert node.cli("script", "exists", *shas).split() == ["1"] * len(shas), node.port


async def test_a_primary_that_lost_its_scripts_is_served_again(
        api: Api, redis_cluster: RedisClusterProcesses) -> None:
    tenant = await api.tenant("manual")
    await one_call(tenant)
    for node in redis_cluster.nodes:
        assert node.cli("script", "flush").strip() == "OK"
    # Each verb meets NOSCRIPT once, loads its script on that node and goes on.
    done = await tenant.handle_one_call("q", "ana")
    assert done["state"] == "completed"
    home = redis_cluster.node_of(keys.key(tenant.id, "calls"))
    sha = api.runtime.store.scripts["enqueue"].sha
    assert home.cli("script", "exists", sha).split() == ["1"]


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[RedisClusterProcesses]:
    cluster = RedisClusterProcesses(tmp_path, full_coverage=False)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.slow
async def test_one_primary_killed_and_restarted_with_its_append_only_file(
        make_settings: Callable[..., Settings], own_cluster: RedisClusterProcesses) -> None:
    app = create_app(make_settings(redis_url=own_cluster.url))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sb") as http:
        api = Api(http, app)
        ids = tenant_ids_on_every_node(own_cluster, per_node=1)
        victim, *others = [await api.tenant("manual", t) for t in ids]
        node = own_cluster.node_of(keys.key(victim.id, "calls"))
        for tenant in (victim, *others):
            await tenant.put_queue("q")
            await tenant.put_agent("ana")
        waiting = await victim.arrive("q", external_id="before-the-kill")
        await asyncio.sleep(1.2)  # past one `appendfsync everysec` (a kill loses no write)

        node.kill()
        started = time.monotonic()
        down = await victim.request("POST", "/v1/calls", {"queue": "q"})
        assert down.status_code == 503, down.text
        assert down.json()["type"] == "/problems/backend-unavailable"
        assert time.monotonic() - started < 10
        # The other shards' tenants keep routing while one primary is down.
        for tenant in others:
            assert (await tenant.handle_one_call("q", "ana"))["state"] == "completed"

        node.start()  # the same port, directory, nodes.conf and append-only file
        own_cluster.wait_ok()

        async def answered() -> httpx.Response | None:
            r = await victim.request("GET", f"/v1/calls/{waiting['id']}")
            return r if r.status_code != 503 else None

        again = await until(answered, 20, "the restarted shard to answer")
        assert expect(again, 200)["state"] == "queued"  # the call survived the restart
        # The restarted node has no scripts: the first verbs reload them (NOSCRIPT).
        await victim.state("ana", "available")
        connected = await victim.accept(waiting["id"])
        assert connected["agent_id"] == "ana"
        assert (await victim.complete(waiting["id"]))["state"] == "completed"


@pytest.mark.slow
async def test_a_replica_promoted_after_its_primary_died_serves_the_tenant(
        make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    cluster = RedisClusterProcesses(tmp_path, replicas=1)
    cluster.start()
    try:
        app = create_app(make_settings(redis_url=cluster.url))
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://sb") as http:
            api = Api(http, app)
            tenant = await api.tenant("manual")
            await tenant.put_queue("q")
            await tenant.put_agent("ana")
            waiting = await tenant.arrive("q", external_id="before-the-failover")
            primary = cluster.node_of(keys.key(tenant.id, "calls"))
            replica = cluster.replica_of(primary)
            assert primary.cli("wait", "1", "5000").strip() == "1"  # the replica has it all
            assert replica.cli("script", "flush").strip() == "OK"  # and no scripts

            primary.kill()

            async def promoted() -> bool:
                return "role:master" in replica.cli("info", "replication")

            await until(promoted, 30, "the replica to take over")
            cluster.wait_ok()

            async def answered() -> httpx.Response | None:
                r = await tenant.request("GET", f"/v1/calls/{waiting['id']}")
                return r if r.status_code != 503 else None

            again = await until(answered, 20, "the promoted replica to answer")
            assert expect(again, 200)["state"] == "queued"  # replicated before the failover
            await tenant.state("ana", "available")  # NOSCRIPT on the new primary, then EVAL
            assert (await tenant.accept(waiting["id"]))["agent_id"] == "ana"
            assert (await tenant.complete(waiting["id"]))["state"] == "completed"
            assert cluster.node_of(keys.key(tenant.id, "calls")) is replica
            sha = api.runtime.store.scripts["agent_state"].sha  # run in full once: cached there
            assert replica.cli("script", "exists", sha).split() == ["1"]
    finally:
        cluster.stop()

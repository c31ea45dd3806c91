"""The reconciler repairs a decision lost between a state change and its claim (a replica that
died in between): a waiting call next to a free eligible agent is routed on the next pass."""

from __future__ import annotations

from app.clock import to_datetime
from app.db import repositories as repo
from app.timers.background import Background
from tests.support import Api


async def test_a_lost_claim_is_repaired_by_the_reconciler(service: Api) -> None:
    tenant = await service.tenant("manual")
    await tenant.put_queue("sales")
    await tenant.put_queue("tech", requirements=[{"skill": "linux", "min_level": 5}])
    await tenant.put_agent("ana", skills={"linux": 3})
    await tenant.put_agent("bo", skills={"linux": 8})
    await tenant.state("ana", "available")
    await tenant.state("bo", "available")
    rt = service.runtime

    # An arrival whose process "dies" after the enqueue script: nobody claims it.
    lost = []
    for queue in ("sales", "tech"):
        reply = await rt.run("enqueue", tenant.id, {"call": {"queue": queue, "priority": 0}},
                             queues=[queue])
        assert reply.call is not None and reply.wake, "the enqueue returned candidates"
        lost.append(reply.call)
    for call in lost:
        assert (await tenant.call(call.id))["state"] == "queued"

    await Background(rt).reconcile()

    offered = {c.queue: await tenant.call(c.id) for c in lost}
    assert offered["tech"]["state"] == "offered"
    assert offered["tech"]["offer"]["agent_id"] == "bo"  # ana does not meet linux ≥ 5
    assert offered["sales"]["state"] == "offered"
    assert offered["sales"]["offer"]["agent_id"] == "ana"

    # A second pass finds nothing to do and changes nothing.
    before = await tenant.events()
    await Background(rt).reconcile()
    assert await tenant.events() == before


async def test_configuration_whose_projection_was_lost_is_projected_again(service: Api) -> None:
    tenant = await service.tenant("manual")
    await tenant.put_queue("sales")
    await tenant.put_agent("ana")
    await tenant.state("ana", "available")
    rt = service.runtime

    # SQL commits a new version of the queue; Redis never hears of it (it was down).
    async with rt.db.sessions.begin() as session:
        await repo.put_config(session, "queue", tenant.id, "sales",
                              {"strategy": "longest-idle", "offer_timeout_s": 20,
                               "requirements": [{"skill": "french", "min_level": 5}]},
                              to_datetime(rt.clock.now_ms()))
    call = await tenant.arrive("sales")
    assert call["state"] == "offered", "Redis still routes by the old configuration"
    await tenant.abandon(call["id"])

    await Background(rt).reproject()

    again = await tenant.arrive("sales")
    assert again["state"] == "queued"
    assert again["waiting_reason"] == "no-eligible-agent"  # ana has no french
    before = await tenant.events()
    await Background(rt).reproject()  # nothing stale now: nothing happens
    assert await tenant.events() == before

"""A small day of events for the event tests: two queues, calls in both, one moving between."""

from __future__ import annotations

from tests.support import Json, TenantApi


async def busy_day(t: TenantApi) -> None:
    """Two queues, an agent on each, calls in both and one moving from sales to support."""
    await t.put_queue("sales")
    await t.put_queue("support")
    await t.put_agent("ana", queues=["sales"])
    await t.put_agent("bob", queues=["support"])
    await t.state("ana", "available")
    moved = await t.arrive("sales")
    await t.accept(moved["id"])
    await t.transfer(moved["id"], queue="support")
    await t.abandon((await t.arrive("support"))["id"])
    await t.arrive("sales")
    await t.state("bob", "available")


def about(event: Json, queue: str) -> bool:
    data = event["data"]
    return queue in (data.get("queue"), data.get("from_queue"), data.get("call", {}).get("queue"))

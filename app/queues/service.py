"""Queues: configuration in SQL, projected into Redis with the agents eligible for it."""

from __future__ import annotations

from app.clock import to_datetime
from app.db import repositories as repo
from app.errors import SwitchboardError, conflict, invalid, not_found
from app.projection import queue_request
from app.queues.schemas import Queue, QueueConfig
from app.routing.registry import UnknownStrategy
from app.runtime import Runtime


def _queue(row: repo.ConfigRow) -> Queue:
    return Queue.model_validate({**row.config, "id": row.id, "version": row.version})


async def put_queue(rt: Runtime, tenant: str, queue_id: str, body: QueueConfig) -> Queue:
    try:
        rt.strategies.get(body.strategy)
    except UnknownStrategy as e:
        raise invalid("strategy", f"unknown strategy {e.name!r}; available: "
                      f"{', '.join(e.available)}") from None
    if body.overflow_queue == queue_id:
        raise invalid("overflow_queue", "a queue cannot overflow into itself")
    config = body.model_dump(mode="json")
    async with rt.db.sessions.begin() as session:
        if body.overflow_queue is not None and await repo.get_config(
                session, "queue", tenant, body.overflow_queue) is None:
            raise invalid("overflow_queue", f"unknown queue {body.overflow_queue!r}")
        version = await repo.put_config(session, "queue", tenant, queue_id, config,
                                        to_datetime(rt.clock.now_ms()))
    reply = await rt.run("upsert_queue", tenant, queue_request(queue_id, config, version),
                         queues=[queue_id])
    await rt.settle(tenant, reply)
    return Queue.model_validate({**config, "id": queue_id, "version": version})


async def get_queue(rt: Runtime, tenant: str, queue_id: str) -> Queue:
    async with rt.db.sessions() as session:
        row = await repo.get_config(session, "queue", tenant, queue_id)
    if row is None:
        raise not_found("queue", queue_id)
    return _queue(row)


async def list_queues(rt: Runtime, tenant: str) -> list[Queue]:
    async with rt.db.sessions() as session:
        return [_queue(r) for r in await repo.list_configs(session, "queue", tenant)]


async def delete_queue(rt: Runtime, tenant: str, queue_id: str) -> None:
    # The SQL delete waits uncommitted while Redis checks and removes atomically: a queue with
    # calls, or one that agents or another queue's overflow name, stays in both.
    async with rt.db.sessions.begin() as session:
        if not await repo.delete_config(session, "queue", tenant, queue_id):
            raise not_found("queue", queue_id)
        reply = await rt.run("delete_queue", tenant, {"queue": queue_id}, queues=[queue_id])
        if reply.error == "queue-not-empty":
            raise conflict("queue-not-empty", "Queue is not empty",
                           f"Queue {queue_id!r} has {reply.details.get('calls')} calls waiting "
                           "or ringing; it can be deleted when it is empty.", queue=queue_id)
        if reply.error == "queue-in-use":
            raise conflict(
                "queue-in-use", "Queue is in use",
                f"Queue {queue_id!r} is still named by agents {reply.details.get('agents')} "
                f"or as the overflow of queues {reply.details.get('overflow_from')}.",
                queue=queue_id, agents=reply.details.get("agents"),
                overflow_from=reply.details.get("overflow_from"))
        if reply.error not in (None, "queue-not-found"):
            raise SwitchboardError(500, "internal-error", "Internal error", str(reply.error))

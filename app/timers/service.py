"""Firing due timers, each exactly once, in time order.

A timer is a member of the tenant's `timers` zset naming what it acts on. `fire_due` asks the
`timer` script to fire the first one due by `limit_ms`; the script removes it in the same
atomic step as the transition, so of replicas sweeping together one fires it and the others
see it gone. On a manual clock, the clock moves to each timer's due time as it fires.
"""

from __future__ import annotations

from app.routing.records import opt_int
from app.runtime import Runtime


def _hints(member: str | None) -> tuple[list[str], str | None]:
    """The queue keys and agent a timer will need, read off its member."""
    if member is None:
        return [], None
    parts = member.split("|")
    if parts[0] == "offer" and len(parts) == 5:
        return [parts[3]], parts[4]
    if parts[0] in ("wait", "pref") and len(parts) == 4:
        return [parts[3]], None
    if parts[0] == "relax" and len(parts) == 5:
        return [parts[4]], None
    if parts[0] == "wrap" and len(parts) == 3:
        return [], parts[1]
    return [], None


async def fire_due(rt: Runtime, tenant: str, limit_ms: int, *, manual: bool,
                   max_steps: int = 1_000_000) -> int:
    """Fire every timer due at or before limit_ms; returns how many fired."""
    member: str | None = None
    fired = 0
    for _ in range(max_steps):
        queues, agent = _hints(member)
        reply = await rt.run("timer", tenant,
                             {"member": member, "limit_ms": limit_ms, "manual": manual},
                             queues=queues, agent=agent)
        if reply.idle:
            return fired
        if reply.peek is not None:
            member = reply.peek
            continue
        fired += 1
        # A manual clock moves to each timer's due time: only the wall-clock sweep is late.
        if not manual and (due_ms := opt_int(reply.details.get("due_ms"))) is not None:
            rt.metrics.timer_fired(reply.fired, reply.now_ms - due_ms)
        await rt.settle(tenant, reply)
        member = reply.next_timer
    return fired

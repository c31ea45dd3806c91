"""The Lua scripts and the one way to run them.

Every script is `lua/common.lua` and `lua/lifecycle.lua` followed by its verb file, loaded
once per connection pool (redis-py re-sends a script that a restarted server no longer has).
A script that needs a queue's keys it was not given answers `need` without writing;
`Store.run` adds them and asks again. An agent's queues are remembered per process, so the
common case is one round trip.
"""

from __future__ import annotations

import json
from importlib.resources import files

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from app.clock import WallClock
from app.store import keys
from app.store.records import Reply

VERBS = (
    "enqueue", "claim", "accept", "reject", "abandon", "complete", "transfer", "patch",
    "agent_state", "timer", "peek", "explain", "realtime", "project_tenant", "upsert_queue",
    "delete_queue", "upsert_agent", "delete_agent",
)
# Projection runs before the tenant is marked projected (its meta is written last).
UNGUARDED = frozenset({"project_tenant", "upsert_queue", "upsert_agent"})
MAX_NEED_ROUNDS = 4


class TenantNotProjected(Exception):
    """Redis has no trace of the tenant (first use by this Redis, or a restart without AOF)."""


PRELUDE = ("common.lua", "lifecycle.lua")


def _source(verb: str) -> str:
    lua = files("app.store") / "lua"
    return "\n".join((lua / name).read_text() for name in (*PRELUDE, f"{verb}.lua"))


class Store:
    """Runs the verbs of the live state against one Redis (or Redis Cluster)."""

    def __init__(self, redis: Redis, clock: WallClock, *, events_max_len: int,
                 candidate_limit: int) -> None:
        self.redis = redis
        self.clock = clock
        self.events_max_len = events_max_len
        self.candidate_limit = candidate_limit
        self._scripts: dict[str, AsyncScript] = {
            verb: redis.register_script(_source(verb)) for verb in VERBS
        }
        self._agent_queues: dict[tuple[str, str], set[str]] = {}

    async def load(self) -> None:
        """Load every script into the server now (readiness), instead of on first use."""
        for script in self._scripts.values():
            script.sha = await self.redis.script_load(script.script)

    async def run(self, verb: str, tenant: str, request: dict[str, object], *,
                  queues: tuple[str, ...] | list[str] = (), agent: str | None = None) -> Reply:
        wanted = list(dict.fromkeys(queues))
        known = self._agent_queues.get((tenant, agent)) if agent else None
        if known:
            wanted.extend(q for q in sorted(known) if q not in wanted)
        request = {"limit": self.candidate_limit, **request}
        for _ in range(MAX_NEED_ROUNDS):
            request["queues"] = wanted
            queue_keys = [k for q in wanted for k in keys.queue_keys(tenant, q)]
            raw = await self._scripts[verb](
                keys=[*keys.fixed(tenant), *queue_keys],
                args=[json.dumps(request, separators=(",", ":")), self.clock.now_ms(),
                      self.events_max_len, "unguarded" if verb in UNGUARDED else "guarded"],
            )
            reply = Reply.parse(str(raw))
            if reply.error == "unprojected":
                raise TenantNotProjected(tenant)
            need = reply.details.get("need")
            if not isinstance(need, list):
                return reply
            wanted.extend(str(q) for q in need if q not in wanted)
            if agent:
                self._agent_queues.setdefault((tenant, agent), set()).update(map(str, need))
        raise RuntimeError(f"{verb}: queue keys still missing after {MAX_NEED_ROUNDS} rounds")

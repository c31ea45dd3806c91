"""The Lua scripts and the one way to run them.

Every script is `lua/common.lua`, `lua/staffing.lua` and `lua/lifecycle.lua` followed by its
verb file, run by its SHA1. A server (or cluster node) that does not have it, after a restart
or a failover, answers NOSCRIPT; the script then runs once in full with EVAL, which also
caches it there. A script that needs a queue's keys it was not given answers `need` without
writing; `Store.run` adds them and asks again. An agent's queues are remembered per process,
and so is the agent of a call this process saw offered or connected (a request about a call
names only the call, but ending it frees its agent, whose queues the script needs), so the
common case is one round trip.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

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
# Calls whose agent is remembered, per process: the most recently offered or connected ones.
CALL_AGENTS_KEPT = 20_000


class TenantNotProjected(Exception):
    """Redis has no trace of the tenant (first use by this Redis, or a restart without AOF)."""


PRELUDE = ("common.lua", "staffing.lua", "lifecycle.lua")


@dataclass(frozen=True, slots=True)
class Script:
    source: str
    sha: str

    @classmethod
    def of(cls, verb: str) -> Script:
        lua = files("app.store") / "lua"
        source = "\n".join((lua / name).read_text() for name in (*PRELUDE, f"{verb}.lua"))
        return cls(source, hashlib.sha1(source.encode()).hexdigest())


class Store:
    """Runs the verbs of the live state against one Redis (or Redis Cluster)."""

    def __init__(self, redis: Redis, clock: WallClock, *, events_max_len: int,
                 candidate_limit: int) -> None:
        self.redis = redis
        self.clock = clock
        self.events_max_len = events_max_len
        self.candidate_limit = candidate_limit
        self.scripts = {verb: Script.of(verb) for verb in VERBS}
        self._agent_queues: dict[tuple[str, str], set[str]] = {}
        self._call_agents: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._loaded = False

    async def load(self) -> None:
        """Load every script into Redis (every primary of a cluster), once per process; a
        server that loses them later gets each one again on its first NOSCRIPT."""
        if self._loaded:
            return
        for script in self.scripts.values():
            await self.redis.script_load(script.source)  # a cluster sends it to every primary
        self._loaded = True

    async def ping(self) -> None:
        """Redis answers. On a cluster, any primary will do: one shard down stops only its
        own tenants, so it must not take every replica out of service."""
        if not isinstance(self.redis, RedisCluster):
            await self.redis.ping()
            return
        cluster: RedisCluster = self.redis
        await cluster.initialize()  # learns the primaries on first use; then a no-op
        errors: list[Exception] = []
        for node in cluster.get_primaries():
            try:
                await cluster.ping(target_nodes=node)
                return
            except (RedisConnectionError, RedisTimeoutError) as e:
                errors.append(e)
        raise errors[0] if errors else RedisConnectionError("no Redis Cluster primary is known")

    async def _eval(self, verb: str, keys: list[str], args: list[str | int]) -> Any:
        script = self.scripts[verb]
        try:
            return await self.redis.evalsha(script.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self.redis.eval(script.source, len(keys), *keys, *args)

    async def run(self, verb: str, tenant: str, request: dict[str, object], *,
                  queues: tuple[str, ...] | list[str] = (), agent: str | None = None) -> Reply:
        wanted = list(dict.fromkeys(queues))
        if agent is None and isinstance(call_id := request.get("call_id"), str):
            agent = self._call_agents.get((tenant, call_id))
        known = self._agent_queues.get((tenant, agent)) if agent else None
        if known:
            wanted.extend(q for q in sorted(known) if q not in wanted)
        request = {"limit": self.candidate_limit, **request}
        for _ in range(MAX_NEED_ROUNDS):
            request["queues"] = wanted
            queue_keys = [k for q in wanted for k in keys.queue_keys(tenant, q)]
            raw = await self._eval(
                verb, [*keys.fixed(tenant), *queue_keys],
                [json.dumps(request, separators=(",", ":")), self.clock.now_ms(),
                 self.events_max_len, "unguarded" if verb in UNGUARDED else "guarded"])
            reply = Reply.parse(str(raw))
            if reply.error == "unprojected":
                raise TenantNotProjected(tenant)
            need = reply.details.get("need")
            if not isinstance(need, list):
                self._remember_agent(tenant, reply)
                return reply
            wanted.extend(str(q) for q in need if q not in wanted)
            if agent:
                self._agent_queues.setdefault((tenant, agent), set()).update(map(str, need))
        raise RuntimeError(f"{verb}: queue keys still missing after {MAX_NEED_ROUNDS} rounds")

    def _remember_agent(self, tenant: str, reply: Reply) -> None:
        call = reply.call
        if call is None:
            return
        agent = call.agent_id or (call.offer.agent_id if call.offer else None)
        key = (tenant, call.id)
        if agent is None or call.ended_ms is not None:
            self._call_agents.pop(key, None)
            return
        self._call_agents[key] = agent
        self._call_agents.move_to_end(key)
        if len(self._call_agents) > CALL_AGENTS_KEPT:
            self._call_agents.popitem(last=False)

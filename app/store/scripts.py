"""The Lua scripts and the one way to run them.

Every script is `lua/common.lua` and `lua/lifecycle.lua` followed by its verb file, run by
its SHA1. A server (or cluster node) that does not have it, after a restart or a failover,
answers NOSCRIPT; the script then runs once in full with EVAL, which also caches it there.
A script that needs a queue's keys it was not given answers `need` without writing;
`Store.run` adds them and asks again. An agent's queues are remembered per process, so the
common case is one round trip.
"""

from __future__ import annotations

import hashlib
import json
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


class TenantNotProjected(Exception):
    """Redis has no trace of the tenant (first use by this Redis, or a restart without AOF)."""


PRELUDE = ("common.lua", "lifecycle.lua")


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
                return reply
            wanted.extend(str(q) for q in need if q not in wanted)
            if agent:
                self._agent_queues.setdefault((tenant, agent), set()).update(map(str, need))
        raise RuntimeError(f"{verb}: queue keys still missing after {MAX_NEED_ROUNDS} rounds")

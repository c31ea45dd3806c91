"""Opening Redis: a real server (redis://, rediss://, unix://), a Redis Cluster
(redis+cluster://, rediss+cluster://, any one node as the seed) or the embedded one
(memory://)."""

from __future__ import annotations

from typing import cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster

CLUSTER_SCHEMES = {"redis+cluster://": "redis://", "rediss+cluster://": "rediss://"}


def open_redis(url: str, *, max_connections: int = 128, pool_timeout_s: float = 5.0) -> Redis:
    if url.startswith("memory://"):
        # In-process Redis with Lua, for a bare machine: state lives as long as the process.
        import fakeredis

        return cast(Redis, fakeredis.FakeAsyncRedis(decode_responses=True))
    for scheme, plain in CLUSTER_SCHEMES.items():
        if url.startswith(scheme):
            # Every key of a tenant carries its hash tag, so each script runs on one shard.
            # The cluster client follows MOVED/ASK; Store runs a script a node lacks in full.
            cluster = RedisCluster.from_url(
                plain + url.removeprefix(scheme), decode_responses=True,
                max_connections=max_connections, socket_connect_timeout=2, socket_timeout=5)
            # The commands Switchboard uses have the same signatures on both clients.
            return cast(Redis, cluster)
    # A blocking pool: a burst of requests waits for a free connection instead of failing
    # with "Too many connections" (which would read as Redis being down).
    pool = BlockingConnectionPool.from_url(
        url, decode_responses=True, max_connections=max_connections, timeout=pool_timeout_s,
        health_check_interval=10, socket_connect_timeout=2, socket_timeout=5)
    return Redis.from_pool(pool)  # owns the pool: aclose() disconnects it

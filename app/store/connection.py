"""Opening Redis: a real server (redis://, rediss://, unix://) or the embedded one (memory://)."""

from __future__ import annotations

from typing import cast

from redis.asyncio import Redis


def open_redis(url: str) -> Redis:
    if url.startswith("memory://"):
        # In-process Redis with Lua, for a bare machine: state lives as long as the process.
        import fakeredis

        return cast(Redis, fakeredis.FakeAsyncRedis(decode_responses=True))
    return Redis.from_url(url, decode_responses=True, health_check_interval=10,
                          socket_connect_timeout=2, socket_timeout=5)

"""The event streams (SSE) one process serves at once.

A stream spends its life in a blocking read of the tenant's event stream, holding a Redis
connection while it waits. Those connections come from a pool of their own, sized to the
limit, so that however many clients follow, routing keeps its pool. One stream more than the
limit is refused before it starts (503 `too-many-streams`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis.asyncio import Redis

from app.errors import SwitchboardError


class Streams:
    def __init__(self, redis: Redis, limit: int) -> None:
        self.redis = redis  # the streams' own client (the shared one on memory://)
        self.limit = limit
        self.open = 0

    def check(self) -> None:
        """Refuse a new stream while every slot is taken."""
        if self.open >= self.limit:
            raise SwitchboardError(
                503, "too-many-streams", "Too many event streams",
                f"This process already serves its {self.limit} event streams "
                "(SWITCHBOARD_SSE_MAX_STREAMS). Retry later, or poll GET /v1/events.",
                limit=self.limit)

    @contextmanager
    def slot(self) -> Iterator[bool]:
        """Holds a slot while the stream runs; False when another stream took the last one
        since `check` (the stream then ends at once and its client reconnects)."""
        if self.open >= self.limit:
            yield False
            return
        self.open += 1
        try:
            yield True
        finally:
            self.open -= 1

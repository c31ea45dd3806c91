"""The history writer: the `history` consumer group writes each event's history rows into SQL
(app/history/writer.py; how groups are consumed: app/events/consumers.py)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.events.consumers import GroupConsumer
from app.history import writer
from app.store.reads import StoredEvent

GROUP = "history"


class HistoryConsumer(GroupConsumer):
    group = GROUP

    async def handle(self, session: AsyncSession, tenant: str,
                     events: Sequence[StoredEvent]) -> None:
        await writer.write(session, tenant, events)

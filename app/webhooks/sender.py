"""The webhook sender: takes due deliveries from the outbox, one at a time per line (a call's
events, an agent's) and in event order, signs and POSTs them with one shared HTTP client and
bounded concurrency, and records every attempt. A 2xx acknowledges; anything else is retried
with exponential backoff and jitter (a `Retry-After` is honoured) until the retry window is
over. A subscription failing without a break for `webhook_pause_after_s` is paused (event
`webhook.paused`); its deliveries wait until it is resumed. Many replicas may run it: a
delivery is leased before it is sent."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog
from sqlalchemy import and_, exists, insert, or_, select, tuple_, update
from sqlalchemy.orm import aliased

from app.clock import rfc3339, to_datetime
from app.db.models import Webhook
from app.runtime import Runtime
from app.store import keys
from app.webhooks import signing
from app.webhooks.outbox import WebhookAttempt, WebhookDelivery
from app.webhooks.targets import IPAddress, non_public_kind

log = structlog.get_logger("switchboard.webhooks")

LEASE = timedelta(seconds=60)  # a sender that died mid-send gives its deliveries back


@dataclass(frozen=True, slots=True)
class Result:
    status_code: int | None
    latency_ms: int
    error: str | None
    retry_after_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


Sent = tuple[WebhookDelivery, Webhook, "Result"]


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - now).total_seconds())
    except (TypeError, ValueError):
        return None


async def _private_address(url: str) -> str | None:
    """Why the URL's host must not be reached (it resolves to a non-public address), if so."""
    host = urlsplit(url).hostname or ""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None)
    except OSError as e:
        return f"{host} does not resolve ({e})"
    for info in infos:
        ip: IPAddress = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        kind = non_public_kind(ip)
        if kind is not None:
            return f"{host} resolves to {ip}, a {kind} address"
    return None


async def post(client: httpx.AsyncClient, url: str, secret: str, message_id: str,
               body: bytes, *, allow_private: bool, timeout_s: float) -> Result:
    """One signed POST; never raises."""
    started = time.monotonic()

    def took() -> int:
        return round((time.monotonic() - started) * 1000)

    if not allow_private and (refusal := await _private_address(url)):
        return Result(None, took(), refusal)
    headers = signing.headers(secret, message_id, int(time.time()), body)
    try:
        response = await client.post(url, content=body, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as e:
        return Result(None, took(), f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)
    error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
    return Result(response.status_code, took(), error,
                  retry_after(response.headers.get("retry-after"),
                              datetime.now().astimezone()))


def backoff_s(attempts: int, base_s: float, max_s: float) -> float:
    """Exponential, capped, with jitter (half to all of the step) so retries do not bunch."""
    step: float = min(max_s, base_s * 2.0 ** max(0, attempts - 1))
    return step * random.uniform(0.5, 1.0)


class Sender:
    def __init__(self, rt: Runtime, client: httpx.AsyncClient | None = None) -> None:
        self.rt = rt
        self.client = client or httpx.AsyncClient(follow_redirects=False)
        self._slots = asyncio.Semaphore(rt.settings.webhook_concurrency)
        self._leased: set[tuple[str, str, str]] = set()  # leased, outcome not yet recorded

    async def close(self) -> None:
        """Give back the leases of a pass cut short (a replica stopping), so another replica
        sends those deliveries now instead of after the lease runs out."""
        if self._leased:
            d = WebhookDelivery
            try:
                async with self.rt.db.sessions.begin() as session:
                    await session.execute(
                        update(d).where(tuple_(d.tenant_id, d.webhook_id, d.event_id).in_(
                            sorted(self._leased)), d.status == "pending")
                        .values(locked_until=None))
                self._leased.clear()
            except Exception:  # SQL away: the leases run out by themselves
                log.warning("webhook leases not given back", leases=len(self._leased),
                            exc_info=True)
        await self.client.aclose()

    async def step(self) -> int:
        """Send what is due now, then record every attempt in one transaction; the
        deliveries attempted. (A sender that dies before recording sends them again: at
        least once.)"""
        now = to_datetime(self.rt.clock.now_ms())
        lines = await self._lease(now)
        sent: list[Sent] = []
        held: list[WebhookDelivery] = []
        for line_sent, line_held in await asyncio.gather(*map(self._send_line, lines)):
            sent.extend(line_sent)
            held.extend(line_held)
        if sent or held:
            for hook, reason in await self._record(sent, held):
                await append_event(self.rt, hook.tenant_id, "webhook.paused",
                                   {"webhook_id": hook.id, "reason": reason})
        self._leased.clear()  # recorded: each lease is released or the delivery is done
        return len(sent)

    async def _lease(self, now: datetime) -> list[list[tuple[WebhookDelivery, Webhook]]]:
        """Due deliveries, by line, each line from its first pending one on (a line whose
        head waits for a retry, or is out with another sender, is left alone)."""
        d, earlier = WebhookDelivery, aliased(WebhookDelivery)
        held_back = exists().where(
            earlier.tenant_id == d.tenant_id, earlier.webhook_id == d.webhook_id,
            earlier.line == d.line, earlier.status == "pending", earlier.seq < d.seq,
            or_(earlier.next_attempt_at > now, earlier.locked_until >= now))
        query = (
            select(d, Webhook)
            .join(Webhook, and_(Webhook.tenant_id == d.tenant_id, Webhook.id == d.webhook_id))
            .where(d.status == "pending", d.next_attempt_at <= now, Webhook.status == "active",
                   or_(d.locked_until.is_(None), d.locked_until < now), ~held_back)
            .order_by(d.seq).limit(self.rt.settings.webhook_batch))
        lines: dict[tuple[str, str, str], list[tuple[WebhookDelivery, Webhook]]] = {}
        async with self.rt.db.sessions.begin() as session:
            rows = [(r[0], r[1]) for r in await session.execute(query)]
            if not rows:
                return []
            # One statement leases them all; what another sender took meanwhile is not
            # returned, and the rest of its line waits.
            keys = [(r.tenant_id, r.webhook_id, r.event_id) for r, _ in rows]
            leased = await session.execute(
                update(d).where(tuple_(d.tenant_id, d.webhook_id, d.event_id).in_(keys),
                                or_(d.locked_until.is_(None), d.locked_until < now))
                .values(locked_until=now + LEASE)
                .returning(d.tenant_id, d.webhook_id, d.event_id))
            taken = {(r[0], r[1], r[2]) for r in leased}
            cut: set[tuple[str, str, str]] = set()
            for delivery, hook in rows:
                line = (delivery.tenant_id, delivery.webhook_id, delivery.line)
                if line in cut:
                    continue
                if (delivery.tenant_id, delivery.webhook_id, delivery.event_id) in taken:
                    lines.setdefault(line, []).append((delivery, hook))
                else:
                    cut.add(line)
            kept = {(row.tenant_id, row.webhook_id, row.event_id)
                    for line_rows in lines.values() for row, _ in line_rows}
            # Rows leased behind one another sender took meanwhile must wait for it: give
            # them back now, or that line would stand still until the lease ran out.
            if taken - kept:
                await session.execute(
                    update(d).where(tuple_(d.tenant_id, d.webhook_id, d.event_id).in_(
                        sorted(taken - kept))).values(locked_until=None))
        self._leased |= kept
        return list(lines.values())

    async def _send_line(self, line: list[tuple[WebhookDelivery, Webhook]]
                         ) -> tuple[list[Sent], list[WebhookDelivery]]:
        """In order; the first that fails holds the rest of the line back."""
        sent: list[Sent] = []
        s = self.rt.settings
        for i, (delivery, hook) in enumerate(line):
            body = json.dumps(delivery.payload, separators=(",", ":")).encode()
            async with self._slots:
                result = await post(self.client, hook.url, hook.secret, delivery.event_id,
                                    body, allow_private=s.webhook_allow_private,
                                    timeout_s=s.webhook_timeout_s)
            self.rt.metrics.webhook_duration.observe(result.latency_ms / 1000)
            sent.append((delivery, hook, result))
            if not result.ok:
                return sent, [d for d, _ in line[i + 1:]]
        return sent, []

    async def _record(self, sent: list[Sent], held: list[WebhookDelivery]
                      ) -> list[tuple[Webhook, str]]:
        """Every attempt, each delivery's new state, the leases given back, and each
        subscription's health; the subscriptions paused now, with why."""
        s = self.rt.settings
        now = to_datetime(self.rt.clock.now_ms())
        d = WebhookDelivery
        health: dict[tuple[str, str], tuple[Webhook, Result]] = {}
        changes: list[dict[str, Any]] = []
        tries: list[dict[str, Any]] = []
        outcomes: list[tuple[Webhook, str]] = []  # for the metrics, once committed
        for delivery, hook, result in sent:
            attempts = delivery.attempts + 1
            change: dict[str, Any] = {
                "tenant_id": delivery.tenant_id, "webhook_id": delivery.webhook_id,
                "event_id": delivery.event_id, "attempts": attempts, "locked_until": None,
                "last_error": result.error, "status": "pending", "done_at": None,
                "next_attempt_at": delivery.next_attempt_at}
            if result.ok:
                change.update(status="delivered", done_at=now)
                outcomes.append((hook, "delivered"))
            elif now - _aware(delivery.created_at) >= timedelta(
                    seconds=s.webhook_retry_window_s):
                change.update(status="failed", done_at=now)  # given up: the line moves on
                outcomes.append((hook, "gave_up"))
            else:
                outcomes.append((hook, "retrying"))
                wait = backoff_s(attempts, s.webhook_backoff_base_s, s.webhook_backoff_max_s)
                change["next_attempt_at"] = now + timedelta(
                    seconds=max(wait, result.retry_after_s or 0))
            changes.append(change)
            tries.append({
                "tenant_id": delivery.tenant_id, "webhook_id": delivery.webhook_id,
                "event_id": delivery.event_id, "event_type": delivery.event_type,
                "attempt": attempts, "attempted_at": now, "status_code": result.status_code,
                "latency_ms": result.latency_ms, "error": result.error})
            seen = health.get((hook.tenant_id, hook.id))
            if seen is None or not seen[1].ok:  # one success in the pass is a break
                health[(hook.tenant_id, hook.id)] = (hook, result)
        async with self.rt.db.sessions.begin() as session:
            if changes:  # bulk UPDATE by primary key, and one multi-row INSERT
                await session.execute(update(d), changes)
                await session.execute(insert(WebhookAttempt), tries)
            if held:
                await session.execute(
                    update(d).where(tuple_(d.tenant_id, d.webhook_id, d.event_id).in_(
                        [(h.tenant_id, h.webhook_id, h.event_id) for h in held]))
                    .values(locked_until=None))
            paused = []
            for hook, result in health.values():
                reason = await self._health(session, hook, result, now)
                if reason:
                    paused.append((hook, reason))
        stopped = {(hook.tenant_id, hook.id) for hook, _ in paused}
        for hook, outcome in outcomes:  # a retry that waits for a resume now counts as paused
            if outcome == "retrying" and (hook.tenant_id, hook.id) in stopped:
                outcome = "paused"
            self.rt.metrics.webhook_attempts.labels(hook.tenant_id, outcome).inc()
        return paused

    async def _health(self, session: Any, hook: Webhook, result: Result,
                      now: datetime) -> str | None:
        """Track how long the subscription has failed; the reason when it is paused now."""
        w = Webhook
        where = (w.tenant_id == hook.tenant_id, w.id == hook.id)
        if result.ok:
            await session.execute(update(w).where(*where, w.failing_since.is_not(None))
                                  .values(failing_since=None))
            return None
        row = (await session.execute(select(w).where(*where))).scalar_one_or_none()
        if row is None or row.status != "active":
            return None
        since = _aware(row.failing_since) if row.failing_since else now
        if now - since < timedelta(seconds=self.rt.settings.webhook_pause_after_s):
            if row.failing_since is None:
                await session.execute(update(w).where(*where).values(failing_since=now))
            return None
        reason = (f"every delivery failed since {rfc3339(since.timestamp() * 1000)}; "
                  f"last: {result.error}")
        await session.execute(update(w).where(*where).values(
            status="paused", paused_reason=reason, failing_since=since))
        return reason


def _aware(value: datetime) -> datetime:
    """SQLite gives naive datetimes back; they are UTC."""
    return value if value.tzinfo else value.replace(tzinfo=to_datetime(0).tzinfo)


async def append_event(rt: Runtime, tenant: str, type_: str, data: dict[str, Any]) -> None:
    """An event that no routing script makes (webhook health), on the tenant's stream."""
    await rt.redis.xadd(keys.key(tenant, "events"),
                        {"type": type_, "at": str(rt.clock.now_ms()),
                         "data": json.dumps(data, separators=(",", ":"))},
                        maxlen=rt.settings.events_max_len, approximate=True)


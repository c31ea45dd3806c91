"""Prometheus metrics: every metric Switchboard exposes on `GET /metrics` (docs/metrics.md).

One `Metrics` per app instance, with its own `CollectorRegistry` (tests run many apps in one
process; nothing goes to prometheus_client's global registry). The app makes it in
`create_app`, the request middleware and the runtime (`rt.metrics`) share it, so every call
site is one line.

Two kinds of metric live here:
- recorded as things happen: counters and histograms, attributes of `Metrics`;
- read at scrape time: a *sampler* is an async function that reads Redis (or SQL) and returns
  metric families; `register_sampler` adds one, and `exposition()` runs them all before it
  renders. The event-stream lag is one (`stream_lag`); a synchronous prometheus_client
  collector goes through `register_collector` instead. A sampler that fails (Redis down) is
  skipped and counted, so the in-process metrics are still scraped during an outage.

Labels stay low-cardinality: tenant at most, never call or agent ids; the HTTP method is one of
the standard ones or `other`; the route is its template, or `<unmatched>`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Iterator

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.asyncio import Redis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.store import reads, stream

log = structlog.get_logger("switchboard.metrics")

# The text exposition format, version 0.0.4 (what every Prometheus scrapes).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED = "<unmatched>"  # the route label of a request no route matched
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Timer members start with their kind (app/store/lua/common.lua); anything else is "other".
TIMER_KINDS = frozenset({"offer", "wrap", "wait", "relax", "pref"})

# Server-side targets are ≤ 5 ms per decision and ≤ 50 ms p99 over HTTP (DESIGN §6).
REQUEST_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                     10.0)
# The sweep runs every ~0.1 s, so a healthy lag is under that; minutes mean a stuck sweep.
TIMER_LAG_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                       60.0)
# Receivers answer in tens of ms to seconds; the default request timeout is 10 s.
WEBHOOK_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

Sampler = Callable[[], Awaitable[Iterable[Metric]]]


class Metrics:
    """The registry and every metric recorded as things happen."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._samplers: dict[str, Sampler] = {}
        r = self.registry
        self.requests = Counter(
            "switchboard_http_requests_total", "HTTP requests answered, by method, route "
            "template and status code.", ["method", "route", "status"], registry=r)
        self.request_duration = Histogram(
            "switchboard_http_request_duration_seconds", "Time from a request's arrival to "
            "the end of its response, by method, route template and status code.",
            ["method", "route", "status"], buckets=REQUEST_BUCKETS_S, registry=r)
        self.decisions = Counter(
            "switchboard_routing_decisions_total", "Offers committed by the dispatcher, by "
            "tenant and decision: pick_agent (a call woke routing) or pick_call (an agent "
            "did).", ["tenant", "decision"], registry=r)
        self.claim_conflicts = Counter(
            "switchboard_routing_claim_conflicts_total", "Claims that lost a race (the call "
            "or every ranked agent was taken meanwhile), by tenant and decision.",
            ["tenant", "decision"], registry=r)
        self.timer_lag = Histogram(
            "switchboard_timer_lag_seconds", "How late the background sweep fired wall-clock "
            "timers (time fired minus due time), by timer kind.", ["kind"],
            buckets=TIMER_LAG_BUCKETS_S, registry=r)
        self.webhook_attempts = Counter(
            "switchboard_webhook_attempts_total", "Webhook delivery attempts recorded, by "
            "tenant and outcome: delivered, retrying, paused (its subscription was paused), "
            "gave_up (the retry window is over).", ["tenant", "outcome"], registry=r)
        self.webhook_duration = Histogram(
            "switchboard_webhook_attempt_duration_seconds", "Time of one webhook POST, "
            "from the request to the response (or the error).", buckets=WEBHOOK_BUCKETS_S,
            registry=r)
        self.sampler_failures = Counter(
            "switchboard_metrics_sampler_failures_total", "Scrape-time reads that failed "
            "(their metrics are missing from that scrape), by sampler.", ["sampler"],
            registry=r)

    # Extension points ------------------------------------------------------------------------

    def register_collector(self, collector: Collector) -> None:
        """A synchronous collector (prometheus_client's `Collector`), read at every scrape."""
        self.registry.register(collector)

    def register_sampler(self, name: str, sampler: Sampler) -> None:
        """An async read run at every scrape, its families exposed with the rest. A name
        registered again is replaced (a lifespan run again brings a new Redis client)."""
        self._samplers[name] = sampler

    async def exposition(self) -> bytes:
        """Every metric in the text format (`CONTENT_TYPE`), samplers read now."""
        sampled: list[Metric] = []
        for name, sampler in list(self._samplers.items()):
            try:
                sampled.extend(await sampler())
            except Exception:
                log.warning("metrics sampler failed", sampler=name, exc_info=True)
                self.sampler_failures.labels(name).inc()
        return generate_latest(_Joined(self.registry, sampled))

    # Recording, where a call site would otherwise compute ------------------------------------

    def request(self, method: str, route: str, status: int, duration_s: float) -> None:
        labels = (method if method in METHODS else "other", route, str(status))
        self.requests.labels(*labels).inc()
        self.request_duration.labels(*labels).observe(duration_s)

    def timer_fired(self, member: str | None, lag_ms: int) -> None:
        """A timer the wall-clock sweep fired `lag_ms` after its due time."""
        kind = (member or "").split("|", 1)[0]
        self.timer_lag.labels(kind if kind in TIMER_KINDS else "other").observe(
            max(0, lag_ms) / 1000)


class _Joined:
    """The registry's metrics followed by the families sampled for this scrape."""

    def __init__(self, registry: CollectorRegistry, sampled: list[Metric]) -> None:
        self.registry = registry
        self.sampled = sampled

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()
        yield from self.sampled


def stream_lag(redis: Redis) -> Sampler:
    """Per tenant and consumer group (history, webhooks): events not yet acknowledged and the
    age of the oldest, from XINFO GROUPS at scrape time (app/store/stream.py `lags`)."""

    async def sample() -> list[Metric]:
        unacked = GaugeMetricFamily(
            "switchboard_event_stream_unacknowledged_events", "Events on a tenant's stream "
            "that a consumer group has not acknowledged (not yet delivered to it, or "
            "delivered and not yet handled).", labels=["tenant", "group"])
        age = GaugeMetricFamily(
            "switchboard_event_stream_oldest_unacknowledged_age_seconds", "Age of the "
            "oldest event a consumer group has not acknowledged; 0 when it is caught up.",
            labels=["tenant", "group"])
        for lag in await stream.lags(redis, await reads.tenants(redis)):
            unacked.add_metric([lag.tenant, lag.group], lag.unacknowledged)
            age.add_metric([lag.tenant, lag.group], lag.oldest_age_ms / 1000)
        return [unacked, age]

    return sample


class RequestMetrics:
    """ASGI middleware: counts and times every HTTP request by its route template, read after
    the router has matched (`scope["route"]`). A request that raised counts as a 500."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            self.metrics.request(scope["method"], route, status,
                                 time.perf_counter() - started)

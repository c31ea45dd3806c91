"""Queue depth, longest wait, estimated wait and agents by state for `GET /metrics`, read from
Redis at scrape time (one `realtime` script per tenant, as `GET /v1/realtime` reads them)."""

from __future__ import annotations

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from app.metrics import Sampler
from app.routing.records import as_dict, as_list
from app.store import reads
from app.store.scripts import Store, TenantNotProjected


def live_queues(store: Store) -> Sampler:
    async def sample() -> list[Metric]:
        waiting = GaugeMetricFamily("switchboard_queue_waiting_calls",
                                    "Calls queued and not yet offered.", labels=["tenant", "queue"])
        ringing = GaugeMetricFamily("switchboard_queue_offered_calls",
                                    "Calls of the queue being offered to an agent.",
                                    labels=["tenant", "queue"])
        longest = GaugeMetricFamily("switchboard_queue_longest_wait_seconds",
                                    "The longest a queued call has waited; 0 when none waits.",
                                    labels=["tenant", "queue"])
        estimate = GaugeMetricFamily("switchboard_queue_estimated_wait_seconds",
                                     "Estimated wait of a new voice call (absent before the "
                                     "queue's first handled call).", labels=["tenant", "queue"])
        agents = GaugeMetricFamily("switchboard_agents", "Logged-in agents by state.",
                                   labels=["tenant", "state"])
        for tenant in await reads.tenants(store.redis):
            queues = await reads.queue_ids(store.redis, tenant)
            try:
                reply = await store.run("realtime", tenant, {"report": queues}, queues=queues)
            except TenantNotProjected:
                continue
            for q in map(as_dict, as_list(reply.details.get("queues"))):
                labels = [tenant, str(q["queue"])]
                waiting.add_metric(labels, float(q["waiting"]))
                ringing.add_metric(labels, float(q["offered"]))
                oldest = q.get("oldest_entered_ms")
                longest.add_metric(labels, 0.0 if oldest is None
                                   else max(reply.now_ms - float(oldest), 0) / 1000)
                if q.get("estimate_ms") is not None:
                    estimate.add_metric(labels, float(q["estimate_ms"]) / 1000)
            for state, n in as_dict(reply.details.get("agents")).items():
                agents.add_metric([tenant, str(state)], float(n))
        return [waiting, ringing, longest, estimate, agents]

    return sample

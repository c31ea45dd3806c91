"""How fast the statistics endpoints (`GET /v1/stats/queues`, `GET /v1/stats/agents`) answer
for a month of real calls, on PostgreSQL and on SQLite side by side.

    .venv/bin/python bench/stats.py [--data ../shared/data/anonymous-bank-1999-01.tsv]

The month is January 1999 of the "Anonymous Bank" call centre (31,599 calls; by default the
file beside this checkout, `../shared/data/`, where a README describes the columns).

Starts its own redis-server (loopback, free port, no persistence; stopped by PID on exit,
errors included), creates a fresh PostgreSQL database `sb_bench_<hex>` on 127.0.0.1:5432 (user
postgres; dropped at the end, errors included) and a SQLite file in a temporary directory, and
migrates both. For each database the app runs in process over httpx (ASGI): one tenant (time
zone UTC), a queue per call `type` and an agent per server name through the API, then the month
goes straight into SQL (SQLAlchemy Core, in chunks):

- `call_legs`: one per call that reached a queue. A call served without queueing enters at
  its service start with wait 0; a call that neither queued nor was served is left out.
  AGENT -> completed (resolved, so FCR's look-back runs), HANG and PHANTOM -> abandoned;
  service level threshold 20 s. Times are the data's local clock read as UTC; a time more
  than 12 h before the IVR entry is on the next day (calls across midnight).
- `offer_outcomes` (accepted), `wrap_ups` (0 ms) and a `busy` `agent_intervals` row per call
  answered by a named agent.

PostgreSQL is ANALYZEd after the load (autovacuum would do so within a minute of 30k rows);
SQLite is left as the app leaves it. Timed, each warmed once and then 7 times: queue
statistics for the month at 900, 3600 and 86400 s intervals, all queues and `queue=PS`, and
agent statistics at 3600 and 86400 s. Checked: every queue's month totals against the rows
inserted, the agents' answered calls, offers and busy time, and that both databases give
byte-identical answers. Prints a Markdown table; writes bench/results/stats.json; exits 1 on
a failed check.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `app` importable when run as a script

import httpx  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from app.db.migrate import upgrade  # noqa: E402
from app.history.models import AgentInterval, CallLeg, OfferOutcome, WrapUp  # noqa: E402
from app.main import create_app  # noqa: E402
from app.runtime import Runtime  # noqa: E402
from app.settings import Settings  # noqa: E402
from bench.common import HOST, free_port, pg_admin, start_redis, stop  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "anonymous-bank-1999-01.tsv"
RESULTS = ROOT / "bench" / "results" / "stats.json"
ADMIN = "bench-admin-token"
TENANT = "bank"
MONTH = {"from": "1999-01-01T00:00:00Z", "to": "1999-02-01T00:00:00Z"}
MONTH_MS = (915_148_800_000, 917_827_200_000)
SL_THRESHOLD_MS = 20_000
NEVER = "0:00:00"  # the data's "did not happen"
REPEATS = 7
CHUNK = 5_000
Json = dict[str, Any]

REQUESTS: list[tuple[str, str, dict[str, str]]] = [
    *[(f"queues, month, {s} s", "/v1/stats/queues", {"interval_s": str(s)})
      for s in (900, 3600, 86_400)],
    *[(f"queue PS, month, {s} s", "/v1/stats/queues", {"interval_s": str(s), "queue": "PS"})
      for s in (900, 3600, 86_400)],
    *[(f"agents, month, {s} s", "/v1/stats/agents", {"interval_s": str(s)})
      for s in (3600, 86_400)],
]


def log(msg: str) -> None:
    print(f"[stats {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---- the month, as rows ------------------------------------------------------------------


def sanitise(name: str) -> str:
    """An id the API accepts: ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:64]
    return cleaned if cleaned[:1].isalnum() else f"x{cleaned}"[:64]


def _clock_s(hms: str) -> int:
    h, m, s = (int(x) for x in hms.split(":"))
    return h * 3600 + m * 60 + s


def _ms_to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@dataclass
class QueueSums:
    """What a queue's month totals must come to."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    answered_in_threshold: int = 0
    abandoned_in_threshold: int = 0
    answered_wait_ms: int = 0

    def add(self, leg: Json) -> None:
        self.offered += 1
        if leg["connected_ms"] is not None:
            self.answered += 1
            self.answered_wait_ms += leg["wait_ms"]
            self.answered_in_threshold += leg["wait_ms"] <= leg["sl_threshold_ms"]
        if leg["outcome"] == "abandoned":
            self.abandoned += 1
            self.abandoned_in_threshold += leg["wait_ms"] <= leg["sl_threshold_ms"]

    def merge(self, other: QueueSums) -> None:
        for k, v in vars(other).items():
            setattr(self, k, getattr(self, k) + v)

    @property
    def service_level(self) -> float | None:
        den = self.offered - self.abandoned_in_threshold
        return round(self.answered_in_threshold / den, 6) if den else None

    @property
    def asa_s(self) -> float | None:
        return round(self.answered_wait_ms / self.answered / 1000, 6) if self.answered else None


@dataclass
class Month:
    legs: list[Json] = field(default_factory=list)
    offers: list[Json] = field(default_factory=list)
    wrap_ups: list[Json] = field(default_factory=list)
    intervals: list[Json] = field(default_factory=list)
    queues: set[str] = field(default_factory=set)
    agents: set[str] = field(default_factory=set)
    skipped: int = 0
    expected: dict[str, QueueSums] = field(default_factory=dict)

    @property
    def busy_ms(self) -> int:
        """Busy time inside the month (the endpoint clips intervals at the range)."""
        lo, hi = MONTH_MS
        return sum(max(0, min(i["end_ms"], hi) - max(i["start_ms"], lo)) for i in self.intervals)


def _leg(rec: dict[str, str], call_id: str) -> Json | None:
    """The call_legs row of one call, or None if it never reached a queue."""
    day = datetime.strptime(rec["date"], "%y%m%d").replace(tzinfo=UTC)
    day_ms = int(day.timestamp()) * 1000
    anchor_s = _clock_s(rec["vru_entry"])

    def at(column: str) -> int:
        t = _clock_s(rec[column])
        if t < anchor_s - 43_200:  # no date roll-over in the data: past midnight
            t += 86_400
        return day_ms + t * 1000

    queued = rec["q_start"] != NEVER
    served = rec["outcome"] == "AGENT"
    if not (queued or served):
        return None
    served_ms = None
    if served:  # 42 served calls have no service times: connected as they left queue or IVR
        served_ms = (at("ser_start") if rec["ser_start"] != NEVER
                     else at("q_exit") if queued else at("vru_exit"))
    entered_ms = at("q_start") if queued else served_ms
    assert entered_ms is not None
    customer = rec["customer_id"]
    server = rec["server"]
    if served:
        assert served_ms is not None
        left_ms = at("ser_exit") if rec["ser_start"] != NEVER else served_ms
        wait_ms = int(rec["q_time"]) * 1000
    else:
        left_ms = at("q_exit")
        wait_ms = left_ms - entered_ms
    return {
        "call_id": call_id, "leg": 1, "queue": sanitise(rec["type"]), "channel": "voice",
        "customer_id": None if customer == "0" else customer, "entered_ms": entered_ms,
        "connected_ms": served_ms, "left_ms": left_ms,
        "outcome": "completed" if served else "abandoned",
        "agent_id": None if server == "NO_SERVER" else sanitise(server), "wait_ms": wait_ms,
        "talk_ms": int(rec["ser_time"]) * 1000, "sl_threshold_ms": SL_THRESHOLD_MS,
        "missed_offers": 0, "resolved": True if served else None, "csat": None,
    }


def load(path: Path) -> Month:
    with path.open(newline="") as f:
        records = list(csv.DictReader(f, delimiter="\t"))
    seen = Counter(r["call_id"] for r in records)
    month = Month()
    for line, rec in enumerate(records, start=2):  # line 1 is the header
        month.queues.add(sanitise(rec["type"]))
        if rec["server"] != "NO_SERVER":
            month.agents.add(sanitise(rec["server"]))
        # 7,936 call ids occur more than once (per IVR unit?): those get their line number.
        call_id = rec["call_id"] if seen[rec["call_id"]] == 1 else f"{rec['call_id']}-{line}"
        leg = _leg(rec, call_id)
        if leg is None:
            month.skipped += 1
            continue
        month.legs.append(leg)
        month.expected.setdefault(leg["queue"], QueueSums()).add(leg)
        agent, connected = leg["agent_id"], leg["connected_ms"]
        if agent is None or connected is None:
            continue
        month.offers.append({"event_id": f"offer-{call_id}", "agent_id": agent,
                             "call_id": call_id, "queue": leg["queue"], "at_ms": connected,
                             "outcome": "accepted"})
        month.wrap_ups.append({"event_id": f"wrap-{call_id}", "call_id": call_id,
                               "agent_id": agent, "ended_at": _ms_to_dt(leg["left_ms"]),
                               "wrap_ms": 0})
        if leg["left_ms"] > connected:
            month.intervals.append({"event_id": f"busy-{call_id}", "agent_id": agent,
                                    "state": "busy", "reason": None,
                                    "start_ms": connected, "end_ms": leg["left_ms"]})
    return month


# ---- databases -----------------------------------------------------------------------------


async def bulk_load(engine: AsyncEngine, month: Month) -> None:
    intervals = [{"event_id": i["event_id"], "agent_id": i["agent_id"], "state": i["state"],
                  "reason": i["reason"], "started_at": _ms_to_dt(i["start_ms"]),
                  "ended_at": _ms_to_dt(i["end_ms"])} for i in month.intervals]
    async with engine.begin() as conn:
        for model, rows in ((CallLeg, month.legs), (OfferOutcome, month.offers),
                            (WrapUp, month.wrap_ups), (AgentInterval, intervals)):
            for i in range(0, len(rows), CHUNK):
                chunk = [{"tenant_id": TENANT, **r} for r in rows[i:i + CHUNK]]
                await conn.execute(insert(model.__table__), chunk)  # type: ignore[arg-type]
        if engine.dialect.name == "postgresql":
            await conn.execute(text("ANALYZE"))


def expect(response: httpx.Response, status: int = 200) -> Json:
    if response.status_code != status:
        raise RuntimeError(f"{response.request.method} {response.request.url}: expected "
                           f"{status}, got {response.status_code}: {response.text[:500]}")
    body: Json = response.json()
    return body


@dataclass
class Timing:
    samples_ms: list[float]
    size_kb: float
    sha256: str
    body: Json

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def max_ms(self) -> float:
        return max(self.samples_ms)


async def measure(http: httpx.AsyncClient, path: str, params: dict[str, str],
                  auth: dict[str, str]) -> Timing:
    query = {**MONTH, **params}
    expect(await http.get(path, params=query, headers=auth))  # warm
    samples = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        response = await http.get(path, params=query, headers=auth)
        samples.append((time.perf_counter() - t0) * 1000)
        body = expect(response)
    return Timing(samples, len(response.content) / 1024,
                  hashlib.sha256(response.content).hexdigest(), body)


async def run_database(kind: str, database_url: str, redis_url: str,
                       month: Month) -> dict[str, Timing]:
    t0 = time.monotonic()
    await upgrade(database_url)
    app = create_app(Settings(redis_url=redis_url, database_url=database_url,
                              admin_token=ADMIN, auto_migrate=False, background_tasks=False,
                              log_level="WARNING"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sb",
                                     timeout=300) as http:
            created = expect(await http.post("/v1/tenants", json={"id": TENANT},
                                             headers={"Authorization": f"Bearer {ADMIN}"}), 201)
            auth = {"Authorization": f"Bearer {created['api_key']}"}
            for queue in sorted(month.queues):
                expect(await http.put(f"/v1/queues/{queue}", json={}, headers=auth))
            for agent in sorted(month.agents):
                expect(await http.put(f"/v1/agents/{agent}", json={}, headers=auth))
            rt: Runtime = app.state.runtime
            await bulk_load(rt.db.engine, month)
            log(f"{kind}: migrated and loaded in {time.monotonic() - t0:.1f} s")
            out = {}
            for label, path, params in REQUESTS:
                out[label] = await measure(http, path, params, auth)
                log(f"{kind}: {label}: median {out[label].median_ms:.0f} ms")
    return out


# ---- checks and report --------------------------------------------------------------------


def check(kind: str, month: Month, timings: dict[str, Timing]) -> list[str]:
    """Differences between what the endpoints say and the rows inserted."""
    errors = []
    report = timings["queues, month, 86400 s"].body
    totals = {q["queue"]: q["total"] for q in report["queues"]}
    offered = sum(t["offered"] for t in totals.values())
    if offered != len(month.legs):
        errors.append(f"{kind}: offered {offered} != {len(month.legs)} rows inserted")
    for queue, want in sorted(month.expected.items()):
        got = totals.get(queue)
        if got is None:
            errors.append(f"{kind}: queue {queue} missing from the report")
            continue
        for name in ("offered", "answered", "abandoned", "service_level", "asa_s"):
            mine = getattr(want, name)
            same = (mine == got[name] if mine is None or got[name] is None
                    else abs(mine - got[name]) <= 1e-6)
            if not same:
                errors.append(f"{kind}: queue {queue} {name}: endpoint {got[name]}, rows {mine}")
    for label in (x for x in timings if x.startswith("queues, ")):
        each = {q["queue"]: q["total"]["offered"] for q in timings[label].body["queues"]}
        if each != {q: t["offered"] for q, t in totals.items()}:
            errors.append(f"{kind}: {label}: queue totals differ from the day intervals'")
    agents = timings["agents, month, 86400 s"].body["agents"]
    answered = sum(a["total"]["answered"] for a in agents)
    accepted = sum(a["total"]["accepted"] for a in agents)
    busy_ms = round(sum(a["total"]["busy_s"] for a in agents) * 1000)
    if answered != len(month.offers) or accepted != len(month.offers):
        errors.append(f"{kind}: agents answered {answered}, accepted {accepted}; "
                      f"{len(month.offers)} answered by named agents inserted")
    if busy_ms != month.busy_ms:
        errors.append(f"{kind}: agents busy {busy_ms} ms, rows {month.busy_ms} ms")
    return errors


def sanity_line(month: Month) -> str:
    total = QueueSums()
    for sums in month.expected.values():
        total.merge(sums)
    ps = month.expected["PS"]
    return (f"month totals, all queues: offered {total.offered:,}, answered "
            f"{total.answered:,}, abandoned {total.abandoned:,}, service level "
            f"{total.service_level:.3f}, ASA {total.asa_s:.1f} s (PS: offered {ps.offered:,}, "
            f"service level {ps.service_level:.3f}, ASA {ps.asa_s:.1f} s)")


def table(res: Json) -> str:
    lines = ["| request | PostgreSQL median ms | PostgreSQL max ms | SQLite median ms | "
             "SQLite max ms | response KB |", "|---|---|---|---|---|---|"]
    for r in res["requests"]:
        pg, lite = r["postgresql"], r["sqlite"]
        lines.append(f"| {r['request']} | {pg['median_ms']:.0f} | {pg['max_ms']:.0f} | "
                     f"{lite['median_ms']:.0f} | {lite['max_ms']:.0f} | {r['size_kb']:,.0f} |")
    return "\n".join(lines)


async def bench(redis_port: int, sqlite_dir: str) -> Json:
    t0 = time.monotonic()
    month = load(DATA)
    log(f"read {DATA.name}: {len(month.legs):,} legs ({month.skipped:,} calls never queued "
        f"nor served), {len(month.offers):,} answered by a named agent, "
        f"{len(month.queues)} queues, {len(month.agents)} agents "
        f"in {time.monotonic() - t0:.1f} s")
    name = f"sb_bench_{secrets.token_hex(6)}"
    await pg_admin(f'CREATE DATABASE "{name}"')
    log(f"created PostgreSQL database {name}")
    try:
        pg = await run_database("postgresql", f"postgresql+asyncpg://postgres@{HOST}:5432/"
                                f"{name}", f"redis://{HOST}:{redis_port}/0", month)
    finally:
        await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        log(f"dropped {name}")
    lite = await run_database("sqlite", f"sqlite+aiosqlite:///{sqlite_dir}/stats.db",
                              f"redis://{HOST}:{redis_port}/1", month)
    errors = check("postgresql", month, pg) + check("sqlite", month, lite)
    errors += [f"{label}: PostgreSQL and SQLite answers differ" for label in pg
               if pg[label].sha256 != lite[label].sha256]

    def numbers(t: Timing) -> Json:
        return {"median_ms": round(t.median_ms, 1), "max_ms": round(t.max_ms, 1),
                "samples_ms": [round(x, 1) for x in t.samples_ms]}

    return {
        "requests": [{"request": label, "path": path, "params": {**MONTH, **params},
                      "postgresql": numbers(pg[label]), "sqlite": numbers(lite[label]),
                      "size_kb": round(pg[label].size_kb, 1)}
                     for label, path, params in REQUESTS],
        "rows": {"call_legs": len(month.legs), "offer_outcomes": len(month.offers),
                 "wrap_ups": len(month.wrap_ups), "agent_intervals": len(month.intervals),
                 "calls_skipped": month.skipped},
        "sanity": sanity_line(month), "errors": errors,
    }


def main() -> int:
    global DATA
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the month, as a TSV file")
    DATA = parser.parse_args().data
    if not DATA.is_file():
        print(f"{DATA}: no such file (give --data)", file=sys.stderr)
        return 2
    if shutil.which("redis-server") is None:
        print("redis-server not found", file=sys.stderr)
        return 2
    started = time.monotonic()
    port = free_port()
    redis = start_redis(port, log)
    try:
        with tempfile.TemporaryDirectory(prefix="sb-stats-") as tmp:
            res = asyncio.run(bench(port, tmp))
    finally:
        stop(redis, log)
    res["command"] = ".venv/bin/python bench/stats.py"
    res["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(),
                      "python": platform.python_version()}
    res["duration_s"] = round(time.monotonic() - started, 1)
    res["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=2) + "\n")
    print(table(res))
    print(f"\n{res['sanity']}\nrun time {res['duration_s']} s; {REPEATS} timed requests each "
          f"after one warm-up; wrote {RESULTS.relative_to(ROOT)}")
    for error in res["errors"]:
        print(f"ERROR: {error}", file=sys.stderr)
    return 1 if res["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())

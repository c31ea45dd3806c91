"""Call arrivals against the same worker's bare FastAPI endpoint, arrival→offer latency, and
Redis round trips per arrival and per agent-available (DESIGN §6, docs/benchmarks.md).

    .venv/bin/python bench/arrivals.py --seconds 5

Starts its own redis-server (loopback, free port, no persistence) and a fresh PostgreSQL
database (dropped at the end), runs ONE uvicorn worker of the real app plus `GET /bench/bare`
(bench/bare_app.py), drives it with a closed-loop HTTP/1.1 keep-alive client, then stops the
worker and measures in process. Prints a Markdown table; writes bench/results/latest.json.
Every process it starts is stopped by PID on exit, errors included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `app` and `bench` importable when run as a script

import asyncpg  # noqa: E402
import uvloop  # noqa: E402

from bench.common import HOST, free_port, pct  # noqa: E402
from bench.loadgen import http_request  # noqa: E402

ADMIN_TOKEN = "bench-admin-" + secrets.token_hex(8)
PG_ADMIN_DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
RESULTS = ROOT / "bench" / "results" / "latest.json"
Json = dict[str, Any]


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- processes


class Procs:
    """Every child process, stopped by PID (SIGTERM, then SIGKILL) in reverse order."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, **kw)
        self.procs.append((name, proc))
        log(f"started {name} pid={proc.pid}")
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout_s: float = 10) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self.procs = [(n, p) for n, p in self.procs if p is not proc]

    def stop_all(self) -> None:
        for name, proc in reversed(list(self.procs)):
            log(f"stopping {name} pid={proc.pid}")
            self.stop(proc)


def wait_tcp(port: int, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process {proc.pid} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {HOST}:{port} after {timeout_s}s")


# --------------------------------------------------------------------------- PostgreSQL


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    name = f"sb_bench_{secrets.token_hex(6)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    log(f"created database {name}")
    try:
        base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        yield f"{base}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        log(f"dropped database {name}")


# --------------------------------------------------------------------------- raw HTTP client


class Conn:
    """One HTTP/1.1 keep-alive connection; deliberately minimal so that the client spends as
    little of the shared CPU as possible (httpx costs several times more per request)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 24)
        return cls(reader, writer)

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = None
        for line in head.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
                break
        if length is None:
            raise RuntimeError(f"response without Content-Length: {head[:200]!r}")
        body = await self.reader.readexactly(length) if length else b""
        return status, body

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


def request(method: str, path: str, body: Any = None, token: str | None = None) -> bytes:
    return http_request(method, path, HOST, body, token)


class Client:
    """A pool of connections for the setup and the clean-up steps (not the timed load)."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port, self.token = port, token

    async def one(self, method: str, path: str, body: Any = None,
                  expect: tuple[int, ...] = (200, 201)) -> Json:
        conn = await Conn.open(self.port)
        try:
            status, raw = await conn.send(request(method, path, body, self.token))
        finally:
            await conn.close()
        if status not in expect:
            raise RuntimeError(f"{method} {path}: {status} {raw[:300]!r}")
        return json.loads(raw) if raw else {}

    async def many(self, reqs: list[bytes], concurrency: int = 16,
                   timeout_s: float = 120) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = [(0, b"")] * len(reqs)
        it = iter(enumerate(reqs))

        async def worker() -> None:
            conn = await Conn.open(self.port)
            try:
                for i, raw in it:
                    out[i] = await conn.send(raw)
            finally:
                await conn.close()

        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))),
                               timeout_s)
        bad = [(s, b[:200]) for s, b in out if s not in (200, 201)]
        if bad:
            raise RuntimeError(f"{len(bad)} of {len(reqs)} requests failed, e.g. {bad[0]!r}")
        return out


@dataclass
class LoadResult:
    label: str
    requests: int
    errors: int
    elapsed_s: float
    latencies_ns: list[int] = field(repr=False)
    bodies: list[bytes] = field(repr=False)
    stopped_by: str

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s else 0.0

    def summary(self) -> Json:
        lat = [x / 1e6 for x in self.latencies_ns]
        return {"label": self.label, "requests": self.requests, "errors": self.errors,
                "elapsed_s": round(self.elapsed_s, 3), "rps": round(self.rps, 1),
                "client_p50_ms": round(pct(lat, 50), 2), "client_p99_ms": round(pct(lat, 99), 2),
                "stopped_by": self.stopped_by}


async def closed_loop(port: int, label: str, raw: bytes, seconds: float, connections: int,
                      max_requests: int, keep_bodies: bool = False) -> LoadResult:
    """`connections` workers, each sending the next request when its last one is answered,
    until `seconds` have passed or `max_requests` were sent."""
    conns = [await Conn.open(port) for _ in range(connections)]
    latencies: list[int] = []
    bodies: list[bytes] = []
    sent = 0
    errors = 0
    clock = time.perf_counter_ns
    start = clock()
    deadline = start + int(seconds * 1e9)
    last_done = start

    async def worker(conn: Conn) -> None:
        nonlocal sent, errors, last_done
        while sent < max_requests:
            t0 = clock()
            if t0 >= deadline:
                return
            sent += 1
            status, body = await conn.send(raw)
            t1 = clock()
            latencies.append(t1 - t0)
            last_done = t1
            if status >= 300:
                errors += 1
                if errors <= 3:
                    log(f"{label}: {status} {body[:200]!r}")
            elif keep_bodies:
                bodies.append(body)

    try:
        await asyncio.wait_for(asyncio.gather(*(worker(c) for c in conns)), seconds + 30)
    finally:
        for c in conns:
            await c.close()
    stopped = "count" if sent >= max_requests else "time"
    return LoadResult(label, len(latencies), errors, (last_done - start) / 1e9, latencies,
                      bodies, stopped)


# --------------------------------------------------------------------------- Redis helpers


class RedisControl:
    """A plain RESP connection to the bench Redis for CONFIG RESETSTAT / INFO / MONITOR."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def command(self, *args: str) -> str:
        reader, writer = await asyncio.open_connection(HOST, self.port, limit=1 << 24)
        try:
            writer.write(_resp(args))
            return await _read_reply(reader)
        finally:
            writer.close()

    async def commandstats(self) -> dict[str, int]:
        text = await self.command("INFO", "commandstats")
        out: dict[str, int] = {}
        for line in text.splitlines():
            if line.startswith("cmdstat_"):
                name, rest = line[8:].split(":", 1)
                calls = dict(kv.split("=") for kv in rest.split(","))["calls"]
                out[name] = int(calls)
        return out


def _resp(args: tuple[str, ...] | list[str]) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for a in args:
        b = a.encode()
        parts.append(f"${len(b)}\r\n".encode() + b + b"\r\n")
    return b"".join(parts)


async def _read_reply(reader: asyncio.StreamReader) -> str:
    line = await reader.readline()
    kind, rest = line[:1], line[1:-2]
    if kind == b"$":
        n = int(rest)
        return "" if n < 0 else (await reader.readexactly(n + 2))[:-2].decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    return rest.decode()


@dataclass
class Monitored:
    client: Counter[str]  # top-level commands sent by the measured process: round trips
    lua: Counter[str]  # commands run inside scripts (same round trip)
    stats_total: int  # INFO commandstats, all commands (includes the ones in scripts)
    stats_evalsha: int


async def count_round_trips(port: int, work: Callable[[], Awaitable[None]],
                            timeout_s: float = 60) -> Monitored:
    """CONFIG RESETSTAT, MONITOR, run `work`, then read what was sent. MONITOR tells a client's
    command ("[0 127.0.0.1:port]") from one run inside a script ("[0 lua]"); the bench's own
    control connections are left out. A pipeline would count one per command (upper bound)."""
    ctl = RedisControl(port)
    await ctl.command("CONFIG", "RESETSTAT")
    reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 26)
    own = {f"{HOST}:{writer.get_extra_info('sockname')[1]}"}
    marker = f"bench-end-{secrets.token_hex(4)}"
    client: Counter[str] = Counter()
    lua: Counter[str] = Counter()
    try:
        writer.write(_resp(["MONITOR"]))
        assert (await reader.readline()).startswith(b"+OK")
        await work()
        mreader, mwriter = await asyncio.open_connection(HOST, port)
        own.add(f"{HOST}:{mwriter.get_extra_info('sockname')[1]}")
        mwriter.write(_resp(["ECHO", marker]))
        await _read_reply(mreader)
        mwriter.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            line = (await asyncio.wait_for(reader.readline(), timeout_s)).decode("utf-8",
                                                                                 "replace")
            if marker in line:
                break
            try:
                source = line.split("[", 1)[1].split("]", 1)[0].split(" ", 1)[1]
                command = line.split("] ", 1)[1].split(" ", 1)[0].strip('"\r\n').lower()
            except IndexError:
                continue
            if source == "lua":
                lua[command] += 1
            elif source not in own:
                client[command] += 1
    finally:
        writer.close()
    stats = await ctl.commandstats()
    control = {"config|resetstat", "monitor", "echo", "info"}
    return Monitored(client, lua, sum(v for k, v in stats.items() if k not in control),
                     stats.get("evalsha", 0))


# --------------------------------------------------------------------------- phases


@dataclass
class Bench:
    args: argparse.Namespace
    redis_port: int
    http_port: int
    database_url: str
    redis_url: str
    tenant: str = ""
    key: str = ""
    results: Json = field(default_factory=dict)

    # ---- setup over HTTP (untimed)

    async def setup(self) -> None:
        admin = Client(self.http_port, ADMIN_TOKEN)
        self.tenant = f"bench-{secrets.token_hex(3)}"
        created = await admin.one("POST", "/v1/tenants", {"id": self.tenant, "clock": "wall"})
        self.key = created["api_key"]
        api = Client(self.http_port, self.key)
        for q, auto in (("arrivals", True), ("lat-auto", True), ("lat-manual", False),
                        ("rt-auto", True), ("rt-manual", False)):
            await api.one("PUT", f"/v1/queues/{q}", {"auto_accept": auto, "wrap_up_s": 0})
        groups = {"arrivals": self.args.agents, "lat-auto": 40, "lat-manual": 40,
                  "rt-auto": self.args.rt_count, "rt-manual": self.args.rt_count}
        t0 = time.monotonic()
        puts = [request("PUT", f"/v1/agents/{q}-{i}", {"queues": [q]}, self.key)
                for q, n in groups.items() for i in range(n)]
        await api.many(puts)
        states = [request("POST", f"/v1/agents/{q}-{i}/state", {"state": "available"}, self.key)
                  for q, n in groups.items() for i in range(n)]
        await api.many(states)
        log(f"setup: tenant {self.tenant}, {sum(groups.values())} agents available "
            f"in {time.monotonic() - t0:.1f}s")

    async def complete_all(self, call_ids: list[str]) -> None:
        api = Client(self.http_port, self.key)
        await api.many([request("POST", f"/v1/calls/{c}/complete", {}, self.key)
                        for c in call_ids])

    # ---- phase 1: throughput, side by side

    async def throughput(self) -> None:
        a = self.args
        bare = request("GET", "/bench/bare")
        arrive = request("POST", "/v1/calls", {"queue": "arrivals"}, self.key)
        ctl = RedisControl(self.redis_port)
        # Warm-up (not counted): both paths, then free the agents again.
        await closed_loop(self.http_port, "warm-bare", bare, 1.0, a.connections, 10**9)
        warm = await closed_loop(self.http_port, "warm-arrival", arrive, 1.0, a.connections,
                                 a.agents, keep_bodies=True)
        await self.complete_all([json.loads(b)["id"] for b in warm.bodies])
        rounds: list[Json] = []
        self.arrival_ids: list[str] = []
        for r in range(a.rounds):
            b = await closed_loop(self.http_port, "bare", bare, a.seconds, a.connections, 10**9)
            before = await ctl.commandstats()
            c = await closed_loop(self.http_port, "arrival", arrive, a.seconds, a.connections,
                                  a.agents, keep_bodies=True)
            after = await ctl.commandstats()
            calls = [json.loads(x) for x in c.bodies]
            not_offered = sum(1 for x in calls if x["state"] not in ("offered", "connected"))
            ids = [x["id"] for x in calls]
            self.arrival_ids += ids
            evalsha = after.get("evalsha", 0) - before.get("evalsha", 0)
            row = {"round": r + 1, "bare": b.summary(), "arrival": c.summary(),
                   "ratio": round(c.rps / b.rps, 3) if b.rps else None,
                   "arrivals_not_offered_at_once": not_offered,
                   "evalsha_per_arrival_under_load": round(evalsha / max(1, c.requests), 3)}
            rounds.append(row)
            log(f"round {r + 1}: bare {b.rps:.0f}/s, arrivals {c.rps:.0f}/s "
                f"(ratio {row['ratio']}), stopped by {c.stopped_by}, "
                f"not offered {not_offered}, "
                f"EVALSHA/arrival {row['evalsha_per_arrival_under_load']}")
            await self.complete_all(ids)
        self.results["throughput"] = {
            "connections": a.connections, "seconds_per_round": a.seconds, "rounds": rounds,
            "median_bare_rps": round(statistics.median(r["bare"]["rps"] for r in rounds), 1),
            "median_arrival_rps": round(statistics.median(r["arrival"]["rps"] for r in rounds),
                                        1),
            "median_ratio": round(statistics.median(r["ratio"] for r in rounds), 3),
            "median_arrival_client_p50_ms": statistics.median(
                r["arrival"]["client_p50_ms"] for r in rounds),
            "median_arrival_client_p99_ms": statistics.median(
                r["arrival"]["client_p99_ms"] for r in rounds),
        }

    async def sweep(self) -> None:
        """Diagnostic: one short bare + arrival round at other connection counts."""
        bare = request("GET", "/bench/bare")
        arrive = request("POST", "/v1/calls", {"queue": "arrivals"}, self.key)
        ctl = RedisControl(self.redis_port)
        rows = []
        secs = max(1.0, self.args.seconds / 2)
        for n in [int(x) for x in self.args.sweep.split(",") if x.strip()]:
            b = await closed_loop(self.http_port, "bare", bare, secs, n, 10**9)
            before = await ctl.commandstats()
            c = await closed_loop(self.http_port, "arrival", arrive, secs, n, self.args.agents,
                                  keep_bodies=True)
            after = await ctl.commandstats()
            ids = [json.loads(x)["id"] for x in c.bodies]
            evalsha = after.get("evalsha", 0) - before.get("evalsha", 0)
            rows.append({"connections": n, "bare_rps": round(b.rps, 1),
                         "arrival_rps": round(c.rps, 1),
                         "ratio": round(c.rps / b.rps, 3) if b.rps else None,
                         "arrival_client_p50_ms": c.summary()["client_p50_ms"],
                         "arrival_client_p99_ms": c.summary()["client_p99_ms"],
                         "evalsha_per_arrival_under_load": round(evalsha / max(1, c.requests),
                                                                 3)})
            log(f"sweep {rows[-1]}")
            await self.complete_all(ids)
        self.results["sweep"] = rows

    async def profile(self, procs: Procs, pid: int) -> None:
        """py-spy the worker through one extra arrival round (after the measured ones)."""
        spy = find_py_spy()
        if spy is None:
            log("py-spy not installed: .venv/bin/pip install py-spy")
            return
        raw_path = RESULTS.parent / "py-spy-arrivals.txt"
        secs = self.args.seconds
        p = procs.start("py-spy", [spy, "record", "--pid", str(pid), "--duration",
                                   str(int(secs)), "--rate", "200", "--format", "raw",
                                   "--nonblocking", "-o", str(raw_path)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        arrive = request("POST", "/v1/calls", {"queue": "arrivals"}, self.key)
        c = await closed_loop(self.http_port, "arrival", arrive, secs, self.args.connections,
                              self.args.agents, keep_bodies=True)
        await asyncio.to_thread(p.wait, 30)
        procs.stop(p)
        await self.complete_all([json.loads(x)["id"] for x in c.bodies])
        self.results["profile"] = await asyncio.to_thread(top_frames, raw_path)
        log(f"profile: {raw_path}")

    # ---- phase 2: queued → offered from the event stream

    async def events_latency(self, ids: set[str], label: str) -> Json:
        api = await Conn.open(self.http_port)
        queued: dict[str, float] = {}
        offered: dict[str, float] = {}
        after: str | None = None
        pages = 0
        deadline = time.monotonic() + self.args.events_timeout_s
        try:
            while time.monotonic() < deadline and pages < 2000:
                path = "/v1/events?limit=1000" + (f"&after={after}" if after else "")
                status, raw = await api.send(request("GET", path, token=self.key))
                if status != 200:
                    raise RuntimeError(f"GET /v1/events: {status} {raw[:200]!r}")
                page = json.loads(raw)
                pages += 1
                for e in page["events"]:
                    if e["type"] not in ("call.queued", "call.offered"):
                        continue
                    cid = e["data"]["call"]["id"]
                    if cid in ids:
                        at = datetime.fromisoformat(e["occurred_at"]).timestamp() * 1000
                        (queued if e["type"] == "call.queued" else offered).setdefault(cid, at)
                if len(page["events"]) < 1000:
                    break
                after = page["next_after"]
        finally:
            await api.close()
        deltas = [offered[c] - queued[c] for c in ids if c in queued and c in offered]
        return {"label": label, "calls": len(deltas), "pages": pages,
                "p50_ms": round(pct(deltas, 50), 2), "p99_ms": round(pct(deltas, 99), 2),
                "max_ms": round(max(deltas), 2) if deltas else None,
                "resolution_ms": 1}

    # ---- phase 3: in process (worker stopped): service latency and round trips

    async def in_process(self) -> None:
        from app.agents import service as agents
        from app.agents.schemas import AgentStateChange
        from app.calls import service as calls
        from app.calls.schemas import CallCreate, Complete, OfferAnswer
        from app.main import close_runtime, open_runtime
        from app.settings import Settings

        settings = Settings(redis_url=self.redis_url, database_url=self.database_url,
                            auto_migrate=False, background_tasks=False, log_level="WARNING")
        rt = await open_runtime(settings)
        t = self.tenant
        available = AgentStateChange(state="available")
        away = AgentStateChange(state="away")
        try:
            await rt.store.load()
            # Latency of the service function: arrival → offer committed (no HTTP).
            lat: Json = {}
            for queue, n in (("lat-auto", self.args.inproc), ("lat-manual",
                                                               self.args.inproc // 2)):
                for i in range(40):  # this process learns each agent's queues once
                    await agents.set_state(rt, t, f"{queue}-{i}", available)
                samples: list[float] = []
                ids: list[str] = []
                deadline = time.monotonic() + self.args.inproc_timeout_s
                for _ in range(n):
                    if time.monotonic() > deadline:
                        break
                    body = CallCreate(queue=queue)
                    t0 = time.perf_counter_ns()
                    view, _new = await calls.create_call(rt, t, body)
                    samples.append((time.perf_counter_ns() - t0) / 1e6)
                    if view.state not in ("offered", "connected"):
                        raise RuntimeError(f"{queue}: call {view.id} was not offered at once")
                    ids.append(view.id)
                    if view.state == "offered":
                        await calls.accept(rt, t, view.id, OfferAnswer(offer_id=view.offer.id))
                    await calls.complete(rt, t, view.id, Complete())
                lat[queue] = {"calls": len(samples), "p50_ms": round(pct(samples, 50), 3),
                              "p99_ms": round(pct(samples, 99), 3),
                              "mean_ms": round(statistics.fmean(samples), 3)}
                log(f"in-process create_call {queue}: {lat[queue]}")
            self.results["inprocess_create_call"] = lat

            # Round trips. Every agent is warm in this process before counting (see docs).
            rts: Json = {}
            k = self.args.rt_count
            for queue in ("rt-auto", "rt-manual"):
                names = [f"{queue}-{i}" for i in range(k)]
                for name in names:
                    await agents.set_state(rt, t, name, available)
                created: list[str] = []

                async def arrivals(queue: str = queue, created: list[str] = created) -> None:
                    for _ in range(k):
                        view, _new = await calls.create_call(rt, t, CallCreate(queue=queue))
                        if view.state not in ("offered", "connected"):
                            raise RuntimeError(f"{queue}: arrival not offered at once")
                        created.append(view.id)

                m = await count_round_trips(self.redis_port, arrivals)
                rts[f"arrival ({queue})"] = self._per(m, k)
                for cid in created:  # free the agents (not counted)
                    view = await calls.get_call(rt, t, cid)
                    if view.state == "offered" and view.offer:
                        await calls.accept(rt, t, cid, OfferAnswer(offer_id=view.offer.id))
                    await calls.complete(rt, t, cid, Complete())
                # Agent-available: every agent away, one waiting call for each, then each
                # agent comes back and is offered a call.
                for name in names:
                    await agents.set_state(rt, t, name, away)
                waiting: list[str] = []
                for _ in range(k):
                    view, _new = await calls.create_call(rt, t, CallCreate(queue=queue))
                    if view.state != "queued":
                        raise RuntimeError("expected a waiting call")
                    waiting.append(view.id)
                got: list[str] = []

                async def comebacks(names: list[str] = names, got: list[str] = got) -> None:
                    for name in names:
                        a = await agents.set_state(rt, t, name, available)
                        if a.call_id is None:
                            raise RuntimeError(f"{name} came back but was offered nothing")
                        got.append(a.call_id)

                m = await count_round_trips(self.redis_port, comebacks)
                rts[f"agent-available ({queue})"] = self._per(m, k)
                for cid in got:
                    view = await calls.get_call(rt, t, cid)
                    if view.state == "offered" and view.offer:
                        await calls.accept(rt, t, cid, OfferAnswer(offer_id=view.offer.id))
                    await calls.complete(rt, t, cid, Complete())
            # The same arrival from a process that has not yet seen the chosen agents.
            rt2 = await open_runtime(settings)
            try:
                await rt2.redis.ping()  # the connection handshake is not an arrival's cost
                created2: list[str] = []

                async def cold() -> None:
                    for _ in range(k):
                        view, _new = await calls.create_call(rt2, t,
                                                             CallCreate(queue="rt-auto"))
                        created2.append(view.id)

                m = await count_round_trips(self.redis_port, cold)
                rts["arrival (rt-auto), agents new to this process"] = self._per(m, k)
                for cid in created2:
                    await calls.complete(rt2, t, cid, Complete())
            finally:
                await close_runtime(rt2)
            for name, v in rts.items():
                log(f"round trips {name}: {v['round_trips']} {v['by_command']}")
            self.results["round_trips"] = {"per_operation_count": k, "rows": rts}
        finally:
            await close_runtime(rt)

    @staticmethod
    def _per(m: Monitored, k: int) -> Json:
        return {"operations": k,
                "round_trips": round(sum(m.client.values()) / k, 3),
                "by_command": {c: round(n / k, 3) for c, n in m.client.most_common()},
                "evalsha_commandstats": round(m.stats_evalsha / k, 3),
                "commands_incl_inside_scripts": round(m.stats_total / k, 2)}


# --------------------------------------------------------------------------- report


def find_py_spy() -> str | None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    local = Path(sys.executable).parent / "py-spy"
    return shutil.which("py-spy") or (str(local) if local.exists() else None)


def top_frames(raw_path: Path, n: int = 12) -> Json:
    """From py-spy's collapsed stacks: share of samples with a frame on the stack
    (inclusive, by function) and at the top of the stack (self)."""
    incl: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    if not raw_path.exists():
        return {"samples": 0}
    for line in raw_path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        k = int(count)
        total += k
        frames = [f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0] + ")"
                  for f in stack.split(";")]
        own[frames[-1]] += k
        for f in set(frames):
            incl[f] += k
    skip = ("runpy", "uvicorn/main", "click/", "uvicorn/server", "uvicorn/_compat",
            "asyncio/runners", "<module>")
    def share(c: Counter[str]) -> list[tuple[str, float]]:
        return [(f, round(100 * v / total, 1)) for f, v in c.most_common(200)
                if not any(s in f for s in skip)][:n]
    return {"samples": total, "self": share(own), "inclusive": share(incl),
            "inclusive_app": [(f, p) for f, p in share(Counter(
                {f: v for f, v in incl.items() if "(app/" in f}))]}


def table(res: Json) -> str:
    tp = res["throughput"]
    ev = res["events_latency"]
    ip = res["inprocess_create_call"]
    rt = res["round_trips"]["rows"]
    lines = [
        "| figure | measured | goal | met |", "|---|---|---|---|",
        f"| bare `GET /bench/bare`, req/s (median of {len(tp['rounds'])}) | "
        f"{tp['median_bare_rps']:.0f} | – | |",
        f"| `POST /v1/calls` arrivals/s (median of {len(tp['rounds'])}) | "
        f"{tp['median_arrival_rps']:.0f} | – | |",
        f"| arrivals ÷ bare (median of per-round ratios) | {tp['median_ratio'] * 100:.0f} % | "
        f"≥ 50 % | {'yes' if tp['median_ratio'] >= 0.5 else 'NO'} |",
        "| per-round ratios | " + ", ".join(f"{r['ratio'] * 100:.0f} %" for r in tp["rounds"])
        + " | | |",
        f"| HTTP arrival latency at saturation ({tp['connections']} conns), client p50 / p99 | "
        f"{tp['median_arrival_client_p50_ms']:.1f} / {tp['median_arrival_client_p99_ms']:.1f} ms"
        " | – | |",
        f"| server queued→offered from events ({ev['calls']} HTTP arrivals, 1 ms resolution)"
        f", p50 / p99 | {ev['p50_ms']:.0f} / {ev['p99_ms']:.0f} ms | p99 ≤ 5 ms | "
        f"{'yes' if ev['p99_ms'] <= 5 else 'NO'} |",
    ]
    for q, v in ip.items():
        lines.append(f"| in-process `create_call` arrival→offer committed, {q} "
                     f"({v['calls']} sequential), p50 / p99 | {v['p50_ms']:.2f} / "
                     f"{v['p99_ms']:.2f} ms | p99 ≤ 5 ms | {'yes' if v['p99_ms'] <= 5 else 'NO'} |")
    for name, v in rt.items():
        cmds = ", ".join(f"{c} {n:g}" for c, n in v["by_command"].items())
        lines.append(f"| Redis round trips per {name} ({cmds}) | {v['round_trips']:g} | ≤ 2 | "
                     f"{'yes' if v['round_trips'] <= 2 else 'NO'} |")
    ul = [r["evalsha_per_arrival_under_load"] for r in tp["rounds"]]
    lines.append(f"| EVALSHA per HTTP arrival at {tp['connections']} conns (commandstats, "
                 f"incl. lost races) | {statistics.median(ul):g} | – | |")
    for r in res.get("sweep", []):
        lines.append(f"| diagnostic, {r['connections']} conn(s): arrivals/s ÷ bare/s, "
                     f"EVALSHA/arrival, client p50 | {r['arrival_rps']:.0f} ÷ {r['bare_rps']:.0f}"
                     f" = {r['ratio'] * 100:.0f} %, {r['evalsha_per_arrival_under_load']:g}, "
                     f"{r['arrival_client_p50_ms']:.1f} ms | | |")
    prof = res.get("profile")
    if prof and prof.get("samples"):
        lines += ["", f"py-spy, one extra arrival round ({prof['samples']} samples); "
                  "app/ frames, inclusive:"]
        lines += [f"- {p:5.1f} % {f}" for f, p in prof["inclusive_app"][:8]]
        lines += ["top of stack (self):"]
        lines += [f"- {p:5.1f} % {f}" for f, p in prof["self"][:6]]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=5, help="length of each timed round")
    p.add_argument("--rounds", type=int, default=3, help="rounds of bare + arrivals")
    p.add_argument("--connections", type=int, default=32, help="closed-loop connections")
    p.add_argument("--agents", type=int, default=1500,
                   help="agents for the HTTP arrivals; a round also stops at this count")
    p.add_argument("--inproc", type=int, default=5000, help="in-process create_call samples")
    p.add_argument("--inproc-timeout-s", type=float, default=25)
    p.add_argument("--rt-count", type=int, default=100, help="operations per round-trip count")
    p.add_argument("--events-timeout-s", type=float, default=40)
    p.add_argument("--sweep", default="1,8", help="extra connection counts (diagnostic rows)")
    p.add_argument("--profile", action="store_true",
                   help="py-spy an extra arrival round; top frames to bench/results/")
    p.add_argument("--pin", action="store_true",
                   help="pin the worker to CPU 0 and this client + Redis to CPU 1")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    if shutil.which("redis-server") is None:
        print("redis-server not found", file=sys.stderr)
        return 2
    procs = Procs()
    started = time.monotonic()
    try:
        with fresh_database() as database_url:
            redis_port, http_port = free_port(), free_port()
            redis = procs.start("redis-server", [
                "redis-server", "--bind", HOST, "--port", str(redis_port), "--save", "",
                "--appendonly", "no", "--protected-mode", "yes", "--loglevel", "warning"],
                stdout=subprocess.DEVNULL)
            wait_tcp(redis_port, redis, 10)
            redis_url = f"redis://{HOST}:{redis_port}/0"
            env = {**os.environ, "SWITCHBOARD_REDIS_URL": redis_url,
                   "SWITCHBOARD_DATABASE_URL": database_url,
                   "SWITCHBOARD_ADMIN_TOKEN": ADMIN_TOKEN, "SWITCHBOARD_LOG_LEVEL": "WARNING"}
            worker = procs.start("uvicorn worker", [
                sys.executable, "-m", "uvicorn", "bench.bare_app:create_app", "--factory",
                "--app-dir", str(ROOT), "--host", HOST, "--port", str(http_port),
                "--workers", "1", "--log-level", "warning", "--no-access-log"],
                cwd=ROOT, env=env)
            wait_tcp(http_port, worker, 60)
            if args.pin and (os.cpu_count() or 1) >= 2:
                os.sched_setaffinity(worker.pid, {0})
                os.sched_setaffinity(redis.pid, {1})
                os.sched_setaffinity(0, {1})
            bench = Bench(args, redis_port, http_port, database_url, redis_url)

            async def served() -> None:
                await bench.setup()
                await bench.throughput()
                await bench.sweep()
                if args.profile:
                    await bench.profile(procs, worker.pid)
                bench.results["events_latency"] = await bench.events_latency(
                    set(bench.arrival_ids), "HTTP arrival rounds")
                log(f"events queued→offered: {bench.results['events_latency']}")

            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(served())
            procs.stop(worker)  # round trips and service latency without the worker
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(bench.in_process())
            procs.stop(redis)
    finally:
        procs.stop_all()
    res = bench.results
    res["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(),
                      "python": platform.python_version(), "pinned": args.pin,
                      "load_avg_at_end": os.getloadavg()}
    res["command"] = " ".join([".venv/bin/python", "bench/arrivals.py", *sys.argv[1:]])
    res["duration_s"] = round(time.monotonic() - started, 1)
    res["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=2) + "\n")
    print(table(res))
    print(f"\n{res['command']}  ({res['duration_s']} s; {os.cpu_count()} CPUs; "
          f"JSON: {RESULTS.relative_to(ROOT)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Helpers for the concurrency and crash tests: real `switchboard serve` processes (started and
stopped by PID, on free 127.0.0.1 ports), a load of callers and agents over any number of
service endpoints, the wind-down, and the audit of the event stream."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import httpx

from tests.support import ADMIN_TOKEN, REDIS_URL, Api, Json, TenantApi, forget_tenants

ROOT = Path(__file__).resolve().parent.parent
SWITCHBOARD = ROOT / ".venv" / "bin" / "switchboard"
TERMINAL = {"call.completed": "completed", "call.abandoned": "abandoned",
            "call.timed_out": "timed_out"}
OPEN_STATES = ("connected", "offered", "queued")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ms(timestamp: str) -> int:
    return round(datetime.fromisoformat(timestamp).timestamp() * 1000)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# Processes ------------------------------------------------------------------------------------

class ServerProcess:
    """One `switchboard serve` on a free port; output goes to a log file (closed on stop)."""

    def __init__(self, name: str, database_url: str, workdir: Path, **env: str) -> None:
        self.name = name
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "SWITCHBOARD_REDIS_URL": REDIS_URL,
                    "SWITCHBOARD_DATABASE_URL": database_url,
                    "SWITCHBOARD_ADMIN_TOKEN": ADMIN_TOKEN, "SWITCHBOARD_AUTO_MIGRATE": "true",
                    "SWITCHBOARD_BACKGROUND_TASKS": "true",
                    "SWITCHBOARD_LOG_LEVEL": "WARNING", **env}
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [str(SWITCHBOARD), "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--graceful-timeout-s", "3"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            env=self.env, cwd=self.workdir)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    async def wait_ready(self, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2) as http:
            while time.monotonic() < deadline:
                assert self._proc is not None
                if self._proc.poll() is not None:
                    raise AssertionError(f"{self.name} exited {self._proc.returncode}:\n"
                                         f"{self.log()}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise AssertionError(f"{self.name} not ready in {timeout_s}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL, by PID, and reap."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGKILL)
        self._reap(10)

    def terminate(self) -> None:
        """SIGTERM, by PID, without waiting: the process starts draining."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGTERM)

    def wait(self, timeout_s: float) -> int:
        """The exit code, once the process has exited (TimeoutExpired if it has not)."""
        assert self._proc is not None
        return self._proc.wait(timeout=timeout_s)

    def stop(self) -> None:
        """SIGTERM (graceful), SIGKILL if it lingers; always reaped, log closed."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                os.kill(self._proc.pid, signal.SIGKILL)
        self._reap(10)

    def _reap(self, timeout_s: float) -> None:
        if self._proc is not None:
            self._proc.wait(timeout=timeout_s)
        if self._log is not None:
            self._log.close()
            self._log = None


async def start_servers(procs: list[ServerProcess], names: list[str], database_url: str,
                        workdir: Path, **env: str) -> list[httpx.AsyncClient]:
    """Start `switchboard serve` processes one after the other (the first migrates), each
    ready before the next; `procs` holds them as they start, for the tear-down."""
    clients = []
    for name in names:
        proc = ServerProcess(name, database_url, workdir, **env)
        procs.append(proc)
        proc.start()
        await proc.wait_ready()
        clients.append(httpx.AsyncClient(base_url=proc.base_url, timeout=10))
    return clients


async def tear_down(load: Load | None, clients: list[httpx.AsyncClient],
                    procs: list[ServerProcess], redis_url: str, tenant_id: str) -> None:
    """Stop the load, close the clients, stop every process, forget the tenant."""
    if load is not None:
        await load.cancel()
    for http in clients:
        await http.aclose()
    for proc in procs:
        proc.stop()
    await forget_tenants(redis_url, [tenant_id])


class RedisProcess:
    """A redis-server of the test's own, on a loopback port, stopped by PID."""

    def __init__(self, port: int, workdir: Path, appendonly: bool = False) -> None:
        self.port = port
        self.workdir = workdir
        self.appendonly = appendonly
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "everysec",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None


# Load -----------------------------------------------------------------------------------------

@dataclass
class Endpoint:
    """One service instance as the clients see it; `http` is None while it is down."""

    name: str
    http: httpx.AsyncClient | None


@dataclass
class Behaviour:
    queues: dict[str, float]  # queue -> share of arrivals
    abandon_p: float = 0.15
    abandon_after_s: tuple[float, float] = (0.1, 1.5)
    ignore_p: float = 0.04  # let the offer expire
    reject_p: float = 0.08
    away_p: float = 0.04  # go away while reserved (rescinds), back after a moment
    talk_s: tuple[float, float] = (0.05, 0.5)
    retry_s: float = 15  # how long a request is retried over transport errors


class Desk:
    """One tenant's API spread over endpoints; keeps transport errors, 503s (retried, as the
    problem says) and unexpected statuses (anything else but 2xx and the 409 of a lost race)."""

    def __init__(self, endpoints: list[Endpoint], key: str, rng: random.Random) -> None:
        self.endpoints = endpoints
        self.headers = {"Authorization": f"Bearer {key}"}
        self.rng = rng
        self.errors: list[str] = []
        self.problems: list[str] = []
        self.unavailable: list[str] = []

    async def request(self, method: str, path: str, json: Any = None,
                      params: dict[str, str] | None = None) -> httpx.Response | None:
        live = [e.http for e in self.endpoints if e.http is not None]
        if not live:
            self.errors.append(f"{method} {path}: no endpoint up")
            return None
        http = self.rng.choice(live)
        try:
            r = await http.request(method, path, json=json, params=params,
                                   headers=self.headers, timeout=10)
        except httpx.TransportError as e:
            self.errors.append(f"{method} {path}: {e!r}")
            return None
        if r.status_code == 503:
            self.unavailable.append(f"{method} {path}: {r.text[:200]}")
        elif r.status_code >= 300 and r.status_code != 409:
            self.problems.append(f"{method} {path} {json} -> {r.status_code} {r.text[:400]}")
        return r

    async def persist(self, method: str, path: str, json: Any = None,
                      params: dict[str, str] | None = None,
                      retry_s: float = 15) -> httpx.Response | None:
        """Retried over transport errors (a killed instance) and 503s until retry_s has
        passed; the verbs retried are idempotent (external_id, offer_id, repeat-safe ends)."""
        deadline = time.monotonic() + retry_s
        while True:
            r = await self.request(method, path, json, params)
            if (r is not None and r.status_code != 503) or time.monotonic() > deadline:
                return r
            await asyncio.sleep(0.2 if r is None else 0.05)

    async def get(self, path: str, params: dict[str, str] | None = None) -> Json:
        r = await self.persist("GET", path, params=params)
        assert r is not None and r.status_code == 200, f"GET {path}: {r and r.text}"
        body: Json = r.json()
        return body

    async def events(self) -> list[Json]:
        out: list[Json] = []
        after: str | None = None
        while True:
            page = await self.get("/v1/events", {"limit": "1000",
                                                 **({"after": after} if after else {})})
            out.extend(page["events"])
            if len(page["events"]) < 1000:
                return out
            after = page["next_after"]

    async def calls(self, state: str) -> list[Json]:
        calls: list[Json] = (await self.get("/v1/calls", {"state": state, "limit": "1000"}))[
            "calls"]
        return calls

    async def agents(self) -> list[Json]:
        agents: list[Json] = (await self.get("/v1/agents"))["agents"]
        return agents


class Load:
    """Callers arriving (some hanging up) and agents answering the offers they see on the
    event stream: accept, talk, complete; some reject, ignore or step away."""

    def __init__(self, desk: Desk, agents: list[str], behaviour: Behaviour,
                 rng: random.Random) -> None:
        self.desk = desk
        self.agent_ids = agents
        self.b = behaviour
        self.rng = rng
        self.created: dict[str, str] = {}  # external id -> call id
        self.created_201: set[str] = set()
        self.inbox: dict[str, asyncio.Queue[tuple[str, str]]] = {
            a: asyncio.Queue() for a in agents}
        self.tail_stop = asyncio.Event()
        self.offers_seen = 0
        self.accepted = 0
        self._agent_tasks: list[asyncio.Task[None]] = []
        self._tail_task: asyncio.Task[None] | None = None
        self._callers: list[asyncio.Task[None]] = []

    def start_agents(self) -> None:
        self._tail_task = asyncio.create_task(self._tail())
        self._agent_tasks = [asyncio.create_task(self._agent(a)) for a in self.agent_ids]

    async def arrive(self, index: int, sem: asyncio.Semaphore) -> None:
        ext = f"ext-{index:05d}"
        queue = self.rng.choices(list(self.b.queues), weights=list(self.b.queues.values()))[0]
        async with sem:
            r = await self.desk.persist("POST", "/v1/calls", {"queue": queue, "external_id": ext},
                                        retry_s=self.b.retry_s)
        if r is None or r.status_code not in (200, 201):
            return
        call_id = str(r.json()["id"])
        self.created[ext] = call_id
        if r.status_code == 201:
            self.created_201.add(call_id)
        if self.rng.random() < self.b.abandon_p:
            await asyncio.sleep(self.rng.uniform(*self.b.abandon_after_s))
            await self.desk.persist("POST", f"/v1/calls/{call_id}/abandon",
                                    retry_s=self.b.retry_s)

    def callers(self, count: int, concurrency: int, start: int = 0,
                spacing_s: float = 0.0) -> list[asyncio.Task[None]]:
        sem = asyncio.Semaphore(concurrency)

        async def later(i: int) -> None:
            await asyncio.sleep((i - start) * spacing_s)
            await self.arrive(i, sem)

        tasks = [asyncio.create_task(later(i)) for i in range(start, start + count)]
        self._callers.extend(tasks)
        return tasks

    async def _tail(self) -> None:
        after: str | None = None
        while not self.tail_stop.is_set():
            params = {"limit": "1000", **({"after": after} if after else {})}
            r = await self.desk.request("GET", "/v1/events", params=params)
            full = False
            if r is not None and r.status_code == 200:
                page = r.json()
                for e in page["events"]:
                    if e["type"] == "call.offered":
                        d = e["data"]
                        self.offers_seen += 1
                        self.inbox[d["offer"]["agent_id"]].put_nowait(
                            (d["call"]["id"], d["offer"]["id"]))
                if page["events"]:
                    after = page["next_after"]
                full = len(page["events"]) == 1000
            if not full:
                await asyncio.sleep(0.1)

    async def _agent(self, agent_id: str) -> None:
        b, desk = self.b, self.desk
        state_path = f"/v1/agents/{agent_id}/state"
        await desk.persist("POST", state_path, {"state": "available"}, retry_s=b.retry_s)
        while True:
            call_id, offer_id = await self.inbox[agent_id].get()
            if not call_id:  # stop
                return
            roll = self.rng.random()
            answer = {"offer_id": offer_id}
            if roll < b.ignore_p:
                continue
            if roll < b.ignore_p + b.reject_p:
                await desk.request("POST", f"/v1/calls/{call_id}/reject", answer)
                continue
            if roll < b.ignore_p + b.reject_p + b.away_p:
                await desk.persist("POST", state_path, {"state": "away", "reason": "break"},
                                   retry_s=b.retry_s)
                await asyncio.sleep(self.rng.uniform(0.05, 0.3))
                await desk.persist("POST", state_path, {"state": "available"},
                                   retry_s=b.retry_s)
                continue
            r = await desk.persist("POST", f"/v1/calls/{call_id}/accept", answer,
                                   retry_s=b.retry_s)
            if r is None or r.status_code != 200:
                continue
            self.accepted += 1
            await asyncio.sleep(self.rng.uniform(*b.talk_s))
            await desk.persist("POST", f"/v1/calls/{call_id}/complete", {"resolved": True},
                               retry_s=b.retry_s)

    async def stop_agents(self, timeout_s: float = 20) -> None:
        """Agents finish the call in hand and stop answering; the stream tail stops."""
        self.tail_stop.set()
        for inbox in self.inbox.values():
            inbox.put_nowait(("", ""))
        tasks = [*self._agent_tasks, *([self._tail_task] if self._tail_task else [])]
        await asyncio.wait_for(asyncio.gather(*tasks), timeout_s)

    async def cancel(self) -> None:
        """Tear-down after a failure: cancel whatever still runs."""
        self.tail_stop.set()
        tasks = [*self._callers, *self._agent_tasks,
                 *([self._tail_task] if self._tail_task else [])]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def wind_down(desk: Desk, timeout_s: float = 30) -> None:
    """With callers and agents stopped: complete the connected calls, accept and complete the
    offered ones, abandon the waiting ones, until no call is open."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        open_calls = {state: await desk.calls(state) for state in OPEN_STATES}
        if not any(open_calls.values()):
            return
        for call in open_calls["connected"]:
            await desk.persist("POST", f"/v1/calls/{call['id']}/complete", {})
        for call in open_calls["offered"]:
            r = await desk.persist("POST", f"/v1/calls/{call['id']}/accept",
                                   {"offer_id": call["offer"]["id"]})
            if r is not None and r.status_code == 200:
                await desk.persist("POST", f"/v1/calls/{call['id']}/complete", {})
            else:
                await desk.persist("POST", f"/v1/calls/{call['id']}/abandon")
        for call in open_calls["queued"]:
            await desk.persist("POST", f"/v1/calls/{call['id']}/abandon")
    raise AssertionError(f"calls still open after {timeout_s}s of wind-down")


# Audit ----------------------------------------------------------------------------------------

@dataclass
class Audit:
    """The event stream replayed call by call and agent by agent."""

    violations: list[str] = field(default_factory=list)
    arrived: list[str] = field(default_factory=list)
    ends: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    holding: dict[str, str] = field(default_factory=dict)  # agent -> call (offered/connected)
    offered: dict[str, tuple[str, str]] = field(default_factory=dict)  # call -> (agent, offer)
    connected: dict[str, str] = field(default_factory=dict)  # call -> agent
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    max_held: int = 0

    def flag(self, event: Json, why: str) -> None:
        if len(self.violations) < 50:
            self.violations.append(f"{event['id']} {event['type']}: {why} "
                                   f"{_brief(event['data'])}")

    def release(self, event: Json, agent: str, call_id: str) -> None:
        if self.holding.get(agent) != call_id:
            self.flag(event, f"agent {agent} released {call_id} but holds "
                             f"{self.holding.get(agent)}")
        else:
            del self.holding[agent]

    def replay(self, events: list[Json]) -> Audit:
        for e in events:
            t, d = e["type"], e["data"]
            self.counts[t] += 1
            if not t.startswith("call.") or not isinstance(d.get("call"), dict):
                continue
            call_id = str(d["call"]["id"])
            if call_id in self.ends:
                self.flag(e, f"call {call_id} has an event after its end {self.ends[call_id]}")
            if t == "call.queued":
                self.arrived.append(call_id)
            elif t == "call.offered":
                agent = str(d["offer"]["agent_id"])
                if call_id in self.offered:
                    self.flag(e, f"call {call_id} offered again while offered to "
                                 f"{self.offered[call_id]}")
                if call_id in self.connected:
                    self.flag(e, f"call {call_id} offered while connected")
                if agent in self.holding:
                    self.flag(e, f"agent {agent} offered {call_id} while holding "
                                 f"{self.holding[agent]}")
                self.offered[call_id] = (agent, str(d["offer"]["id"]))
                self.holding[agent] = call_id
                self.max_held = max(self.max_held, len(self.holding))
            elif t == "call.requeued":
                agent = str(d["agent_id"])
                offer = self.offered.pop(call_id, None)
                if offer != (agent, d["offer_id"]):
                    self.flag(e, f"requeued from {agent}/{d['offer_id']}, open offer {offer}")
                self.release(e, agent, call_id)
            elif t == "call.connected":
                agent = str(d["agent_id"])
                offer = self.offered.pop(call_id, None)
                if offer is None or offer[0] != agent:
                    self.flag(e, f"connected to {agent} without its offer (open: {offer})")
                if self.holding.get(agent) != call_id:
                    self.flag(e, f"agent {agent} connected to {call_id}, holds "
                                 f"{self.holding.get(agent)}")
                self.connected[call_id] = agent
            elif t == "call.completed":
                agent = str(d["agent_id"])
                if self.connected.pop(call_id, None) != agent:
                    self.flag(e, f"completed by {agent}, not connected to it")
                self.release(e, agent, call_id)
            elif t in ("call.abandoned", "call.timed_out", "call.overflowed"):
                if call_id in self.connected:
                    self.flag(e, "ended/moved while connected")
                offer = self.offered.pop(call_id, None)
                if offer is not None:
                    self.release(e, offer[0], call_id)
            if t in TERMINAL:
                self.ends[call_id].append(t)
                if len(self.ends[call_id]) > 1:
                    self.flag(e, f"call {call_id} ended twice: {self.ends[call_id]}")
        return self

    def check_closed(self) -> None:
        """After the wind-down: every call ended exactly once and nothing is held."""
        unended = [c for c in self.arrived if len(self.ends.get(c, [])) != 1]
        assert not unended, (
            f"calls not ended exactly once: {[(c, self.ends.get(c)) for c in unended[:20]]}")
        stray = set(self.ends) - set(self.arrived)
        assert not stray, f"ended without arriving: {sorted(stray)[:20]}"
        assert len(set(self.arrived)) == len(self.arrived), "a call arrived twice"
        assert not self.holding, f"agents still holding calls: {self.holding}"
        assert not self.offered and not self.connected, (self.offered, self.connected)


def _brief(data: Json) -> Json:
    call = data.get("call")
    out = {k: v for k, v in data.items() if k not in ("call", "agent")}
    if isinstance(call, dict):
        out["call"] = {k: call.get(k) for k in ("id", "state", "agent_id", "offer")}
    return out


async def check_final(desk: Desk, audit: Audit, agent_ids: list[str]) -> None:
    """Final GETs agree with the stream: each call in the state its one end event names, no
    agent reserved, busy or in wrap-up, none holding a call or an offer."""
    states: dict[str, str] = {}
    for state in TERMINAL.values():
        states.update((c["id"], c["state"]) for c in await desk.calls(state))
    for call_id in audit.arrived:
        if call_id not in states:  # a list holds at most 1,000
            states[call_id] = (await desk.get(f"/v1/calls/{call_id}"))["state"]
        assert states[call_id] == TERMINAL[audit.ends[call_id][0]], (
            call_id, states[call_id], audit.ends[call_id])
    agents = {a["id"]: a for a in await desk.agents()}
    assert set(agent_ids) <= set(agents)
    wrong = [(a["id"], a["state"], a["call_id"], a["offer_id"]) for a in agents.values()
             if a["state"] not in ("available", "away", "offline")
             or a["call_id"] is not None or a["offer_id"] is not None]
    assert not wrong, f"agents left holding: {wrong}"


async def until(check: Any, timeout_s: float, what: str) -> Any:
    """Poll `check()` every 100 ms until it returns something true; that value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := await check():
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def one_agent_tenant(http: httpx.AsyncClient) -> TenantApi:
    """A manual-clock tenant with queue `q` and agent `ana` available."""
    t = await Api(http).tenant("manual")
    await t.put_queue("q")
    await t.put_agent("ana")
    await t.state("ana", "available")
    return t

"""What the open-loop benches share (bench/openloop.py, bench/replicas.py): a minimal HTTP/1.1
keep-alive client on asyncio (uvloop), Poisson schedules, one measured block (requests fired at
their scheduled times, latency from those times, CPU per process from /proc), the completer that
keeps agents free, pooled summaries, and the tenant set up over HTTP."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx

from bench.common import HOST, pct

ROOT = Path(__file__).resolve().parent.parent

SUSTAINED_SHARE = 0.95  # 2xx answers ÷ requests due, in the throughput window
MAX_ERROR_SHARE = 0.001
Json = dict[str, Any]
now = time.perf_counter


def log(msg: str) -> None:
    """To stderr, prefixed with the script's name and the time."""
    name = Path(sys.argv[0]).stem or "bench"
    print(f"[{name} {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- HTTP client


class Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time, Content-Length bodies."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.current = -1  # request index in flight, -1 when idle
        self.used = 0  # requests sent on it, to retry a request lost on a reused one
        self.body_at = -1
        self.end_at = -1
        self.status = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def send(self, i: int, raw: bytes) -> None:
        assert self.transport is not None
        self.current, self.used, self.body_at, self.end_at = i, self.used + 1, -1, -1
        self.buf.clear()
        self.transport.write(raw)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if self.body_at < 0:
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = bytes(buf[:head_end]).lower()
            k = head.find(b"\r\ncontent-length:")
            length = 0
            if k >= 0:
                eol = head.find(b"\r\n", k + 2)
                length = int(head[k + 17:eol if eol > 0 else len(head)])
            self.status = int(head[9:12])
            self.body_at, self.end_at = head_end + 4, head_end + 4 + length
        if len(buf) >= self.end_at and self.current >= 0:
            i, self.current = self.current, -1
            self.pool.finished(self, i, self.status, bytes(buf[self.body_at:self.end_at]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.pool.lost(self)

    def abort(self) -> None:
        self.current = -1
        if self.transport is not None:
            self.transport.abort()


class Pool:
    """Requests by index over at most `limit` connections to one port, opened on demand; a
    request finding none free waits in FIFO order (counted in its latency)."""

    def __init__(self, port: int, limit: int, raw_for: Callable[[int], bytes],
                 on_done: Callable[[int, int, bytes, float], None],
                 on_fail: Callable[[int, str, float], None]) -> None:
        self.port, self.limit, self.raw_for = port, limit, raw_for
        self.on_done, self.on_fail = on_done, on_fail
        self.idle: list[Conn] = []
        self.busy: dict[Conn, float] = {}  # connection → when its request was due (timeouts)
        self.waiting: deque[tuple[int, float]] = deque()
        self.opened = 0
        self.opened_max = 0
        self.opened_total = 0
        self.sent_at: dict[int, float] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def submit(self, i: int, due: float) -> None:
        if self.idle:
            self._send(self.idle.pop(), i, due)
        elif self.opened < self.limit:
            self._open(i, due)
        else:
            self.waiting.append((i, due))

    def _open(self, i: int, due: float) -> None:
        self.opened += 1
        self.opened_total += 1
        self.opened_max = max(self.opened_max, self.opened)
        task = asyncio.create_task(self._connect(i, due))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _connect(self, i: int, due: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(lambda: Conn(self), HOST, self.port)
        except OSError:
            self.opened -= 1
            self.on_fail(i, "connect", now())
            return
        self._send(conn, i, due)

    def _send(self, conn: Conn, i: int, due: float) -> None:
        self.busy[conn] = due
        self.sent_at[i] = now()
        conn.send(i, self.raw_for(i))

    def finished(self, conn: Conn, i: int, status: int, body: bytes) -> None:
        self.on_done(i, status, body, now())
        del self.busy[conn]
        if self.waiting:
            j, due = self.waiting.popleft()
            self._send(conn, j, due)
        else:
            self.idle.append(conn)

    def lost(self, conn: Conn) -> None:
        self.opened -= 1
        with contextlib.suppress(ValueError):
            self.idle.remove(conn)
        due = self.busy.pop(conn, None)
        i = conn.current
        if i >= 0 and due is not None:
            if conn.used > 1 and not conn.buf:  # the server closed an idle keep-alive
                self.submit(i, due)
            else:
                self.on_fail(i, "closed", now())
        if self.waiting and self.opened < self.limit:
            j, due = self.waiting.popleft()
            self._open(j, due)

    def expire(self, timeout_s: float) -> None:
        """Fail every request due more than timeout_s ago (its connection is dropped)."""
        t = now()
        for conn, due in list(self.busy.items()):
            if t - due > timeout_s:
                i = conn.current
                del self.busy[conn]
                conn.abort()
                if i >= 0:
                    self.on_fail(i, "timeout", t)
        while self.waiting and t - self.waiting[0][1] > timeout_s:
            self.on_fail(self.waiting.popleft()[0], "timeout", t)

    def close(self) -> None:
        for conn in self.idle:
            conn.abort()
        self.idle.clear()


def http_request(method: str, path: str, host: str, body: Json | None = None,
                 key: str | None = None) -> bytes:
    payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    if key:
        lines.append(f"Authorization: Bearer {key}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


# --------------------------------------------------------------------------- targets


@dataclass
class Target:
    name: str  # "bare", "switchboard", "2 replicas", ...
    ports: list[int]  # requests go round-robin over these, a connection pool for each
    raw: bytes  # the request, identical every time
    pid: int | None = None  # the serving process, when we started it (its CPU is read)


class Completer:
    """Completes Switchboard's calls over its own connections (round-robin over `ports`),
    untimed: each `hold_s` after its answer (None: only when flushed)."""

    def __init__(self, ports: list[int], host: str, key: str, hold_s: float | None) -> None:
        self.host, self.key, self.hold_s = host, key, hold_s
        self.due: deque[tuple[float, str]] = deque()
        self.ids: list[str] = []
        self.open = 0
        self.errors = 0
        self.first_error: str | None = None
        self.idle = asyncio.Event()
        self.idle.set()
        self.pools = [Pool(port, 16, self._raw, self._done, self._fail) for port in ports]

    def _raw(self, j: int) -> bytes:
        return http_request("POST", f"/v1/calls/{self.ids[j]}/complete", self.host, {},
                            self.key)

    def _done(self, j: int, status: int, body: bytes, t: float) -> None:
        if status >= 300:
            self.errors += 1
            self.first_error = self.first_error or f"{status} {body[:200]!r}"
        self._settle()

    def _fail(self, j: int, reason: str, t: float) -> None:
        self.errors += 1
        self.first_error = self.first_error or reason
        self._settle()

    def _settle(self) -> None:
        self.open -= 1
        if not self.open:
            self.idle.set()

    def add(self, call_id: str, answered_at: float) -> None:
        self.due.append((answered_at + (self.hold_s or 0.0), call_id))

    def fire(self, until: float) -> None:
        while self.due and self.due[0][0] <= until:
            self.ids.append(self.due.popleft()[1])
            self.open += 1
            self.idle.clear()
            j = len(self.ids) - 1
            self.pools[j % len(self.pools)].submit(j, now())

    async def run(self, stop_evt: asyncio.Event) -> None:
        while not stop_evt.is_set():
            if self.hold_s is not None:
                self.fire(now())
            self._expire()
            await asyncio.sleep(0.005)

    def _expire(self) -> None:
        for pool in self.pools:
            pool.expire(30)

    def close(self) -> None:
        for pool in self.pools:
            pool.close()

    async def flush(self) -> None:
        self.fire(math.inf)
        while not self.idle.is_set():
            self._expire()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.idle.wait(), 0.1)


# --------------------------------------------------------------------------- one block


def poisson_times(rate: float, duration_s: float, seed: str) -> list[float]:
    rng = random.Random(seed)
    out: list[float] = []
    t = rng.expovariate(rate)
    while t < duration_s:
        out.append(t)
        t += rng.expovariate(rate)
    return out


def proc_stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state, ppid, ...), or None
    for a process that is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()


def cpu_s(pid: int | None) -> float | None:
    """utime + stime of a process, from /proc (None if unknown)."""
    fields = None if pid is None else proc_stat(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_s() -> tuple[float, float]:
    """CPU seconds all cores spent busy since boot (idle and iowait left out), and of those
    the hypervisor's steal (/proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq + steal) / tick, steal / tick


@dataclass
class Block:
    target: str
    phase: str  # "step", "refine" or "half-capacity"
    rate: float
    round: int
    scheduled: int
    duration_s: float
    ok: int = 0
    non_2xx: int = 0
    timeouts: int = 0
    conn_errors: int = 0
    span_s: float = 0.0  # block start → last answer
    # The throughput window, the block's last 80 %: requests due in it, 2xx answers in it.
    window_s: float = 0.0
    window_due: int = 0
    window_ok: int = 0
    not_offered_at_once: int = 0
    completion_errors: int = 0
    connections_max: int = 0  # open at once (with several pools: their maxima summed)
    connections_opened: int = 0
    wall_s: float = 0.0  # first send → last answer, what the CPU shares are of
    # Scripts Redis ran from the block's start to its calls' completion (the flush of
    # --complete between included): per call, arrival + completion + lost races.
    evalsha: int | None = None
    cpu: dict[str, float | None] = field(default_factory=dict)
    latency_ms: list[float] = field(default_factory=list, repr=False)
    fire_lag_ms: list[float] = field(default_factory=list, repr=False)
    send_lag_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def errors(self) -> int:
        return self.non_2xx + self.timeouts + self.conn_errors


async def run_block(target: Target, completer: Completer | None, rate: float, rnd: int,
                    phase: str, duration_s: float, args: argparse.Namespace,
                    read_cpu: Callable[[], dict[str, float | None]]) -> Block:
    """One block at `rate`: Poisson send times seeded by (seed, rate, round), so every target
    gets the same schedule; request i goes to port i mod len(ports). `read_cpu` gives CPU
    seconds by name (server, redis, ...), read at the first send and the last answer."""
    times = poisson_times(rate, duration_s, f"{args.seed}:{rate}:{rnd}")
    n = len(times)
    block = Block(target.name, phase, rate, rnd, n, duration_s)
    t0 = now() + 0.05
    due = [t0 + t for t in times]
    # Answers in the window ÷ requests due in it: the share of the offered rate the target
    # kept up with, whatever the Poisson count and the tail of answers after the block.
    window_from, window_to = t0 + 0.2 * duration_s, t0 + duration_s
    block.window_s = 0.8 * duration_s
    block.window_due = sum(1 for d in due if d >= window_from)
    fired = [0.0] * n
    left = n
    all_done = asyncio.Event()
    first_error: list[str] = []

    def settle(i: int, t: float) -> None:
        nonlocal left
        block.latency_ms.append((t - due[i]) * 1000)
        block.span_s = max(block.span_s, t - t0)
        left -= 1
        if not left:
            all_done.set()

    def on_done(i: int, status: int, body: bytes, t: float) -> None:
        if 200 <= status < 300:
            block.ok += 1
            block.window_ok += window_from <= t <= window_to
            if completer is not None:
                call = json.loads(body)
                if call["state"] not in ("offered", "connected"):
                    block.not_offered_at_once += 1
                completer.add(call["id"], t)
        else:
            block.non_2xx += 1
            if not first_error:
                first_error.append(f"{status} {body[:200]!r}")
        settle(i, t)

    def on_fail(i: int, reason: str, t: float) -> None:
        if reason == "timeout":
            block.timeouts += 1
        else:
            block.conn_errors += 1
        if not first_error:
            first_error.append(reason)
        settle(i, t)

    pools = [Pool(port, args.connections, lambda i: target.raw, on_done, on_fail)
             for port in target.ports]
    stop_evt = asyncio.Event()
    background = [asyncio.create_task(expirer(pools, args.timeout_s, stop_evt))]
    if completer is not None:
        completer.errors, completer.first_error = 0, None
        background.append(asyncio.create_task(completer.run(stop_evt)))
    cpu0 = read_cpu()
    busy_s, steal_s = machine_s()
    cpu0 |= {"generator": time.process_time(), "machine": busy_s, "steal": steal_s}
    wall0 = now()
    i = 0
    while i < n:  # the scheduler: fires each request at its time, never waits for answers
        t = now()
        while i < n and due[i] <= t:
            fired[i] = t
            pools[i % len(pools)].submit(i, due[i])
            i += 1
        if i < n:
            await asyncio.sleep(due[i] - now())
    if n:
        await all_done.wait()
    wall = block.wall_s = now() - wall0
    cpu1 = read_cpu()
    busy_s, steal_s = machine_s()
    cpu1 |= {"generator": time.process_time(), "machine": busy_s, "steal": steal_s}
    for k, v in cpu0.items():
        w = cpu1.get(k)
        block.cpu[k] = None if v is None or w is None else round((w - v) / wall, 3)
    # What the rest of the machine (other users' work, the hypervisor's steal) took, in cores.
    ours = sum(v for k, v in block.cpu.items() if k not in ("machine", "steal") and v is not None)
    block.cpu["foreign"] = round(max(0.0, (block.cpu["machine"] or 0.0) - ours), 3)
    stop_evt.set()
    await asyncio.gather(*background)
    for pool in pools:
        pool.close()
    block.connections_max = sum(pool.opened_max for pool in pools)
    block.connections_opened = sum(pool.opened_total for pool in pools)
    block.fire_lag_ms = [(f - d) * 1000 for f, d in zip(fired, due, strict=True)]
    block.send_lag_ms = [(t - due[j]) * 1000 for pool in pools for j, t in pool.sent_at.items()]
    if completer is not None:
        await completer.flush()
        block.completion_errors = completer.errors
        if completer.first_error:
            log(f"{target.name} @ {rate:g}/s round {rnd}: {completer.errors} completion "
                f"errors, first {completer.first_error}")
    if first_error:
        log(f"{target.name} @ {rate:g}/s round {rnd}: first error {first_error[0]}")
    return block


async def expirer(pools: list[Pool], timeout_s: float, stop_evt: asyncio.Event) -> None:
    while not stop_evt.is_set():
        for pool in pools:
            pool.expire(timeout_s)
        await asyncio.sleep(0.05)


# --------------------------------------------------------------------------- summaries


def summarise(blocks: list[Block]) -> Json:
    """Blocks of one target at one rate, pooled."""
    lat = sorted(x for b in blocks for x in b.latency_ms)
    lag = sorted(x for b in blocks for x in b.fire_lag_ms)
    send = sorted(x for b in blocks for x in b.send_lag_ms)
    sched = sum(b.scheduled for b in blocks)
    dur = sum(b.duration_s for b in blocks)
    ok = sum(b.ok for b in blocks)
    errors = sum(b.errors for b in blocks)
    window_s = sum(b.window_s for b in blocks)
    window_due = sum(b.window_due for b in blocks)
    window_ok = sum(b.window_ok for b in blocks)
    achieved = window_ok / window_s if window_s else 0.0
    offered = sched / dur if dur else 0.0
    gen = [b.cpu.get("generator") for b in blocks]
    srv = [b.cpu.get("server") for b in blocks]
    rds = [b.cpu.get("redis") for b in blocks]
    foreign = [b.cpu.get("foreign") for b in blocks]
    steal = [b.cpu.get("steal") for b in blocks]
    srv_s = [c * b.wall_s for b in blocks if (c := b.cpu.get("server")) is not None]
    return {
        "target": blocks[0].target, "rate": blocks[0].rate, "blocks": len(blocks),
        "requests": sched, "offered_rps": round(offered, 1), "achieved_rps": round(achieved, 1),
        "ok": ok, "errors": errors, "non_2xx": sum(b.non_2xx for b in blocks),
        "timeouts": sum(b.timeouts for b in blocks),
        "conn_errors": sum(b.conn_errors for b in blocks),
        "p50_ms": round(pct(lat, 50), 2), "p99_ms": round(pct(lat, 99), 2),
        "p999_ms": round(pct(lat, 99.9), 2), "max_ms": round(lat[-1], 2) if lat else None,
        "gen_lag_p50_ms": round(pct(lag, 50), 3), "gen_lag_p99_ms": round(pct(lag, 99), 3),
        "gen_lag_max_ms": round(lag[-1], 2) if lag else None,
        "send_lag_p99_ms": round(pct(send, 99), 3),
        "generator_cpu": _mean(gen), "server_cpu": _mean(srv), "redis_cpu": _mean(rds),
        "foreign_cpu": _mean(foreign), "steal_cpu": _mean(steal),
        "server_cpu_ms_per_request": round(sum(srv_s) * 1000 / sched, 3)
        if sched and len(srv_s) == len(blocks) else None,
        "connections_max": max(b.connections_max for b in blocks),
        "connections_opened": sum(b.connections_opened for b in blocks),
        "not_offered_at_once": sum(b.not_offered_at_once for b in blocks),
        "completion_errors": sum(b.completion_errors for b in blocks),
        "evalsha_per_call": round(sum(b.evalsha or 0 for b in blocks) / sched, 2)
        if sched and all(b.evalsha is not None for b in blocks) else None,
        "kept_up": round(window_ok / window_due, 3) if window_due else None,
        "sustained": bool(window_due) and window_ok >= SUSTAINED_SHARE * window_due
        and errors <= MAX_ERROR_SHARE * sched,
    }


def _mean(xs: list[float | None]) -> float | None:
    ys = [x for x in xs if x is not None]
    return round(sum(ys) / len(ys), 2) if ys else None


def fmt(x: float | None, spec: str = ".1f") -> str:
    return "–" if x is None else format(x, spec)


# --------------------------------------------------------------------------- servers


async def wait_ready(base_url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=base_url, timeout=2) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{base_url}/readyz not ready within {timeout_s} s")


# --------------------------------------------------------------------------- the tenant


class Tenant:
    """The queue and its agents, set up and cleaned up over HTTP (untimed)."""

    def __init__(self, url: str, key: str, queue: str) -> None:
        self.queue = queue
        self.http = httpx.AsyncClient(base_url=url, timeout=60,
                                      headers={"Authorization": f"Bearer {key}"},
                                      limits=httpx.Limits(max_connections=16))
        self.agents = 0

    async def _all(self, reqs: list[tuple[str, str, Json | None]],
                   ok: tuple[int, ...] = (200, 201, 204)) -> list[httpx.Response]:
        sem = asyncio.Semaphore(16)

        async def one(method: str, path: str, body: Json | None) -> httpx.Response:
            async with sem:
                r = await self.http.request(method, path, json=body)
            if r.status_code not in ok:
                raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:300]}")
            return r

        return await asyncio.gather(*(one(*req) for req in reqs))

    async def setup(self) -> None:
        await self._all([("PUT", f"/v1/queues/{self.queue}",
                          {"auto_accept": True, "wrap_up_s": 0})])

    async def ensure_agents(self, n: int) -> None:
        if n <= self.agents:
            return
        t0 = time.monotonic()
        names = [f"{self.queue}-{i}" for i in range(self.agents, n)]
        await self._all([("PUT", f"/v1/agents/{a}", {"queues": [self.queue]}) for a in names])
        await self._all([("POST", f"/v1/agents/{a}/state", {"state": "available"})
                         for a in names])
        log(f"agents {self.agents} → {n} available in {time.monotonic() - t0:.1f} s")
        self.agents = n

    async def sweep(self) -> int:
        """Complete or abandon every call still open on the queue (e.g. one whose answer
        timed out). Returns how many."""
        swept = 0
        for _ in range(100):
            found: list[Json] = []
            for state in ("connected", "offered", "queued"):
                r = await self.http.get("/v1/calls", params={"state": state, "limit": 1000})
                r.raise_for_status()
                found += [c for c in r.json()["calls"] if c["queue"] == self.queue]
            if not found:
                return swept
            swept += len(found)
            await self._all([("POST", f"/v1/calls/{c['id']}/"
                              f"{'abandon' if c['state'] == 'queued' else 'complete'}", {})
                             for c in found], ok=(200, 409))
        raise RuntimeError("calls keep appearing on the queue")

    async def available(self) -> int:
        r = await self.http.get("/v1/agents", params={"state": "available"})
        r.raise_for_status()
        return sum(1 for a in r.json()["agents"] if a["id"].startswith(f"{self.queue}-"))

    async def teardown(self) -> None:
        names = [f"{self.queue}-{i}" for i in range(self.agents)]
        await self._all([("DELETE", f"/v1/agents/{a}", None) for a in names], ok=(204, 404))
        await self._all([("DELETE", f"/v1/queues/{self.queue}", None)], ok=(204, 404))

    async def close(self) -> None:
        await self.http.aclose()


def publish(res: Json, results: Path, command: list[str], started: float,
            load_before: tuple[float, float, float], tables: str, shared_by: str) -> None:
    """Stamp a run's result with the machine, the command and the time, write its JSON and
    print its tables, warnings and closing line."""
    res["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(),
                      "python": platform.python_version(), "load_avg_before": load_before,
                      "load_avg_after": os.getloadavg()}
    res["command"] = " ".join([".venv/bin/python", *command])
    res["duration_s"] = round(time.monotonic() - started, 1)
    res["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(res, indent=2) + "\n")
    print(tables)
    for w in res["warnings"]:
        print(f"warning: {w}")
    print(f"\n{res['command']}  ({res['duration_s']} s; {os.cpu_count()} CPUs shared by "
          f"{shared_by}; load average before {load_before[0]:.2f}; "
          f"JSON: {results.relative_to(ROOT)})")

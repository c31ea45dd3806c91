"""What the benchmarks share: free loopback ports, their own redis-server, percentiles."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def wait_listening(port: int, proc: subprocess.Popen[bytes], seconds: float = 10) -> None:
    """Until something listens on the loopback port (the process must not exit first)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on port {port} within {seconds} s")


def start_redis(port: int, log: Callable[[str], None]) -> subprocess.Popen[bytes]:
    """A redis-server of our own: loopback, no persistence."""
    proc = subprocess.Popen(
        ["redis-server", "--bind", HOST, "--port", str(port), "--save", "", "--appendonly",
         "no", "--protected-mode", "yes", "--loglevel", "warning"], stdout=subprocess.DEVNULL)
    log(f"started redis-server pid={proc.pid} port={port}")
    wait_listening(port, proc)
    return proc


def stop(proc: subprocess.Popen[bytes], log: Callable[[str], None]) -> None:
    """SIGTERM, then SIGKILL if it does not exit within 10 s."""
    if proc.poll() is None:
        log(f"stopping pid={proc.pid}")
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

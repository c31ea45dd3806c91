"""A real HTTP receiver on a loopback port, in a thread: records every request and answers
what the test says (a status and headers per request, or 200)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import standardwebhooks


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float
    status: int = 0  # what the receiver answered


@dataclass
class Receiver:
    url: str = ""
    received: list[Received] = field(default_factory=list)
    # status and extra headers for the next request; (200, {}) when None
    answer: Callable[[Received], tuple[int, dict[str, str]]] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Every payload received, each checked against its Standard Webhooks signature."""
        hook = standardwebhooks.Webhook(secret)
        with self.lock:
            return [hook.verify(r.body, r.headers) for r in self.received]


@contextmanager
def receiver(port: int = 0, state: Receiver | None = None) -> Iterator[Receiver]:
    """Listening until the block ends; `state` carries on across a restart on the same port."""
    kept: Receiver = state or Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            got = Received({k.lower(): v for k, v in self.headers.items()}, body, time.time())
            status, extra = kept.answer(got) if kept.answer else (200, {})
            got.status = status
            with kept.lock:
                kept.received.append(got)
            self.send_response(status)
            for k, v in extra.items():
                self.send_header(k, v)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    kept.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield kept
    finally:
        server.shutdown()
        server.server_close()

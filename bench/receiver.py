"""A webhook receiver for bench/webhooks.py: answers 204 to every POST and remembers when each
delivery (by `webhook-id`) arrived; `GET /log` returns [[id, unix seconds], ...]."""

from __future__ import annotations

import time

from fastapi import FastAPI, Request, Response

app = FastAPI()
arrivals: list[tuple[str, float]] = []


@app.post("/hooks")
async def hooks(request: Request) -> Response:
    arrivals.append((request.headers.get("webhook-id", ""), time.time()))
    await request.body()
    return Response(status_code=204)


@app.get("/log")
async def log() -> list[tuple[str, float]]:
    return arrivals

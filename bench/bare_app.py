"""The real Switchboard app plus one bare FastAPI JSON route, served by the same worker.

`uvicorn bench.bare_app:create_app --factory` serves everything `switchboard serve` serves
(same settings from the SWITCHBOARD_ environment, same middleware, same lifespan) and
`GET /bench/bare`, which returns `{"ok": true}` and touches neither Redis nor SQL. The bench
compares call arrivals with that route on one process, side by side.
"""

from __future__ import annotations

from fastapi import FastAPI

from app.main import create_app as create_switchboard


def create_app() -> FastAPI:
    app = create_switchboard()

    @app.get("/bench/bare", include_in_schema=False)
    async def bare() -> dict[str, bool]:
        return {"ok": True}

    return app

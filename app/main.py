"""The application: `create_app(settings)` and its lifespan, the only place resources are made."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from redis.exceptions import (
    ClusterDownError,
    MasterDownError,
    MaxConnectionsError,
    RedisClusterException,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException
from starlette.requests import Request

from app.agents.endpoints import router as agents_router
from app.auth import KeyCache
from app.calls.endpoints import router as calls_router
from app.clock import SystemClock, WallClock
from app.db import repositories as repo
from app.db.engine import open_database
from app.db.migrate import upgrade
from app.deps import RuntimeDep
from app.errors import PROBLEM_JSON, Problem, SwitchboardError, problem
from app.events.endpoints import router as events_router
from app.events.streams import Streams
from app.limits import BodyLimit
from app.logs import configure_logging
from app.metrics import CONTENT_TYPE, Metrics, RequestMetrics, stream_lag
from app.queues.endpoints import router as queues_router
from app.routing.dispatcher import Dispatcher
from app.routing.registry import StrategyRegistry
from app.runtime import Runtime
from app.settings import Settings
from app.staffing.endpoints import router as staffing_router
from app.stats.endpoints import router as stats_router
from app.stats.gauges import live_queues
from app.store.connection import open_redis
from app.store.scripts import Store
from app.tenants.endpoints import router as tenants_router
from app.timers.background import Background
from app.timers.endpoints import router as clock_router
from app.webhooks.endpoints import router as webhooks_router

log = structlog.get_logger("switchboard")

# Redis (or a Redis Cluster's shard) cannot answer now: 503, and the client retries.
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, ClusterDownError, TryAgainError,
              MasterDownError, RedisClusterException)

DESCRIPTION = """Switchboard routes calls to agents: telephony front-ends post arrivals,
agent desktops set states, and Switchboard offers each call to the right agent, atomically.
Errors are RFC 9457 `application/problem+json` with a stable `type`."""


async def open_runtime(settings: Settings, clock: WallClock | None = None,
                       metrics: Metrics | None = None) -> Runtime:
    clock = clock or SystemClock()
    metrics = metrics or Metrics()
    if settings.auto_migrate:
        await upgrade(settings.database_url)
    db = open_database(settings.database_url)
    redis = open_redis(settings.redis_url, max_connections=settings.redis_max_connections)
    strategies = StrategyRegistry.discover()
    store = Store(redis, clock, events_max_len=settings.events_max_len,
                  candidate_limit=settings.candidate_limit)
    # memory:// is one in-process server: the streams read it through the same client.
    stream_redis = redis if settings.redis_url.startswith("memory://") else open_redis(
        settings.redis_url, max_connections=settings.sse_max_streams)
    rt = Runtime(settings, clock, redis, db, store, strategies,
                 Dispatcher(store, strategies, metrics),
                 KeyCache(clock, settings.api_key_cache_ttl_s), metrics,
                 Streams(stream_redis, settings.sse_max_streams))
    metrics.register_sampler("event_stream", stream_lag(redis))
    metrics.register_sampler("live_queues", live_queues(store))
    try:
        await _check_strategies(rt)
    except BaseException:
        await close_runtime(rt)
        raise
    return rt


async def close_runtime(rt: Runtime) -> None:
    if rt.streams.redis is not rt.redis:
        await rt.streams.redis.aclose()
    await rt.redis.aclose()
    await rt.db.dispose()


async def _check_strategies(rt: Runtime) -> None:
    """A queue naming a strategy that is not installed stops the start, loudly."""
    async with rt.db.sessions() as session:
        for tenant in await repo.list_tenants(session):
            for q in await repo.list_configs(session, "queue", tenant.id):
                name = str(q.config.get("strategy", "longest-idle"))
                if name not in rt.strategies.names:
                    raise RuntimeError(
                        f"queue {q.id!r} of tenant {tenant.id!r} uses strategy {name!r}, which "
                        f"is not installed; installed: {', '.join(rt.strategies.names)}")


def _problem(status: int, slug: str, title: str, detail: str, **extra: object) -> JSONResponse:
    return JSONResponse(problem(status, slug, title, detail, **extra), status_code=status,
                        media_type=PROBLEM_JSON)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SwitchboardError)
    async def switchboard_error(_: Request, exc: SwitchboardError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, media_type=PROBLEM_JSON)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"],
                   "type": e["type"]} for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return _problem(422, "validation-error", "Invalid request", detail, errors=errors)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        slugs = {404: "route-not-found", 405: "method-not-allowed"}
        return _problem(exc.status_code, slugs.get(exc.status_code, "http-error"),
                        str(exc.detail), str(exc.detail))

    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        backend = "Redis" if isinstance(exc, REDIS_DOWN) else "SQL"
        log.warning("backend unavailable", backend=backend, error=str(exc))
        detail = f"{backend} is unreachable; retry shortly."
        if isinstance(exc, MaxConnectionsError) or "No connection available" in str(exc):
            # The pool is exhausted (a cluster's at once, a single server's after its wait):
            # Redis is up, this process has every connection busy.
            detail = ("Every Redis connection of this replica is busy; retry shortly "
                      "(SWITCHBOARD_REDIS_MAX_CONNECTIONS sets the pool size).")
        return _problem(503, "backend-unavailable", "Backend unavailable", detail,
                        backend=backend)

    # asyncpg lets a refused or timed-out connection surface as the builtin errors.
    for exc_type in (*REDIS_DOWN, OperationalError, DBAPIError, ConnectionError, TimeoutError):
        app.add_exception_handler(exc_type, unavailable)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path)
        return _problem(500, "internal-error", "Internal error",
                        "An unexpected error; it has been logged.")


def _document_problems(app: FastAPI) -> None:
    """Every operation's errors are documented as what they are: problem+json (`Problem`),
    the 422 of a body or parameter that fails validation included (FastAPI would describe
    that one as its own `HTTPValidationError`, which the app never sends)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(problem_schema.pop("$defs", {}))
        schemas["Problem"] = problem_schema
        as_problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                if "422" in responses:
                    responses["422"] = {"description": "Invalid request: the problem's `errors` "
                                                       "name every field that is wrong.",
                                        "content": as_problem}
                responses["default"] = {"description": "Any other error (401, 403, 404, 409, "
                                                       "413, 503, ...), with its stable `type`.",
                                        "content": as_problem}
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None, clock: WallClock | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level)
    metrics = Metrics()  # this app's registry (an app per test: no process-wide one)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = await open_runtime(settings, clock, metrics)
        app.state.runtime = rt
        background = Background(rt)
        if settings.project_on_start:
            await background.project_all()
        if settings.background_tasks:
            background.start()
        log.info("switchboard started", redis=settings.redis_url.split("@")[-1])
        try:
            yield
        finally:
            await background.stop()
            await close_runtime(rt)
            log.info("switchboard stopped")

    app = FastAPI(title="Switchboard", version="0.1.0", description=DESCRIPTION,
                  lifespan=lifespan)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=metrics)  # outermost: counts 413s too
    _install_error_handlers(app)
    _document_problems(app)
    for router in (tenants_router, queues_router, agents_router, calls_router, events_router,
                   clock_router, webhooks_router, stats_router):
        app.include_router(router)
    app.include_router(staffing_router)

    @app.get("/healthz", tags=["operations"], summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="Redis reachable, scripts loaded",
             description="503 while Redis cannot answer. SQL is reported in `sql` but does "
                         "not make the replica unready: routing goes on while SQL is down, "
                         "and the history catches up when it is back (DESIGN §5).")
    async def readyz(rt: RuntimeDep) -> dict[str, str]:
        await rt.store.ping()
        await rt.store.load()
        try:
            async with rt.db.sessions() as session:
                await session.execute(text("SELECT 1"))
            sql = "ok"
        except (OperationalError, DBAPIError, OSError) as e:
            log.warning("readiness: SQL unreachable", error=str(e))
            sql = "unreachable"
        return {"status": "ready", "sql": sql}

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics",
             response_class=Response,
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                              "description": "Text exposition format 0.0.4 (docs/metrics.md)"},
                        404: {"description": "SWITCHBOARD_METRICS_ENABLED is false"}})
    async def metrics_endpoint() -> Response:
        if not settings.metrics_enabled:
            raise HTTPException(404, "Not Found")  # as if there were no such route
        return Response(await metrics.exposition(), media_type=CONTENT_TYPE)

    return app

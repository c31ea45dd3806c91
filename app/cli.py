"""`switchboard`: serve, tenants create, openapi, migrate, erlang."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from app.settings import Settings

if TYPE_CHECKING:
    import uvicorn

SPEC = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


def _spec() -> str:
    from app.main import create_app

    return json.dumps(create_app(Settings()).openapi(), indent=2, sort_keys=True) + "\n"


def cmd_openapi(args: argparse.Namespace) -> int:
    spec = _spec()
    if args.write:
        SPEC.parent.mkdir(exist_ok=True)
        SPEC.write_text(spec)
        print(f"wrote {SPEC}")
    elif args.check:
        if not SPEC.exists() or json.loads(SPEC.read_text()) != json.loads(spec):
            print(f"{SPEC} differs from the served spec: run `switchboard openapi --write` "
                  "and commit it.", file=sys.stderr)
            return 1
        print("openapi/openapi.json matches the served spec")
    else:
        sys.stdout.write(spec)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.events.service import DRAINING

    class Server(uvicorn.Server):
        """Ends the open event streams on SIGTERM/SIGINT, so draining waits only for
        requests that finish by themselves (clients resume with Last-Event-ID)."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            DRAINING.start()
            super().handle_exit(sig, frame)

    Server(serve_config(args)).run()
    return 0


def serve_config(args: argparse.Namespace) -> uvicorn.Config:
    """One uvicorn process, one event loop: a container runs one, the platform adds more."""
    import uvicorn

    return uvicorn.Config("app.main:create_app", factory=True, host=args.host,
                          port=args.port, log_level="warning", access_log=False,
                          timeout_graceful_shutdown=args.graceful_timeout_s,
                          timeout_keep_alive=args.keep_alive_s)


async def _create_tenant(tenant_id: str, name: str | None, clock: str) -> None:
    from app.clock import ClockMode
    from app.main import close_runtime, open_runtime
    from app.tenants.schemas import TenantCreate
    from app.tenants.service import create_tenant

    rt = await open_runtime(Settings())
    try:
        created = await create_tenant(rt, TenantCreate(id=tenant_id, name=name,
                                                       clock=ClockMode(clock)))
    finally:
        await close_runtime(rt)
    print(created.model_dump_json(indent=2))


def cmd_tenants_create(args: argparse.Namespace) -> int:
    from app.errors import SwitchboardError

    try:
        asyncio.run(_create_tenant(args.id, args.name, args.clock))
    except SwitchboardError as e:
        print(f"error: {e.detail}", file=sys.stderr)
        return 1
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from app.db.migrate import downgrade, upgrade

    url = Settings().database_url
    if args.downgrade:
        asyncio.run(downgrade(url, args.downgrade))
    else:
        asyncio.run(upgrade(url, args.revision))
    return 0


# The flag that sets each field of the staffing request, to name it in an error.
ERLANG_FLAGS = {"arrival_rate_per_hour": "--rate-per-hour", "aht_s": "--aht",
                "threshold_s": "--threshold", "target_service_level": "--target",
                "patience_s": "--patience", "shrinkage": "--shrinkage",
                "max_occupancy": "--max-occupancy", "agents": "--agents"}


def cmd_erlang(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from app.errors import SwitchboardError
    from app.staffing.schemas import ErlangRequest
    from app.staffing.service import staff

    values = {"arrival_rate_per_hour": args.rate_per_hour, "aht_s": args.aht,
              "threshold_s": args.threshold, "target_service_level": args.target,
              "patience_s": args.patience, "shrinkage": args.shrinkage,
              "max_occupancy": args.max_occupancy, "agents": args.agents}
    try:
        # The API's own body model, so the CLI refuses exactly what the API refuses.
        body = ErlangRequest.model_validate({k: v for k, v in values.items() if v is not None})
        answer = staff(body)
    except ValidationError as e:
        error = e.errors()[0]
        field = ".".join(str(part) for part in error["loc"])
        print(f"error: {ERLANG_FLAGS.get(field, field)} ({field}): {error['msg']}",
              file=sys.stderr)
        return 2
    except SwitchboardError as e:
        print(f"error: {e.detail}", file=sys.stderr)
        return 2 if e.slug == "validation-error" else 1
    if args.json:
        print(answer.model_dump_json(indent=2))
        return 0

    def seconds(value: float | None) -> str:
        return "unbounded" if value is None else f"{value:.2f} s"

    rows = [
        ("agents given" if body.agents else "agents needed", str(answer.agents)),
        (f"scheduled ({body.shrinkage:.0%} shrinkage)", str(answer.scheduled_agents)),
        (f"service level ({body.threshold_s:g} s)", f"{answer.service_level:.2%}"),
        ("probability of wait", f"{answer.probability_of_wait:.2%}"),
        ("ASA (answered calls)", seconds(answer.asa_s)),
        ("average wait (all calls)", seconds(answer.average_wait_s)),
        ("abandon rate", f"{answer.abandon_rate:.2%}"),
        ("occupancy", f"{answer.occupancy:.2%}"),
    ]
    print(f"{answer.model.value}: {answer.traffic_erlangs:.4g} Erlangs offered"
          + ("" if answer.stable else " (unstable: agents ≤ Erlangs)"))
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from app.simulation.command import Options, run

    if bool(args.url) != bool(args.api_key):
        print("error: --url and --api-key go together (a manual-clock tenant's key)",
              file=sys.stderr)
        return 2
    return asyncio.run(run(Options(
        scenario=Path(args.scenario), seed=args.seed, url=args.url, api_key=args.api_key,
        redis_url=args.redis_url, report=Path(args.report) if args.report else None,
        json=Path(args.json) if args.json else None, skip_bad_rows=args.skip_bad_rows,
        progress=not args.quiet and sys.stderr.isatty())))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="switchboard", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--keep-alive-s", type=int, default=5,
                       help="how long an idle client connection stays open; behind a load "
                            "balancer, longer than its idle timeout (docs/deploy.md)")
    serve.add_argument("--graceful-timeout-s", type=int, default=20,
                       help="on SIGTERM, how long in-flight requests may finish")
    serve.set_defaults(func=cmd_serve)

    tenants = sub.add_parser("tenants", help="manage tenants")
    tsub = tenants.add_subparsers(dest="tenants_command", required=True)
    create = tsub.add_parser("create", help="create a tenant; prints its first admin key")
    create.add_argument("id")
    create.add_argument("--name")
    create.add_argument("--clock", choices=["wall", "manual"], default="wall")
    create.set_defaults(func=cmd_tenants_create)

    spec = sub.add_parser("openapi", help="print the OpenAPI document")
    mode = spec.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write openapi/openapi.json")
    mode.add_argument("--check", action="store_true", help="fail if openapi.json differs")
    spec.set_defaults(func=cmd_openapi)

    migrate = sub.add_parser("migrate", help="upgrade the SQL schema (Alembic)")
    migrate.add_argument("--revision", default="head")
    migrate.add_argument("--downgrade", metavar="REVISION", help="downgrade to REVISION")
    migrate.set_defaults(func=cmd_migrate)

    erlang = sub.add_parser("erlang", help="agents needed, or what given agents achieve "
                                           "(Erlang C; Erlang A with --patience)")
    erlang.add_argument("--rate-per-hour", type=float, required=True, help="calls offered")
    erlang.add_argument("--aht", type=float, required=True, help="average handling time, s")
    erlang.add_argument("--threshold", type=float, required=True,
                        help="service level threshold, s")
    erlang.add_argument("--target", type=float, default=0.8,
                        help="service level to reach (default 0.8)")
    erlang.add_argument("--patience", type=float, help="mean patience, s: Erlang A")
    erlang.add_argument("--shrinkage", type=float, help="share of paid time off the phones")
    erlang.add_argument("--max-occupancy", type=float, help="also keep A / N at most this")
    erlang.add_argument("--agents", type=int, help="predict for this many agents")
    erlang.add_argument("--json", action="store_true", help="the API's JSON answer")
    erlang.set_defaults(func=cmd_erlang)

    sim = sub.add_parser("simulate", help="run a scenario through the routing engine on a "
                                          "manual clock (docs/simulation.md)")
    sim.add_argument("scenario", help="a scenario file, YAML or JSON (see examples/)")
    sim.add_argument("--seed", type=int, help="instead of the scenario's own")
    sim.add_argument("--url", help="a running Switchboard instead of this process")
    sim.add_argument("--api-key", help="with --url: the key of a manual-clock tenant")
    sim.add_argument("--redis-url", default="memory://",
                     help="in process: the Redis to use (default: embedded)")
    sim.add_argument("--report", help="the HTML report (default: SCENARIO.report.html)")
    sim.add_argument("--json", help="also write every call's outcome here")
    sim.add_argument("--skip-bad-rows", action="store_true",
                     help="leave out (and count) malformed trace rows instead of refusing")
    sim.add_argument("--quiet", action="store_true", help="no progress bar")
    sim.set_defaults(func=cmd_simulate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

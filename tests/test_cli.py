"""The `switchboard` command as a newcomer uses it: `serve` with nothing set (embedded Redis,
SQLite in the working directory), `tenants create` beside a running server, `openapi`,
`migrate`, and a graceful stop on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from app.cli import parser, serve_config
from tests.processes import SWITCHBOARD, free_port
from tests.support import expect


def bare_env() -> dict[str, str]:
    """The environment of a machine where nothing of Switchboard is configured."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}


def wait_ready(base_url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"not ready:\n{log.read_text()}")


@pytest.mark.slow
def test_serve_with_nothing_set_and_a_tenant_from_the_cli(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(SWITCHBOARD), "serve", "--port", str(port)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=bare_env(), cwd=tmp_path)
        try:
            wait_ready(base, proc, log_path)
            assert (tmp_path / "switchboard.db").exists(), "SQLite file in the working dir"

            created = subprocess.run([str(SWITCHBOARD), "tenants", "create", "acme",
                                      "--clock", "manual"], env=bare_env(), cwd=tmp_path,
                                     capture_output=True, check=True, timeout=60)
            tenant = json.loads(created.stdout)
            assert tenant["id"] == "acme" and tenant["clock"] == "manual"
            auth = {"Authorization": f"Bearer {tenant['api_key']}"}

            # The running server knows the tenant from SQL and projects it on first use.
            with httpx.Client(base_url=base, headers=auth, timeout=10) as http:
                expect(http.put("/v1/queues/sales", json={}), 200)
                expect(http.put("/v1/agents/ana", json={}), 200)
                expect(http.post("/v1/agents/ana/state", json={"state": "available"}), 200)
                call = expect(http.post("/v1/calls", json={"queue": "sales"}), 201)
                assert call["state"] == "offered" and call["offer"]["agent_id"] == "ana"
                assert expect(http.get("/v1/clock"), 200)["mode"] == "manual"
                assert http.get("/docs").status_code == 200

            again = subprocess.run([str(SWITCHBOARD), "tenants", "create", "acme"],
                                   env=bare_env(), cwd=tmp_path, capture_output=True,
                                   timeout=60)
            assert again.returncode == 1
            assert b"exists" in again.stderr

            os.kill(proc.pid, signal.SIGTERM)
            # uvicorn drains, runs the lifespan's shutdown, then re-raises the signal.
            assert proc.wait(timeout=15) in (0, -signal.SIGTERM)
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
    assert "switchboard stopped" in log_path.read_text()


def test_openapi_prints_the_committed_spec(repo_root: Path) -> None:
    printed = subprocess.run([str(SWITCHBOARD), "openapi"], capture_output=True, check=True,
                             env=bare_env(), timeout=60)
    committed = json.loads((repo_root / "openapi" / "openapi.json").read_text())
    assert json.loads(printed.stdout) == committed


def test_migrate_creates_the_schema(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    env = {**bare_env(), "SWITCHBOARD_DATABASE_URL": f"sqlite+aiosqlite:///{db}"}
    subprocess.run([str(SWITCHBOARD), "migrate"], env=env, check=True, capture_output=True,
                   timeout=60)
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"tenants", "api_keys", "queues", "agents", "alembic_version"} <= tables
    subprocess.run([str(SWITCHBOARD), "migrate", "--downgrade", "base"], env=env, check=True,
                   capture_output=True, timeout=60)
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "tenants" not in tables


def test_serve_runs_one_process_with_the_timeouts_given() -> None:
    """The container's command line reaches uvicorn: one worker, the drain and keep-alive."""
    default = serve_config(parser().parse_args(["serve"]))
    assert (default.workers, default.timeout_keep_alive, default.timeout_graceful_shutdown) == (
        1, 5, 20)
    behind_lb = serve_config(parser().parse_args(
        ["serve", "--host", "0.0.0.0", "--keep-alive-s", "65", "--graceful-timeout-s", "25"]))
    assert (behind_lb.host, behind_lb.timeout_keep_alive,
            behind_lb.timeout_graceful_shutdown) == ("0.0.0.0", 65, 25)

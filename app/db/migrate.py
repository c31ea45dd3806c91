"""Run the Alembic migrations programmatically.

alembic.ini and migrations/ live in the repository root, the parent of the ``app`` package.
An installed (non-editable) package has no repository root next to it, so the container
points SWITCHBOARD_ALEMBIC_CONFIG at its copy of alembic.ini instead.

migrations/env.py drives an async engine with ``asyncio.run``, which cannot run inside an
event loop; the Alembic commands therefore run in a worker thread.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

REPO_ROOT = Path(__file__).resolve().parents[2]

# Alembic's ``context`` is process-global: one migration at a time.
_lock = threading.Lock()


def alembic_ini() -> Path:
    override = os.environ.get("SWITCHBOARD_ALEMBIC_CONFIG")
    path = Path(override) if override else REPO_ROOT / "alembic.ini"
    if not path.is_file():
        raise FileNotFoundError(f"alembic.ini not found at {path}")
    return path


def alembic_config(url: str | None = None) -> Config:
    config = Config(str(alembic_ini()))
    # Leave the caller's logging alone (env.py would otherwise apply alembic.ini's).
    config.attributes["configure_logger"] = False
    if url is not None:
        config.attributes["url"] = url
    return config


def current_head() -> str:
    """The head revision of the migration scripts."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migration revisions found")
    return head


def _upgrade(url: str, revision: str) -> None:
    with _lock:
        command.upgrade(alembic_config(url), revision)


def _downgrade(url: str, revision: str) -> None:
    with _lock:
        command.downgrade(alembic_config(url), revision)


async def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` (an async SQLAlchemy URL) up to ``revision``."""
    await asyncio.to_thread(_upgrade, url, revision)


async def downgrade(url: str, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``"base"`` drops everything)."""
    await asyncio.to_thread(_downgrade, url, revision)

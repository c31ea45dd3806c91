"""API keys and roles (DESIGN §3.1).

A key is `sb_<key id>_<secret>`; only its sha256 is stored. Keys are looked up in SQL and kept
in process for `api_key_cache_ttl_s`, so a request costs no SQL round trip; past that time a
key is looked up again, and if SQL cannot answer, the last answer stands, so routing goes on
while SQL is down.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

from app.clock import WallClock


class Role(StrEnum):
    admin = "admin"
    telephony = "telephony"
    agent = "agent"
    supervisor = "supervisor"


@dataclass(frozen=True, slots=True)
class Principal:
    tenant: str
    role: Role
    key_id: str


def new_key() -> tuple[str, str, str]:
    """(key id, whole key shown once, its hash)."""
    key_id = secrets.token_hex(6)
    key = f"sb_{key_id}_{secrets.token_urlsafe(24)}"
    return key_id, key, hash_key(key)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyCache:
    def __init__(self, clock: WallClock, ttl_s: float) -> None:
        self._clock = clock
        self._ttl_ms = ttl_s * 1000
        self._entries: dict[str, tuple[float, Principal | None]] = {}

    def get(self, key_hash: str) -> tuple[bool, Principal | None]:
        """(fresh, principal): a stale entry is returned with fresh=False, for use when SQL
        cannot be asked (routing goes on while SQL is down)."""
        entry = self._entries.get(key_hash)
        if entry is None:
            return False, None
        return entry[0] >= self._clock.now_ms(), entry[1]

    def put(self, key_hash: str, principal: Principal | None) -> None:
        if len(self._entries) > 100_000:
            self._entries.clear()  # a flood of bad keys must not grow memory without bound
        self._entries[key_hash] = (self._clock.now_ms() + self._ttl_ms, principal)

"""Every Redis key Switchboard uses.

All keys of one tenant carry the hash tag `{t:<tenant>}`, so every script touches one slot
and tenants spread over a Redis Cluster's shards. Scripts receive these keys in KEYS, in the
order of `FIXED`, followed by, for every queue they may touch, its waiting calls (by rank and
by entry), its available agents per channel (in the order of `CHANNELS`) and its busy agents
by when they are expected to be free.
"""

from __future__ import annotations

TENANTS = "sb:tenants"  # set of projected tenant ids (one slot of its own)

FIXED = (
    "meta",  # hash: id, clock mode
    "calls",  # hash: call id -> call JSON (live and recently ended)
    "agents",  # hash: agent id -> live agent JSON (state, idle_since_ms, offer...)
    "ext",  # hash: external_id -> call id
    "qcfg",  # hash: queue id -> projected configuration JSON
    "acfg",  # hash: agent id -> projected configuration JSON (+ member_of, eligible)
    "timers",  # zset: "kind|id|..." scored by due ms
    "events",  # stream: the tenant's event log (outbox)
    "clock",  # string: a manual clock's now in ms (absent on wall tenants)
    "seq",  # counter behind call, offer and entry ids
    "ended",  # zset: ended call ids by end ms (retention)
    "targeted",  # zset (lex): "<agent>|<call>" for calls transferred to one agent
    "stats",  # hash: "<day>|<agent>|<counter>" per tenant-day counters
    "qlive",  # hash: "<queue>" live calls, "<queue>|aht_ms" handle time, "<queue>|rr" cursor
    "customers",  # hash: customer_id -> the agent who last completed a call of theirs
    "logged",  # set: agents not offline (why-it-waits counts scan these, not every agent)
    "tz",  # zset: "<from ms>:<UTC offset ms>" by from ms, the tenant's zone (none for UTC)
    "staff",  # hash: per queue, counts of its agents logged in, eligible, free and at work
)


def prefix(tenant: str) -> str:
    return f"sb:{{t:{tenant}}}:"


def fixed(tenant: str) -> list[str]:
    p = prefix(tenant)
    return [p + name for name in FIXED]


def key(tenant: str, name: str) -> str:
    return prefix(tenant) + name


def waiting(tenant: str, queue: str) -> str:
    """Zset of a queue's waiting calls, scored by rank (lower first)."""
    return f"{prefix(tenant)}qw:{queue}"


CHANNELS = ("voice", "chat", "email", "video", "callback")


def available(tenant: str, queue: str, channel: str = "voice") -> str:
    """Zset of a queue's eligible agents with room for one more contact of a channel, scored
    by contacts in hand × 10¹³ + idle_since_ms (fewest contacts, then longest idle, first)."""
    name = f"{prefix(tenant)}qa:{queue}"
    return name if channel == "voice" else f"{name}|{channel}"


def entered(tenant: str, queue: str) -> str:
    """Zset of a queue's waiting calls, scored by when they entered it (the longest wait)."""
    return f"{prefix(tenant)}qe:{queue}"


def freeing(tenant: str, queue: str) -> str:
    """Zset of a queue's eligible agents at work without room, per channel, by when they are
    expected to have room again ("<channel>|<agent>", scored channel index × 10¹⁵ + ms)."""
    return f"{prefix(tenant)}qf:{queue}"


def queue_keys(tenant: str, queue: str) -> list[str]:
    """What a script is given for one queue: its waiting calls by rank and by entry time,
    `available` per channel, then `freeing`."""
    return [waiting(tenant, queue), entered(tenant, queue),
            *(available(tenant, queue, ch) for ch in CHANNELS), freeing(tenant, queue)]

"""Which URLs a webhook may target.

A target is an absolute http(s) URL with a host, no credentials and no fragment. Unless
`Settings.webhook_allow_private` is set, it must not name a non-public address: an IP literal
that is private, loopback, link-local, ... (v4, v6 and IPv4-mapped v6) or the `localhost`
names. Host names are not resolved here: a name can point anywhere and change later, so the
sender checks every resolved address again at delivery (`non_public_kind`).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
SCHEMES = ("http", "https")
ALLOW_PRIVATE_HINT = "set SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE=true to allow it"


class RefusedTarget(ValueError):
    """A URL no webhook may target; the message is the reason, naming what is wrong."""


def non_public_kind(ip: IPAddress) -> str | None:
    """'private', 'loopback', ... for an address outside the public internet; None if public."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # Most specific first: 127.0.0.1 is also private, but "loopback" says more.
    for kind in ("unspecified", "loopback", "link_local", "multicast", "reserved", "private"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    # e.g. 100.64.0.0/10, shared by carriers: neither private nor reachable from outside.
    return None if ip.is_global else "non-public"


def _ip_literal(host: str) -> IPAddress | None:
    """The address a host names literally, including legacy IPv4 forms that resolvers accept
    (`127.1`, `2130706433`, `0x7f.0.0.1`)."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])  # no IPv6 zone (fe80::1%25eth0)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _address_refusal(host: str) -> str | None:
    name = host.rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return f"{host} is a loopback name"
    ip = _ip_literal(host)
    kind = None if ip is None else non_public_kind(ip)
    if kind is None:
        return None
    article = "an" if kind[0] in "aeiou" else "a"
    return f"{host} is {article} {kind} address"


def check_url(url: str, *, allow_private: bool) -> None:
    """Raise RefusedTarget unless `url` may be a webhook target."""
    if len(url) > MAX_URL_LENGTH:
        raise RefusedTarget(f"is longer than {MAX_URL_LENGTH} characters")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise RefusedTarget("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)  # also checks an IP literal in brackets: [::1]
    except ValueError as e:
        raise RefusedTarget(f"is not a valid URL ({e})") from None
    if not parts.scheme:
        raise RefusedTarget("needs a scheme: http:// or https://")
    if parts.scheme.lower() not in SCHEMES:
        raise RefusedTarget(f"the scheme {parts.scheme!r} is not allowed; use http:// or https://")
    if "@" in parts.netloc:
        raise RefusedTarget("must not contain credentials (user:password@); "
                            "receivers authenticate deliveries by their signature")
    if not parts.hostname:
        raise RefusedTarget("needs a host")
    if "#" in url:
        raise RefusedTarget("must not have a fragment (#...)")
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise RefusedTarget("has an invalid port") from None
    if not allow_private and (refusal := _address_refusal(parts.hostname)):
        raise RefusedTarget(f"{refusal}; {ALLOW_PRIVATE_HINT}")

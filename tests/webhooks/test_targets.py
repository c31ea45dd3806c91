"""Which URLs a webhook may target: scheme, credentials, host, length, fragment, addresses."""

from __future__ import annotations

import ipaddress

import pytest

from app.webhooks.targets import ALLOW_PRIVATE_HINT, RefusedTarget, check_url, non_public_kind

PUBLIC = [
    "https://hooks.example.com/switchboard",
    "http://hooks.example.com:8080/a/b?c=d",
    "HTTPS://Hooks.Example.com/",
    "https://8.8.8.8/hook",
    "https://[2001:4860:4860::8888]/hook",
    "https://[::ffff:8.8.8.8]/hook",  # IPv4-mapped, but a public address
    "https://localhost.example.com/",  # only the name localhost and its subdomains are loopback
    "https://xn--bcher-kva.example/hook",
    "https://example.com/" + "a" * (2048 - len("https://example.com/")),
]


@pytest.mark.parametrize("url", PUBLIC)
def test_public_targets_are_accepted(url: str) -> None:
    check_url(url, allow_private=False)


@pytest.mark.parametrize(("url", "reason"), [
    ("ftp://example.com/hook", "the scheme 'ftp' is not allowed; use http:// or https://"),
    ("javascript:alert(1)", "the scheme 'javascript' is not allowed"),
    ("file:///etc/passwd", "the scheme 'file' is not allowed"),
    ("example.com/hook", "needs a scheme: http:// or https://"),
    ("//example.com/hook", "needs a scheme"),
    ("", "needs a scheme"),
    ("https://user:pass@example.com/", "must not contain credentials (user:password@)"),
    ("https://token@example.com/", "must not contain credentials"),
    ("https://@example.com/", "must not contain credentials"),
    ("https:///hook", "needs a host"),
    ("https://", "needs a host"),
    ("https://example.com/hook#part", "must not have a fragment"),
    ("https://example.com/hook#", "must not have a fragment"),
    ("https://example.com/" + "a" * 2048, "is longer than 2048 characters"),
    ("https://example.com/a b", "must not contain spaces or control characters"),
    ("https://example.com/\x00", "must not contain spaces or control characters"),
    ("https://example.com\n.evil/", "must not contain spaces or control characters"),
    ("https://example.com:99999/", "has an invalid port"),
    ("https://example.com:port/", "has an invalid port"),
    ("https://[::1/", "is not a valid URL"),
    ("https://[not-an-ip]/", "is not a valid URL"),
])
def test_malformed_targets_are_refused_even_when_private_is_allowed(
        url: str, reason: str) -> None:
    for allow_private in (False, True):
        with pytest.raises(RefusedTarget) as refused:
            check_url(url, allow_private=allow_private)
        assert reason in str(refused.value)


@pytest.mark.parametrize(("url", "reason"), [
    ("http://10.0.0.5/hook", "10.0.0.5 is a private address"),
    ("http://172.16.3.4/", "172.16.3.4 is a private address"),
    ("http://192.168.1.10:8080/", "192.168.1.10 is a private address"),
    ("http://127.0.0.1:9000/", "127.0.0.1 is a loopback address"),
    ("http://127.1/", "127.1 is a loopback address"),  # resolvers read it as 127.0.0.1
    ("http://2130706433/", "2130706433 is a loopback address"),
    ("http://0x7f.0.0.1/", "0x7f.0.0.1 is a loopback address"),
    ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"),
    ("http://0.0.0.0/", "0.0.0.0 is an unspecified address"),
    ("http://224.0.0.1/", "224.0.0.1 is a multicast address"),
    ("http://100.64.0.1/", "100.64.0.1 is a non-public address"),
    ("http://[::1]/", "::1 is a loopback address"),
    ("http://[::]/", ":: is an unspecified address"),
    ("http://[fe80::1]/", "fe80::1 is a link-local address"),
    ("http://[fe80::1%25eth0]/", "fe80::1%25eth0 is a link-local address"),
    ("http://[fd00::1]/", "fd00::1 is a private address"),
    ("http://[ff02::1]/", "ff02::1 is a multicast address"),
    ("http://[::ffff:10.0.0.5]/", "::ffff:10.0.0.5 is a private address"),
    ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1 is a loopback address"),
    ("http://localhost:8000/", "localhost is a loopback name"),
    ("http://LOCALHOST./", "localhost. is a loopback name"),
    ("http://api.localhost/", "api.localhost is a loopback name"),
])
def test_private_targets_are_refused_unless_allowed(url: str, reason: str) -> None:
    with pytest.raises(RefusedTarget) as refused:
        check_url(url, allow_private=False)
    assert str(refused.value) == f"{reason}; {ALLOW_PRIVATE_HINT}"
    check_url(url, allow_private=True)


def test_the_hint_names_the_setting() -> None:
    assert ALLOW_PRIVATE_HINT == "set SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE=true to allow it"


@pytest.mark.parametrize(("address", "kind"), [
    ("93.184.216.34", None), ("2606:2800:220:1:248:1893:25c8:1946", None),
    ("10.1.2.3", "private"), ("127.0.0.53", "loopback"), ("::ffff:192.168.0.1", "private"),
    ("240.0.0.1", "reserved"),
])
def test_non_public_kind_of_a_resolved_address(address: str, kind: str | None) -> None:
    assert non_public_kind(ipaddress.ip_address(address)) == kind

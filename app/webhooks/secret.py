"""Signing secrets in the Standard Webhooks format: `whsec_` + the base64 of the key bytes.

The secret is stored as given, since signing needs the key itself; it is shown once, in the
response of the PUT that set it.
"""

from __future__ import annotations

import base64
import binascii
import secrets

PREFIX = "whsec_"
NEW_KEY_BYTES = 24
MIN_KEY_BYTES, MAX_KEY_BYTES = 24, 64


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(NEW_KEY_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key a secret holds; ValueError if it is not `whsec_` + base64 of 24–64 bytes."""
    if not secret.startswith(PREFIX):
        raise ValueError(f"a secret starts with {PREFIX!r}")
    try:
        key = base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"a secret is {PREFIX!r} followed by standard base64") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValueError(f"a secret holds {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes, "
                         f"not {len(key)}")
    return key

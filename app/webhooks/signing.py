"""Standard Webhooks signatures: `webhook-id`, `webhook-timestamp` (seconds) and
`webhook-signature` = `v1,` + base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>"))."""

from __future__ import annotations

import base64
import hashlib
import hmac

from app.webhooks.secret import secret_key


def headers(secret: str, message_id: str, timestamp_s: int, body: bytes) -> dict[str, str]:
    signed = f"{message_id}.{timestamp_s}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp_s),
            "webhook-signature": "v1," + base64.b64encode(digest).decode(),
            "content-type": "application/json", "user-agent": "Switchboard-Webhooks/1"}

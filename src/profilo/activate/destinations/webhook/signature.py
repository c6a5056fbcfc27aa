"""The webhook signature: HMAC-SHA256 over the timestamp and the body, like Stripe's and Segment's.

Every request carries two headers::

    X-Profilo-Timestamp: 1764000000
    X-Profilo-Signature: v1=<64 hex digits>

where the signature is ``hex(HMAC-SHA256(secret, f"{timestamp}.{body}"))`` over the raw bytes of
the body. A receiver recomputes it with the shared secret, compares in constant time, and refuses
a timestamp older than a few minutes (a replayed request). :func:`verify_signature` does all three.
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "sign", "verify_signature"]

SIGNATURE_HEADER = "X-Profilo-Signature"
TIMESTAMP_HEADER = "X-Profilo-Timestamp"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp`` (Unix seconds).

    >>> sign("s3cret", 1764000000, b'{"changes":[]}')[:10]
    'v1=f976959'
    """
    message = str(timestamp).encode() + b"." + body
    return "v1=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    tolerance_seconds: float = 300,
    now: float | None = None,
) -> bool:
    """Whether a request is genuine and recent; for receivers (and Profilo's own tests)."""
    if not timestamp or not signature:
        return False
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    now = time.time() if now is None else now
    if abs(now - stamp) > tolerance_seconds:
        return False
    expected = sign(secret, stamp, body)
    return any(
        hmac.compare_digest(expected, part.strip())
        for part in signature.split(",")
        if part.strip().startswith("v1=")
    )

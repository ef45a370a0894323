"""Sending moto's recording to a fresh server again, in order, exactly once each.

The recording is replayed from the parent, not with ``POST /moto-api/recorder/replay-recording``:
moto's endpoint makes the server call itself over HTTP (a deadlock once single-threaded),
aborts with a 500 on the first undecodable line, and cannot repair Cognito access tokens.
Access tokens embed ``iat``/``exp`` timestamps, so a replayed ``InitiateAuth`` issues a
different token string; calls recorded with the old token (``ChangePassword``,
``UpdateUserAttributes``, ...) would then fail and silently lose their effect. Their ``jti``
comes from the seeded generator and is identical, so the replayer maps old tokens to new
ones by ``jti``. moto's own replay does not re-record (it switches recording off while it
runs); here recording is simply started only after the replay, so the file never grows on
restart.
"""

from __future__ import annotations

import base64
import http.client
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from .moto_recording import RestoreReport

# Hop-by-hop or length headers from the recorded request; http.client recomputes them, and the
# recorded Host names the previous (possibly different) port.
_DROP_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "expect", "te"}
)
_COGNITO_TARGET_PREFIX = "AWSCognitoIdentityProviderService."

Send = Callable[[str, str, bytes | None, dict[str, str]], tuple[int, bytes]]


class ReplayRequestFailed(Exception):
    """The server failed (no HTTP answer) on request ``index`` (0-based) of ``total``."""

    def __init__(self, index: int, total: int, cause: BaseException):
        super().__init__(f"request {index + 1} of {total} ({cause})")
        self.index = index
        self.total = total
        self.cause = cause


def _jwt_claim(token: str, claim: str) -> Any:
    """Read one claim of a JWT without verifying it (only used to match tokens by ``jti``)."""
    try:
        payload = token.split(".")[1]
        decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        return json.loads(decoded).get(claim)
    except (IndexError, ValueError, AttributeError):
        return None


def _header(headers: dict[str, Any], name: str) -> str:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return str(value)
    return ""


class _CognitoTokenMap:
    """Maps access tokens from the recording to the ones the replay issued, by ``jti``."""

    def __init__(self) -> None:
        self._by_jti: dict[str, str] = {}

    def learn(self, response_body: bytes) -> None:
        try:
            result = json.loads(response_body).get("AuthenticationResult") or {}
        except (ValueError, AttributeError):
            return
        token = result.get("AccessToken") if isinstance(result, dict) else None
        if not isinstance(token, str):
            return
        jti = _jwt_claim(token, "jti")
        if jti:
            self._by_jti[jti] = token

    def rewrite(self, body: bytes) -> bytes:
        if not self._by_jti or b'"AccessToken"' not in body:
            return body
        try:
            old = json.loads(body).get("AccessToken")
        except (ValueError, AttributeError):
            return body
        if not isinstance(old, str):
            return body
        new = self._by_jti.get(_jwt_claim(old, "jti") or "")
        if not new or new == old:
            return body
        return body.replace(old.encode("ascii"), new.encode("ascii"))


def replay(entries: list[dict[str, Any]], report: RestoreReport, send: Send) -> None:
    """Send the recorded requests again with ``send(method, target, body, headers)``, in
    order, exactly once each, counting the failures in ``report``."""
    tokens = _CognitoTokenMap()
    started = time.perf_counter()
    for index, entry in enumerate(entries):
        raw = entry.get("body")
        if raw is None:
            body = b""
        elif entry.get("body_encoded"):
            body = base64.b64decode(raw)
        else:
            body = raw.encode("utf-8")
        recorded_headers: dict[str, Any] = entry.get("headers") or {}
        headers = {k: str(v) for k, v in recorded_headers.items() if k.lower() not in _DROP_HEADERS}
        cognito = _header(recorded_headers, "X-Amz-Target").startswith(_COGNITO_TARGET_PREFIX)
        if cognito:
            body = tokens.rewrite(body)
        parts = urlsplit(entry["url"])
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            status, response = send(entry["method"], target, body or None, headers)
        except (OSError, http.client.HTTPException) as exc:
            raise ReplayRequestFailed(index, len(entries), exc) from exc
        if status >= 500:
            report.server_errors += 1
        elif status >= 400:
            report.client_errors += 1
        elif cognito:
            tokens.learn(response)
    report.entries = len(entries)
    report.seconds = time.perf_counter() - started
    if report.server_errors:
        report.warnings.append(
            f"{report.server_errors} restored requests failed inside moto (HTTP 5xx); "
            "some state may be missing"
        )

"""A fault-injecting HTTP proxy in front of the local AWS endpoint (real HTTP, not patched clients).

Tests point boto3 at this proxy; it forwards to moto's server unless a queued fault matches the
request's ``X-Amz-Target`` (e.g. ``DynamoDB_20120810.PutItem``): throttling errors as AWS sends
them, 5xx, dropped connections, a hang past the client's read timeout, or (``unprocessed``) a
``BatchGetItem`` answered only in part, the rest handed back as ``UnprocessedKeys`` as DynamoDB
does when it throttles a batch.
"""

from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
import time
import zlib
from typing import Any
from urllib.parse import urlparse

from .http_service import StandInHandler, ThreadedHTTPService

THROTTLE = {
    "dynamodb": (
        "com.amazonaws.dynamodb.v20120810#ThrottlingException",
        "Rate of requests exceeds the allowed throughput.",
    ),
    "secretsmanager": ("ThrottlingException", "Rate exceeded"),
}


class _Handler(StandInHandler):
    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        target = self.headers.get("X-Amz-Target", "")
        proxy = self.server.owner
        fault = proxy.take(target)
        proxy.seen.append(target)
        if fault is not None:
            kind = fault["kind"]
            if kind == "drop":
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                self.connection.close()
                return
            if kind == "hang":
                time.sleep(fault.get("delay_s", 30))
                self.close_connection = True
                return
            if kind in ("throttle", "status"):
                service = "secretsmanager" if target.startswith("secretsmanager") else "dynamodb"
                code, message = (
                    THROTTLE[service]
                    if kind == "throttle"
                    else ("InternalServerError", "Internal error")
                )
                status = 400 if kind == "throttle" else int(fault.get("status", 500))
                data = json.dumps({"__type": code, "message": message}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("x-amzn-ErrorType", code.split("#")[-1])
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
        held_back: dict[str, Any] = {}
        if fault is not None and fault["kind"] == "unprocessed":
            body, held_back = _hold_back(body, int(fault.get("keep", 1)))
            if not any(t.get("Keys") for t in json.loads(body)["RequestItems"].values()):
                # nothing left to ask (keep=0): DynamoDB's answer to a batch it fully throttled
                self._json(
                    200, {"Responses": {t: [] for t in held_back}, "UnprocessedKeys": held_back}
                )
                return
        upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
        # http.client sets Content-Length from the (possibly rewritten) body
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower() not in ("host", "connection", "content-length")
        }
        upstream.request(self.command, self.path, body=body, headers=headers)
        response = upstream.getresponse()
        data = response.read()
        if held_back and response.status == 200:
            answer = json.loads(data)
            answer["UnprocessedKeys"] = held_back
            data = json.dumps(answer).encode()
        self.send_response(response.status)
        for k, v in response.getheaders():
            if k.lower() not in (
                "content-length",
                "transfer-encoding",
                "connection",
                "server",
                "date",
                "x-amz-crc32",
            ):
                self.send_header(k, v)
        self.send_header("x-amz-crc32", str(zlib.crc32(data) & 0xFFFFFFFF))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    def _json(self, status: int, answer: dict[str, Any]) -> None:
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("x-amz-crc32", str(zlib.crc32(data) & 0xFFFFFFFF))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _any


def _hold_back(body: bytes, keep: int) -> tuple[bytes, dict[str, Any]]:
    """A BatchGetItem body asking for only the first ``keep`` keys of each table, and the
    request items held back (what DynamoDB would return as ``UnprocessedKeys``)."""
    request = json.loads(body)
    held: dict[str, Any] = {}
    for table, asked in request.get("RequestItems", {}).items():
        keys = asked.get("Keys", [])
        if len(keys) > keep:
            held[table] = {**asked, "Keys": keys[keep:]}
            asked["Keys"] = keys[:keep]
    return json.dumps(request).encode(), held


class FaultProxy(ThreadedHTTPService):
    name = "aws-fault-proxy"

    def __init__(self, upstream_url: str, host: str = "127.0.0.1", port: int = 0):
        parsed = urlparse(upstream_url)
        self.upstream_host, self.upstream_port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self._faults: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.seen: list[str] = []
        super().__init__(_Handler, host, port)

    @property
    def url(self) -> str:
        return self.base_url

    def add_fault(self, kind: str, match: str = "", count: int = 1, **options: Any) -> None:
        """Queue a fault for the next ``count`` requests whose X-Amz-Target contains ``match``."""
        if kind not in ("throttle", "status", "drop", "hang", "unprocessed"):
            raise ValueError(f"unknown fault {kind!r}")
        with self._lock:
            self._faults.append({"kind": kind, "match": match, "count": count, **options})

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.seen.clear()

    def take(self, target: str) -> dict[str, Any] | None:
        with self._lock:
            for fault in self._faults:
                if fault["match"] in target:
                    fault["count"] -= 1
                    if fault["count"] <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

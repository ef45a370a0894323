"""A fault-injecting HTTP proxy in front of the local AWS endpoint (real HTTP, not patched clients).

Tests point boto3 at this proxy; it forwards to moto's server unless a queued fault matches the
request's ``X-Amz-Target`` (e.g. ``DynamoDB_20120810.PutItem``): throttling errors as AWS sends
them, 5xx, dropped connections, or a hang past the client's read timeout.
"""

from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlparse

from .http_service import ServiceServer, ThreadedHTTPService

THROTTLE = {
    "dynamodb": (
        "com.amazonaws.dynamodb.v20120810#ThrottlingException",
        "Rate of requests exceeds the allowed throughput.",
    ),
    "secretsmanager": ("ThrottlingException", "Rate exceeded"),
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: ServiceServer

    def log_message(self, format: str, *args: Any) -> None:
        return

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
        upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        upstream.request(self.command, self.path, body=body, headers=headers)
        response = upstream.getresponse()
        data = response.read()
        self.send_response(response.status)
        for k, v in response.getheaders():
            if k.lower() not in (
                "content-length",
                "transfer-encoding",
                "connection",
                "server",
                "date",
            ):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    do_GET = do_POST = do_PUT = do_DELETE = _any


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
        if kind not in ("throttle", "status", "drop", "hang"):
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

"""The demo model's HTTP request handler: the chat-completions routes (OpenAI and Azure
shapes), the control API's routes and the local-caller check that guards them.

It holds no state of its own: every route reads or changes the ``ModelServer`` that owns the
listening socket (server.py). It lives apart from that control object so that each module
stays a size one reads whole.

The control API has no authentication: it is meant for 127.0.0.1 only. It refuses requests
that carry an ``Origin`` header or a non-local ``Host`` so that a web page open in the user's
browser cannot drive it (cross-site requests or DNS rebinding).
"""

from __future__ import annotations

import contextlib
import hashlib
import http
import json
import socket
import struct
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, ClassVar, Final
from urllib.parse import parse_qs, unquote

from .faults import Fault, make_fault
from .wire import (
    completion_for,
    content_filter_body,
    error_body,
    status_error_body,
)

if TYPE_CHECKING:
    from .server import ModelServer

MAX_BODY_BYTES: Final = 16 * 1024 * 1024

_AZURE_PREFIX: Final = "/openai/deployments/"
_AZURE_SUFFIX: Final = "/chat/completions"
_LOCAL_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def key_digest(text: str) -> str:
    """The hex SHA-256 of a key: what the accepted keys and the request records hold."""
    return hashlib.sha256(text.encode()).hexdigest()


class _BadRequest(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class ModelHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # bursts of concurrent connects from a client pool

    def __init__(self, address: tuple[str, int], model: ModelServer) -> None:
        self.model = model
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client hangs up mid-call: tests provoke that on purpose."""
        if self.model.verbose or not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keep-alive + no Nagle: without both, each call on a reused connection waits
    # for the peer's delayed ACK (~40 ms).
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "prompt-tester-demo-model/1"
    sys_version = ""
    # Idle keep-alive connections are dropped eventually so vanished clients free threads.
    timeout = 300
    server: ModelHTTPServer

    _ROUTES: ClassVar[dict[tuple[str, str], str]] = {
        ("GET", "/health"): "_health",
        ("POST", "/_control/latency"): "_ctl_latency",
        ("POST", "/_control/faults"): "_ctl_add_faults",
        ("DELETE", "/_control/faults"): "_ctl_clear_faults",
        ("GET", "/_control/requests"): "_ctl_requests",
        ("DELETE", "/_control/requests"): "_ctl_clear_requests",
        ("POST", "/_control/keys"): "_ctl_keys",
        ("POST", "/_control/judge_mode"): "_ctl_judge_mode",
    }

    # --- connection lifecycle -------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        self.server.model._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.model._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.model.verbose:
            super().log_message(format, *args)

    # --- dispatch -------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        path, _, query = self.path.partition("?")
        try:
            body = self._read_body()
            if method == "POST" and path == "/v1/chat/completions":
                self._chat("openai", None, None, body)
                return
            if method == "POST" and path.startswith(_AZURE_PREFIX) and path.endswith(_AZURE_SUFFIX):
                deployment = unquote(path[len(_AZURE_PREFIX) : -len(_AZURE_SUFFIX)])
                if deployment and "/" not in deployment:
                    version = parse_qs(query).get("api-version", [None])[0]
                    self._chat("azure", deployment, version, body)
                    return
            handler = self._ROUTES.get((method, path))
            if handler is None:
                raise _BadRequest(
                    404, error_body(f"No route for {method} {path}", "invalid_request_error", None)
                )
            if path.startswith("/_control/"):
                self._check_local_caller()
            getattr(self, handler)(self._json(body) if method == "POST" else None)
        except _BadRequest as exc:
            self._send(exc.status, exc.body)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise _BadRequest(411, error_body("Send a Content-Length body", None, None))
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True
            raise _BadRequest(413, error_body("Bad or too large Content-Length", None, None))
        return self.rfile.read(length) if length else b""

    @staticmethod
    def _json(body: bytes) -> Any:
        try:
            return json.loads(body or b"null")
        except ValueError:
            raise _BadRequest(
                400,
                error_body(
                    "We could not parse the JSON body of your request.",
                    "invalid_request_error",
                    None,
                ),
            ) from None

    def _send(self, status: int, body: Any, extra_headers: dict[str, str] | None = None) -> None:
        """Write status line, headers and body in one ``send`` (see module notes)."""
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        lines = [
            f"HTTP/1.1 {status} {phrase}",
            f"Server: {self.server_version}",
            "Content-Type: application/json",
            f"Content-Length: {len(payload)}",
        ]
        if extra_headers:
            lines.extend(f"{k}: {v}" for k, v in extra_headers.items())
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.wfile.write(head + payload)
        except OSError:  # the client gave up (e.g. its timeout was shorter than a slow fault)
            self.close_connection = True
            return
        if self.server.model.verbose:
            self.log_request(status)

    # --- chat completions -----------------------------------------------------------------
    def _chat(self, provider: str, deployment: str | None, version: str | None, raw: bytes) -> None:
        model_server = self.server.model
        started = time.time()
        if provider == "azure":
            key = self.headers.get("api-key") or self._bearer()
        else:
            key = self._bearer()
        key_sha = key_digest(key) if key else ""
        status, answer, headers = 200, None, None
        fault: Fault | None = None
        model = deployment or ""
        messages: list[Any] = []
        max_tokens: Any = None
        try:
            body = self._json(raw)
            if not isinstance(body, dict):
                raise _BadRequest(
                    400,
                    error_body("The body must be a JSON object.", "invalid_request_error", None),
                )
            if deployment is None:
                named = body.get("model")
                model = named if isinstance(named, str) else ""
            raw_messages = body.get("messages")
            messages = raw_messages if isinstance(raw_messages, list) else []
            max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
            if not key:
                raise _BadRequest(
                    401,
                    error_body(
                        "You didn't provide an API key (demo model server).",
                        "invalid_request_error",
                        None,
                    ),
                )
            accepted = model_server._accepted
            if accepted is not None and key_sha not in accepted:
                raise _BadRequest(401, status_error_body(401))
            if provider == "azure" and not version:
                raise _BadRequest(
                    400,
                    error_body(
                        "The api-version query parameter is required.",
                        "invalid_request_error",
                        "api-version",
                    ),
                )
            if not model:
                raise _BadRequest(
                    400,
                    error_body(
                        "You must provide a model parameter.", "invalid_request_error", "model"
                    ),
                )
            if not isinstance(raw_messages, list) or not raw_messages:
                raise _BadRequest(
                    400,
                    error_body(
                        "'messages' must be a non-empty array.", "invalid_request_error", "messages"
                    ),
                )
            if body.get("stream"):
                raise _BadRequest(
                    400,
                    error_body(
                        "stream=true is not supported by the demo model server; "
                        "call without streaming.",
                        "invalid_request_error",
                        "stream",
                    ),
                )
            fault = model_server._take_fault(model)
        except _BadRequest as exc:
            status, answer = exc.status, exc.body

        if fault is not None:
            if fault.kind == "status":
                assert fault.status is not None
                status, answer = fault.status, status_error_body(fault.status)
                if fault.retry_after is not None:
                    headers = {"Retry-After": f"{fault.retry_after:g}"}
            elif fault.kind == "content_filter":
                status, answer = 400, content_filter_body()
            elif fault.kind == "malformed":
                answer = b'{"id": "chatcmpl-demo-malformed", "object": "chat.completion", "choi'
            elif fault.kind in ("hang", "reset"):
                status = 0
        if answer is None and status == 200:
            answer = completion_for(model, messages, max_tokens, model_server.judge_mode)

        model_server._record(
            {
                "time": started,
                "provider": provider,
                "model": model,
                "api_version": version,
                "key_sha256": key_sha,
                "messages": messages,
                "max_tokens": max_tokens,
                "status": status,
            }
        )

        if fault is not None and fault.kind == "reset":
            self._reset()
            return
        if fault is not None and fault.kind == "hang":
            model_server._sleep(fault.delay_s or 0.0)
            self.close_connection = True
            return
        delay = model_server._latency_s
        if fault is not None and fault.kind == "slow":
            delay += fault.delay_s or 0.0
        if delay > 0:
            model_server._sleep(delay)
        self._send(status, answer, headers)

    def _bearer(self) -> str:
        auth = self.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        return token.strip() if scheme.lower() == "bearer" else ""

    def _reset(self) -> None:
        """Close with RST (SO_LINGER 0) so the client sees a reset, not a clean EOF."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    # --- health and control ---------------------------------------------------------------
    def _check_local_caller(self) -> None:
        host = (self.headers.get("Host") or "").strip().lower()
        if host.startswith("["):
            hostname = host.partition("]")[0] + "]"
        else:
            hostname = host.rpartition(":")[0] if ":" in host else host
        allowed = _LOCAL_HOSTS | {self.server.model.host.lower()}
        if self.headers.get("Origin") is not None or hostname not in allowed:
            raise _BadRequest(
                403,
                error_body(
                    "The control API only accepts local, non-browser callers.", "forbidden", None
                ),
            )

    def _health(self, _: Any) -> None:
        self._send(200, {"status": "ok"})

    @staticmethod
    def _field(payload: Any, name: str) -> Any:
        if not isinstance(payload, dict) or name not in payload:
            raise _BadRequest(
                400,
                error_body(f"Expected a JSON object with {name!r}", "invalid_request_error", name),
            )
        return payload[name]

    def _ctl_latency(self, payload: Any) -> None:
        try:
            self.server.model.set_latency(self._field(payload, "latency_ms"))
        except ValueError as exc:
            raise _BadRequest(400, error_body(str(exc), "invalid_request_error", None)) from None
        self._send(200, {"latency_ms": self.server.model.latency_ms})

    def _ctl_add_faults(self, payload: Any) -> None:
        specs = self._field(payload, "faults")
        try:
            if not isinstance(specs, list) or not all(isinstance(s, dict) for s in specs):
                raise ValueError("faults must be a list of objects")
            faults = [make_fault(**spec) for spec in specs]
        except (TypeError, ValueError) as exc:
            raise _BadRequest(400, error_body(str(exc), "invalid_request_error", None)) from None
        pending = self.server.model._append_faults(faults)
        self._send(200, {"added": len(faults), "pending": pending})

    def _ctl_clear_faults(self, _: Any) -> None:
        self.server.model.clear_faults()
        self._send(200, {"pending": 0})

    def _ctl_requests(self, _: Any) -> None:
        self._send(200, self.server.model.requests())

    def _ctl_clear_requests(self, _: Any) -> None:
        self.server.model.clear_requests()
        self._send(200, {"cleared": True})

    def _ctl_keys(self, payload: Any) -> None:
        digests = self._field(payload, "accepted_key_sha256")
        try:
            self.server.model._set_accepted_digests(digests)
        except ValueError as exc:
            raise _BadRequest(400, error_body(str(exc), "invalid_request_error", None)) from None
        accepted = self.server.model._accepted
        self._send(200, {"accepted_keys": None if accepted is None else len(accepted)})

    def _ctl_judge_mode(self, payload: Any) -> None:
        try:
            self.server.model.set_judge_mode(self._field(payload, "mode"))
        except ValueError as exc:
            raise _BadRequest(400, error_body(str(exc), "invalid_request_error", "mode")) from None
        self._send(200, {"mode": self.server.model.judge_mode})

"""The demo model's HTTP server: chat-completions routes, the control API, accepted keys,
latency and request records (the wire format is ``wire``'s, the faults ``faults``').

The control API has no authentication: it is meant for 127.0.0.1 only. It refuses requests
that carry an ``Origin`` header or a non-local ``Host`` so that a web page open in the user's
browser cannot drive it (cross-site requests or DNS rebinding). Do not bind it to a public
interface.

Performance notes: a keep-alive connection is served by one thread for its whole life, so
latency sleeps overlap across connections; Nagle is disabled and each response is written
with a single ``send``, because delayed-ACK interaction otherwise adds ~40 ms to every call
on a reused connection.
"""

from __future__ import annotations

import contextlib
import hashlib
import http
import json
import socket
import struct
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Final
from urllib.parse import parse_qs, unquote

from ..lifecycle import StartStop
from .faults import Fault, make_fault
from .judge import DEFAULT_JUDGE_MODE, JUDGE_MODES
from .wire import (
    RequestRecord,
    completion_for,
    content_filter_body,
    error_body,
    status_error_body,
)

__all__ = ["MAX_BODY_BYTES", "MAX_RECORDS", "ModelServer"]

MAX_RECORDS: Final = 10_000
MAX_BODY_BYTES: Final = 16 * 1024 * 1024

_AZURE_PREFIX: Final = "/openai/deployments/"
_AZURE_SUFFIX: Final = "/chat/completions"
_LOCAL_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class _BadRequest(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class _HTTPServer(ThreadingHTTPServer):
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
    server: _HTTPServer

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
        key_sha = _sha256(key) if key else ""
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


class ModelServer(StartStop):
    """The demo model server; control it in-process with methods or over HTTP (``/_control``).

    ``start()`` binds and serves in a daemon thread, so a test process never hangs on exit
    even if a fault left a handler sleeping.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: int = 0,
        verbose: bool = False,
        judge_mode: str = DEFAULT_JUDGE_MODE,
    ) -> None:
        self.host = host
        self.port = port
        self.verbose = verbose
        self._latency_s = 0.0
        self.set_latency(latency_ms)
        self._judge_mode = DEFAULT_JUDGE_MODE
        self.set_judge_mode(judge_mode)
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._records: deque[RequestRecord] = deque(maxlen=MAX_RECORDS)
        self._accepted: frozenset[str] | None = None
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def thread(self) -> threading.Thread | None:
        """The serving thread while it runs (the demo's watchdog joins it)."""
        return self._thread

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> ModelServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _HTTPServer((self.host, self.port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"demo-model-server:{self._httpd.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop open connections, waking handlers asleep in latency/faults."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("ModelServer is not running; call start() first")
        host, port = self._httpd.server_address[:2]
        host = str(host)
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def openai_base_url(self) -> str:
        return self.url + "/v1"

    # --- behaviour ------------------------------------------------------------------------
    @property
    def latency_ms(self) -> int:
        return round(self._latency_s * 1000)

    def set_latency(self, latency_ms: int) -> None:
        if (
            not isinstance(latency_ms, int | float)
            or isinstance(latency_ms, bool)
            or latency_ms < 0
        ):
            raise ValueError("latency_ms must be a number >= 0")
        self._latency_s = latency_ms / 1000

    @property
    def judge_mode(self) -> str:
        return self._judge_mode

    def set_judge_mode(self, mode: str) -> None:
        """How judge prompts are answered (``judge``): "fair" (the default), "first" (a
        position-biased judge: pairwise "A", scores 1.0) or "garbage" (a reply that is not
        JSON). Other prompts are answered the same in every mode."""
        if not isinstance(mode, str) or mode not in JUDGE_MODES:
            raise ValueError(f"judge mode must be one of {list(JUDGE_MODES)}, not {mode!r}")
        self._judge_mode = mode

    def add_fault(
        self,
        kind: str,
        *,
        count: int = 1,
        match: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        delay_s: float | None = None,
    ) -> None:
        """Queue a fault for the next ``count`` calls whose model/deployment equals ``match``."""
        self._append_faults([make_fault(kind, count, match, status, retry_after, delay_s)])

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def set_accepted_keys(self, keys: list[str] | None) -> None:
        """Accept only these keys (``None``: any non-empty key). Only digests are kept."""
        if keys is None:
            self._accepted = None
            return
        if isinstance(keys, str):
            raise ValueError("keys must be a list of strings, not a string")
        self._accepted = frozenset(_sha256(k) for k in keys)

    def requests(self) -> list[RequestRecord]:
        """Copies of the recorded calls, oldest first (at most the last 10,000)."""
        with self._lock:
            records = list(self._records)
        return [
            {
                **r,
                "messages": [dict(m) if isinstance(m, dict) else m for m in r["messages"]],
            }
            for r in records
        ]

    def clear_requests(self) -> None:
        with self._lock:
            self._records.clear()

    # --- used by the handler --------------------------------------------------------------
    def _append_faults(self, faults: list[Fault]) -> int:
        with self._lock:
            self._faults.extend(faults)
            return sum(f.remaining for f in self._faults)

    def _take_fault(self, model: str) -> Fault | None:
        if not self._faults:  # fast path, no lock: a racing add_fault applies to the next call
            return None
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.match is None or fault.match == model:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        del self._faults[index]
                    return fault
        return None

    def _set_accepted_digests(self, digests: Any) -> None:
        if digests is None:
            self._accepted = None
            return
        if not isinstance(digests, list) or not all(
            isinstance(d, str) and len(d) == 64 and all(c in "0123456789abcdef" for c in d.lower())
            for d in digests
        ):
            raise ValueError("accepted_key_sha256 must be null or a list of sha256 hex digests")
        self._accepted = frozenset(d.lower() for d in digests)

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

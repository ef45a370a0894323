"""A local stand-in for the flow-prompt API service (``lib/logs``, ``lib/prompts``).

flow-prompt posts every call made with an API token to ``{FLOW_PROMPT_API_URI}lib/logs``.
This server checks the token (digest and expiry, through the service) and records the call
in Logs marked ``"source": "prompt-tester"``, so tests show up in the log browser.
"""

from __future__ import annotations

import json
import logging
from http.server import BaseHTTPRequestHandler
from typing import Any

from ..errors import PromptTesterError
from ..service import PromptTesterService
from .http_service import ServiceServer, ThreadedHTTPService

logger = logging.getLogger(__name__)
_MAX_BODY = 2_000_000


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: ServiceServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: no request lines on stderr
        return

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _token(self) -> str:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return token.strip() if scheme.lower() == "token" else ""

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            raise ValueError("body too large")
        raw = self.rfile.read(length) if length else b"{}"
        return json.loads(raw or b"{}")

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/health":
            self._send(200, {"status": "ok"})
        else:
            self._send(404, {"message": "not found"})

    def do_POST(self) -> None:
        try:
            body = self._body()
        except (ValueError, json.JSONDecodeError):
            self._send(400, {"message": "body must be JSON"})
            return
        path = self.path.split("?", 1)[0].rstrip("/")
        service = self.server.owner.service
        try:
            if path.endswith("/lib/logs"):
                log_id = service.ingest_call_log(self._token(), body)
                self._send(200, {"id": log_id})
            elif path.endswith("/lib/prompts"):
                # The tester never asks for prompts (it runs the draft); answer as the service
                # does when the local prompt is the latest, after checking the token.
                if service.token_store.find(self._token()) is None:
                    self._send(401, {"message": "unknown or expired token"})
                    return
                self._send(
                    200,
                    {
                        "prompt": body.get("prompt"),
                        "is_taken_globally": False,
                        "version": body.get("version"),
                    },
                )
            else:
                self._send(404, {"message": "not found"})
        except PromptTesterError as exc:
            self._send(exc.status, {"message": exc.message})
        except (BrokenPipeError, ConnectionResetError):
            # The caller left before the answer (a kernel or process ending): nothing failed here.
            logger.debug("flow-prompt API stand-in: the client went away")
        except Exception as exc:
            logger.warning("flow-prompt API stand-in failed: %s", type(exc).__name__)
            self._send(500, {"message": "internal error"})


class FlowApiServer(ThreadedHTTPService):
    name = "flow-prompt API stand-in"
    report_errors = True

    def __init__(self, service: PromptTesterService, host: str = "127.0.0.1", port: int = 0):
        self.service = service
        super().__init__(_Handler, host, port)

    @property
    def url(self) -> str:
        return self.base_url + "/"

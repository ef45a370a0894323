"""The in-process HTTP stand-ins' shared part: a threaded server on loopback, its URL, start and
stop. Handlers reach their stand-in as ``self.server.owner``.

(The demo model server keeps its own: it tracks connections to wake sleeping handlers on stop
and can run as a process of its own.)
"""

from __future__ import annotations

import logging
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from .lifecycle import StartStop

logger = logging.getLogger(__name__)


class ServiceServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], owner: Any):
        self.owner = owner
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that goes away mid keep-alive (a kernel shutting down) is not an error.
        if not self.owner.report_errors or isinstance(sys.exc_info()[1], ConnectionError):
            return
        logger.warning("%s: request from %s failed", self.owner.name, client_address[0])


class StandInHandler(BaseHTTPRequestHandler):
    """What every in-process stand-in's handler shares. HTTP/1.1 keep-alive and no Nagle:
    without both, each call on a reused connection waits for the peer's delayed ACK (~40 ms).
    No request lines on stderr."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: ServiceServer

    def log_message(self, format: str, *args: Any) -> None:
        return


class ThreadedHTTPService(StartStop):
    """Serves ``handler`` in a daemon thread, so a test process never waits on it at exit."""

    name = "http-service"
    report_errors = False  # stand-ins whose faults are on purpose stay quiet

    def __init__(self, handler: type[BaseHTTPRequestHandler], host: str, port: int):
        self._server = ServiceServer((host, port), handler, self)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        # kept: the demo's watchdog joins it (it returns only if the server stops)
        self.thread = threading.Thread(
            target=self._server.serve_forever, name=self.name, daemon=True
        )
        self.thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

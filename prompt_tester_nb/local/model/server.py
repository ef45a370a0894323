"""The demo model's HTTP server: chat-completions routes, the control API, accepted keys,
latency and request records (the wire format is ``wire``'s, the faults ``faults``', the
request handler ``http_handler``'s).

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
import socket
import threading
from collections import deque
from typing import Any, Final

from ..lifecycle import StartStop
from .faults import Fault, make_fault
from .http_handler import MAX_BODY_BYTES, ModelHTTPServer, key_digest
from .judge import DEFAULT_JUDGE_MODE, JUDGE_MODES
from .wire import RequestRecord

__all__ = ["MAX_BODY_BYTES", "MAX_RECORDS", "ModelServer"]

MAX_RECORDS: Final = 10_000


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
        self._httpd: ModelHTTPServer | None = None
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
        self._httpd = ModelHTTPServer((self.host, self.port), self)
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
        self._accepted = frozenset(key_digest(k) for k in keys)

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

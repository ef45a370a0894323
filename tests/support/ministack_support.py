"""MiniStack (PyPI ``ministack``, MIT): a second AWS emulator that shares no code with moto.

The suite's core flows run against it as well as against moto's server, so what the code relies
on is AWS's documented behaviour, not one emulator's. It is started like the other local
servers: a child process of this interpreter on 127.0.0.1 with a free port, waited on by
polling its health endpoint (readiness, not a sleep), ended with SIGTERM when the tests end.
``LocalStack`` is reused whole (tables, Cognito pool, seeded data, secrets, demo model, log API,
gateway); only its AWS endpoint is swapped for MiniStack.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from prompt_tester_nb.local.lifecycle import StartStop, end_process
from prompt_tester_nb.local.stack import LocalStack

# Only what the tester uses: fewer services start faster and use less memory.
SERVICES = "dynamodb,secretsmanager,cognito-idp,kms,sts,s3"


class MiniStackError(RuntimeError):
    """MiniStack could not be started."""


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class MiniStackServer(StartStop):
    """``python -m ministack`` on ``127.0.0.1:<free port>``; the interface ``LocalStack`` uses
    of ``AwsServer`` (``start`` → restored?, ``url``, ``stop``)."""

    def __init__(self, log_dir: Path, host: str = "127.0.0.1"):
        self.host = host
        self.log_path = Path(log_dir) / "ministack.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        if self._port is None:
            raise MiniStackError("MiniStack is not running; call start() first")
        return f"http://{self.host}:{self._port}"

    def start(self, timeout: float = 60) -> bool:
        """Start and wait until the health endpoint answers; returns False (never restored)."""
        if self._proc is not None and self._proc.poll() is None:
            return False
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - kept open while the child runs
        self._port = _free_port(self.host)
        env = {
            **os.environ,
            "GATEWAY_PORT": str(self._port),
            "BIND_HOST": self.host,
            "MINISTACK_HOST": self.host,
            "SERVICES": SERVICES,
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("LOCALSTACK_PERSISTENCE", None)
        self._proc = subprocess.Popen(  # fixed argv, our own interpreter
            [sys.executable, "-m", "ministack"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            close_fds=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                raise MiniStackError(f"MiniStack exited during startup (code {code}){self._tail()}")
            if self._healthy():
                return False
            if time.monotonic() > deadline:
                self.stop()
                raise MiniStackError(f"MiniStack did not answer in time{self._tail()}")
            time.sleep(0.05)  # a poll interval, not synchronisation: readiness is the answer

    def _healthy(self) -> bool:
        assert self._port is not None
        with contextlib.suppress(OSError, http.client.HTTPException, ValueError):
            conn = http.client.HTTPConnection(self.host, self._port, timeout=1)
            try:
                conn.request("GET", "/_ministack/health")
                resp = conn.getresponse()
                body = json.loads(resp.read() or b"{}")
                return resp.status == 200 and isinstance(body, dict)
            finally:
                conn.close()
        return False

    def _tail(self) -> str:
        with contextlib.suppress(OSError):
            tail = self.log_path.read_bytes()[-2000:].decode("utf-8", "replace").strip()
            return f"; last lines of {self.log_path}:\n{tail}" if tail else ""
        return ""

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            end_process(proc)
        if self._log is not None:
            self._log.close()
            self._log = None


class MiniStackLocalStack(LocalStack):
    """The embedded stack with MiniStack as its AWS endpoint instead of moto's server."""

    def __init__(self, state_dir: Path, **kwargs: Any):
        super().__init__(state_dir, persist=False, **kwargs)
        self.aws = MiniStackServer(Path(state_dir))  # type: ignore[assignment]

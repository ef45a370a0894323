"""A real Jupyter server in a child process, wired to a local stack: for the browser tests,
the REST fuzzing and the load benchmark, which all need the extension on a real socket.

It gets private Jupyter folders (the developer's own settings, workspaces and config never
interfere), a random token, a random key for the links that run a notebook as it opens
(server/run_proof.py), a free loopback port, and is stopped together with every kernel it
started.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

from ..server.run_proof import LAUNCH_KEY_VARIABLE, launch_proof, new_launch_key
from .lifecycle import StartStop, end_process


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class JupyterServer(StartStop):
    """``jupyterlab`` (or bare ``jupyter_server`` with ``app="jupyter_server"``) on loopback."""

    def __init__(
        self,
        root_dir: Path,
        home: Path,
        environ: Mapping[str, str],
        log_path: Path,
        *,
        app: str = "jupyterlab",
        lab_settings: Mapping[str, Any] | None = None,
        extra_args: list[str] | None = None,
    ):
        self.root_dir = Path(root_dir)
        self.home = Path(home)
        self.log_path = Path(log_path)
        self.app = app
        self.extra_args = list(extra_args or [])
        self.token = secrets.token_hex(24)
        self.run_key = new_launch_key()  # given to the server only: lab_url(run=True) signs
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.env = self._environment(environ, lab_settings or {})

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, no trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    def _environment(self, environ: Mapping[str, str], lab_settings: Mapping[str, Any]) -> dict:
        dirs = {
            "JUPYTER_CONFIG_DIR": self.home / "config",
            "JUPYTER_RUNTIME_DIR": self.home / "runtime",
            "JUPYTERLAB_SETTINGS_DIR": self.home / "lab-settings",
            "JUPYTERLAB_WORKSPACES_DIR": self.home / "lab-workspaces",
            "IPYTHONDIR": self.home / "ipython",
        }
        for path in dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        for name, value in lab_settings.items():
            target = dirs["JUPYTERLAB_SETTINGS_DIR"] / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(value, indent=2))
        return {
            **os.environ,
            **environ,
            **{name: str(path) for name, path in dirs.items()},
            LAUNCH_KEY_VARIABLE: self.run_key,
            "JUPYTER_PLATFORM_DIRS": "1",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            "PYTHONUNBUFFERED": "1",
        }

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self, timeout_s: float = 90) -> JupyterServer:
        error: Exception | None = None
        for _attempt in range(3):  # the free port can be taken between probing and binding
            self._spawn()
            try:
                self.wait_ready(timeout_s)
                return self
            except RuntimeError as exc:
                error = exc
                self.stop()
        raise RuntimeError(f"Jupyter did not start: {error}")

    def _spawn(self) -> None:
        self.port = free_port()
        cmd = [
            sys.executable,
            "-m",
            self.app,
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",  # fail, rather than silently serve on another port
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root_dir}",
            *self.extra_args,
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n=== {' '.join(cmd).replace(self.token, '<token>')}\n".encode())
            log.flush()
            self.process = subprocess.Popen(  # noqa: S603 (our own interpreter, fixed args)
                cmd,
                cwd=self.root_dir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C is handled by stop(), not Jupyter's prompt
            )

    def wait_ready(self, timeout_s: float = 90) -> None:
        """Until ``/api/status`` answers 200; fails early if the process exits."""
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise RuntimeError(
                    f"{self.app} exited with code {code} before answering;"
                    f" log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(  # noqa: S310 (loopback URL we built)
                    f"{self.url}/api/status?token={self.token}", timeout=2
                ) as response:
                    if response.status == 200:
                        return
                    last_error = f"HTTP {response.status}"
            except (urllib.error.URLError, OSError) as exc:
                last_error = str(exc)
            time.sleep(0.2)
        raise RuntimeError(
            f"{self.app} did not answer {self.url}/api/status within {timeout_s:.0f} s"
            f" ({last_error}); log {self.log_path}:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """Shuts down through the API (which stops kernels), then kills whatever is left."""
        process = self.process
        if process is None:
            return
        children = _descendants(process.pid)
        if process.poll() is None:
            with contextlib.suppress(Exception):
                self.api("/api/shutdown", method="POST", timeout=5)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                end_process(process, grace_s=10)
        for pid in children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        self.process = None

    # --- talking to it --------------------------------------------------------------------------
    def lab_url(self, relpath: str = "", *, reset: bool = True, run: bool = False) -> str:
        """``/lab/tree/<relpath>`` with the token; ``run=True`` adds the labextension's
        ``prompt-tester-run=1`` and this server's proof for ``relpath``: the notebook's cells
        run as it opens (``open_url``)."""
        return open_url(
            self.url, relpath, self.token, reset=reset, run_key=self.run_key if run else None
        )

    def _request(
        self, path: str, method: str, body: Any, headers: Mapping[str, str] | None
    ) -> urllib.request.Request:
        return urllib.request.Request(  # noqa: S310 (loopback URL we built)
            f"{self.url}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={
                "Authorization": f"token {self.token}",
                "Content-Type": "application/json",
                **(headers or {}),
            },
        )

    def api(
        self,
        path: str,
        method: str = "GET",
        body: Any = None,
        timeout: float = 10,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Calls ``path`` (``/api/...``) with the token; returns the decoded JSON."""
        request = self._request(path, method, body, headers)
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            raw = response.read()
        return json.loads(raw) if raw else None

    def sign_in(self, email: str, password: str, timeout: float = 60) -> str:
        """A Prompt Tester password sign-in; returns its ``prompt-tester-session`` cookie value."""
        request = self._request(
            "/prompt-tester/auth/password", "POST", {"email": email, "password": password}, None
        )
        jar = SimpleCookie()
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            for header in response.headers.get_all("Set-Cookie") or []:
                jar.load(header)
        morsel = jar.get("prompt-tester-session")
        if morsel is None or not morsel.value:
            raise RuntimeError("sign-in answered without a prompt-tester-session cookie")
        return morsel.value

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


RUN_PARAM = "prompt-tester-run"  # labextension/src/deeplink.ts RUN_PARAM
PROOF_PARAM = "prompt-tester-proof"  # labextension/src/deeplink.ts PROOF_PARAM


def open_url(
    base: str, relpath: str, token: str, *, reset: bool = True, run_key: str | None = None
) -> str:
    """The JupyterLab URL that opens ``relpath`` (relative to the server's root).

    ``reset`` drops the saved workspace (no Launcher or old tabs over the notebook);
    ``run_key`` (the launch key given to that server) asks the labextension to run the
    notebook's cells once it is open, so the Prompt Tester app shows at once (the URL
    ``prompt-tester demo`` prints): the URL carries the key's proof for ``relpath``, which
    the server checks before anything runs.
    """
    relpath = relpath.lstrip("/")
    run = {RUN_PARAM: "1", PROOF_PARAM: launch_proof(run_key, relpath)} if run_key else {}
    query = ("reset&" if reset else "") + urllib.parse.urlencode({**run, "token": token})
    return f"{base.rstrip('/')}/lab/tree/{urllib.parse.quote(relpath)}?{query}"


def _descendants(pid: int) -> list[int]:
    try:
        import psutil
    except ImportError:
        return []
    with contextlib.suppress(psutil.Error):
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    return []

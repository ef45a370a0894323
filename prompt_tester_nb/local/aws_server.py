"""A local AWS endpoint (moto's server in a subprocess) whose state survives restarts.

The embedded demo serves DynamoDB, Secrets Manager, KMS and Cognito (``cognito-idp``) from
moto's server on 127.0.0.1. moto keeps everything in memory, so the only way to get the
tables, secrets, keys and users back after a restart is moto's *recorder*: every request the
server receives is appended, as one JSON object per line, to a recording file; on the next
start the recording is sent again, in order, to a fresh server.

SECURITY: the recording holds the full body of every request, **including secret values sent
to Secrets Manager, user passwords sent to Cognito and the signed Authorization headers**. It is
therefore written only under ``state_dir``, which is made owner-only (``0700``), and every file
in it is created ``0600`` (the server process also runs with umask ``077``). Treat the state
directory like a credentials file: do not commit it, copy it or share it.

Why the design is what it is (details checked against moto 5.2's source):

* Ids must come back identical (the demo prints the user pool id, client id, key id and secret
  ARN as settings). moto draws every id from one seeded ``Random`` (``mock_random``), and it
  also draws 52 characters for the ``x-amzn-RequestId`` of *every* AWS call, reads and failed
  calls included. Replaying the exact same requests, in the exact same order, after the same
  ``POST /moto-api/seed`` therefore reproduces every id; dropping, adding or reordering even a
  read shifts all later ids. Consequences:

  - the server is run **single-threaded** (``moto_bootstrap`` says why and how); an ephemeral
    server (no state folder, as in the test suite) has nothing to replay and serves threaded;
  - the readiness probe and all control calls use ``/moto-api/recorder/*`` and
    ``/moto-api/seed``, which are neither recorded nor draw from the random generator;
  - read requests stay in the recording (the file grows with reads, not only writes).

* Replay is done here, from the parent, not with moto's own replay endpoint, and access tokens
  are mapped old to new on the way (``moto_replay`` says why).

* A partial or corrupt recording must not make the demo unusable: the longest valid prefix
  is replayed and the rest is moved aside (``moto_recording`` says how and why).

What does not survive a restart (moto limitations, not fixable from outside): creation and
modification timestamps (they become the replay time), KMS key *material* (drawn from
``os.urandom``: ciphertexts made with ``kms.encrypt`` before a restart no longer decrypt; Secrets
Manager is unaffected because moto does not really encrypt secret values), Cognito access and
ID token *strings* held by clients (the ``kid`` and signing key are fixed, so old ID tokens
still verify against the JWKS, but calls that look up an old access token, e.g. ``GetUser``,
fail; refresh tokens do survive), TOTP codes recorded during MFA setup.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from .lifecycle import StartStop, end_process
from .moto_bootstrap import BOOTSTRAP
from .moto_recording import (
    LOCK_NAME,
    LOG_NAME,
    META_NAME,
    RECORDING_NAME,
    Recording,
    RestoreReport,
    choose_seed,
    load_recording,
    parse_recording,
    touch_private,
    write_meta,
)
from .moto_replay import ReplayRequestFailed, replay

try:  # POSIX only; on other platforms the state dir is simply not locked.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

_READY_BODY = b"Recording is set to False"


class AwsServerError(RuntimeError):
    """The local AWS server could not be started, restored or controlled."""


class PortInUseError(AwsServerError):
    """The requested host:port is already taken by another program."""


def _port_is_free(host: str, port: int) -> bool:
    """Try the bind the server will do (SO_REUSEADDR, like werkzeug) to tell "in use" early."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _pick_free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class AwsServer(StartStop):
    """moto's server on ``host:port`` in a subprocess, restored from ``state_dir`` on start.

    ``state_dir=None`` is ephemeral: nothing is recorded or restored and the server log is
    discarded. Otherwise ``state_dir`` must be a directory dedicated to this server; it holds
    the recording (secret values included, see the module docstring), a small metadata file
    (the seed the recording was made with) and the server log. Only one AwsServer may use a
    state_dir at a time (an advisory lock enforces it), since two servers appending to one
    recording would interleave two unrelated histories.

    Clients must not call the endpoint until start() has returned: a request processed during
    the replay is not recorded and shifts the ids the rest of the replay produces.
    """

    def __init__(
        self,
        state_dir: str | Path | None,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 4242,
    ) -> None:
        self.state_dir = Path(state_dir).expanduser().resolve() if state_dir is not None else None
        self.host = host
        self.requested_port = port
        self.seed = seed
        self.last_restore: RestoreReport | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._log_file: IO[bytes] | None = None
        self._lock_fd: int | None = None
        self._restored = False
        self._active_seed = seed

    # ------------------------------------------------------------------ paths and properties

    @property
    def recording_path(self) -> Path | None:
        return self.state_dir / RECORDING_NAME if self.state_dir is not None else None

    @property
    def log_path(self) -> Path | None:
        return self.state_dir / LOG_NAME if self.state_dir is not None else None

    @property
    def _meta_path(self) -> Path:
        assert self.state_dir is not None
        return self.state_dir / META_NAME

    @property
    def process(self):  # -> subprocess.Popen[bytes] | None
        """The endpoint's child process while it runs (the demo's watchdog waits on it)."""
        return self._proc

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def port(self) -> int:
        if self._port is None:
            raise AwsServerError("the local AWS server is not running; call start() first")
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 30) -> bool:
        """Start the server, restore the saved state, then record new requests.

        Returns True when a saved state was replayed, False when the server started empty.
        ``timeout`` bounds the wait for the process to answer; the replay itself is bounded
        per request instead, since its length depends on the size of the recording. Calling
        start() on a running server does nothing and returns the previous result.
        """
        if self.running:
            return self._restored
        if self._proc is not None:  # died on its own since the last start
            self.stop()
        report = RestoreReport()
        recording: Recording | None = None
        if self.state_dir is not None:
            self._prepare_state_dir()
            self._acquire_lock()
        try:
            if self.state_dir is not None:
                recording = load_recording(self.state_dir / RECORDING_NAME, report)
                self._active_seed = choose_seed(self._meta_path, recording, self.seed, report)
            self._launch(time.monotonic() + timeout)
            self._control("/moto-api/seed", query=f"a={self._active_seed}")
            if recording is not None and recording.entries:
                self._replay(recording.entries, report)
            if self.state_dir is not None:
                write_meta(self._meta_path, self._active_seed)
                self._control("/moto-api/recorder/start-recording")
        except BaseException:
            self._shutdown()
            raise
        atexit.register(self.stop)
        self.last_restore = report
        self._restored = report.entries > 0
        for warning in report.warnings:
            log.warning("local AWS server: %s", warning)
        if self._restored:
            log.info(
                "local AWS server restored %d requests in %.2fs",
                report.entries,
                report.seconds,
            )
        return self._restored

    def stop(self) -> None:
        """Stop recording, then terminate the process. Safe to call more than once."""
        atexit.unregister(self.stop)
        if self.running and self.state_dir is not None:
            # moto turns SIGTERM into SystemExit in the thread that also appends to the
            # recording; with recording off first, the file always ends on a complete line.
            with contextlib.suppress(OSError, AwsServerError):
                self._control("/moto-api/recorder/stop-recording", timeout=2)
        self._shutdown()

    def reset(self) -> None:
        """Delete the saved state (recording, quarantined leftovers, metadata).

        On a running server the in-memory state is wiped too (``/moto-api/reset``) and the
        seed is set again, so the server is exactly as after a fresh, empty start.
        """
        if self.running:
            recording = self.state_dir is not None
            if recording:
                self._control("/moto-api/recorder/stop-recording")
            self._control("/moto-api/reset")
            if self.state_dir is not None:
                self._delete_state_files()
                self._active_seed = self.seed
                write_meta(self._meta_path, self._active_seed)
                touch_private(self.state_dir / RECORDING_NAME)
            self._control("/moto-api/seed", query=f"a={self._active_seed}")
            if recording:
                self._control("/moto-api/recorder/start-recording")
            self.last_restore = RestoreReport()
            self._restored = False
            return
        if self.state_dir is None or not self.state_dir.exists():
            return
        self._acquire_lock()
        try:
            self._delete_state_files()
        finally:
            self._release_lock()

    # ------------------------------------------------------------------ state directory

    def _prepare_state_dir(self) -> None:
        assert self.state_dir is not None
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        for name in (RECORDING_NAME, META_NAME, LOG_NAME):
            path = self.state_dir / name
            if path.exists():
                os.chmod(path, 0o600)

    def _acquire_lock(self) -> None:
        if fcntl is None or self._lock_fd is not None or self.state_dir is None:
            return
        fd = os.open(self.state_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise AwsServerError(
                f"{self.state_dir} is in use by another local AWS server; stop it first"
            ) from None
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None

    def _delete_state_files(self) -> None:
        assert self.state_dir is not None
        for path in self.state_dir.iterdir():
            if path.name in (RECORDING_NAME, META_NAME) or path.name.startswith(
                f"{RECORDING_NAME}.corrupt-"
            ):
                path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ process

    def _child_env(self, port: int) -> dict[str, str]:
        env = dict(os.environ)
        # moto reads this with bool(os.environ.get(...)): even "False" switches recording on
        # at boot. Recording is switched on explicitly, after the replay, instead.
        env.pop("MOTO_ENABLE_RECORDING", None)
        env["MOTO_RECORDER_FILEPATH"] = (
            str(self.recording_path) if self.recording_path is not None else os.devnull
        )
        env["MOTO_PORT"] = str(port)  # moto builds some URLs from it; an inherited one is wrong
        env["PYTHONHASHSEED"] = "0"  # same set/dict-of-set order in every run, for the replay
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _open_log(self) -> IO[bytes] | int:
        if self.log_path is None:
            return subprocess.DEVNULL
        if self._log_file is None:
            if self.log_path.exists():  # keep the previous run's log for post-mortems
                os.replace(self.log_path, self.log_path.with_name(LOG_NAME + ".1"))
            fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._log_file = os.fdopen(fd, "ab")
        return self._log_file

    def _launch(self, deadline: float) -> None:
        attempts = 1 if self.requested_port else 3  # a picked port can be taken meanwhile
        for attempt in range(attempts):
            port = self.requested_port or _pick_free_port(self.host)
            if self.requested_port and not _port_is_free(self.host, port):
                raise PortInUseError(
                    f"cannot start the local AWS server: {self.host}:{port} is already in use "
                    "(another moto/demo still running?). Stop it or choose another port."
                )
            cmd = [sys.executable, "-c", BOOTSTRAP, "-H", self.host, "-p", str(port)]
            extra: dict[str, Any] = {"umask": 0o077} if os.name == "posix" else {}
            self._proc = subprocess.Popen(  # noqa: S603, RUF100 - fixed argv, our own interpreter
                cmd,
                env={
                    **self._child_env(port),
                    # Without a recording, ids need not replay identically: serve threaded.
                    "PROMPT_TESTER_MOTO_THREADED": "1" if self.state_dir is None else "0",
                },
                stdin=subprocess.DEVNULL,
                stdout=self._open_log(),
                stderr=subprocess.STDOUT,
                start_new_session=False,  # Ctrl-C in the terminal reaches the server too
                close_fds=True,
                **extra,
            )
            self._port = port
            try:
                self._wait_ready(deadline)
                return
            except AwsServerError:
                exited = self._proc is not None and self._proc.poll() is not None
                in_use = exited and not _port_is_free(self.host, port)
                self._shutdown(keep_lock=True)
                if in_use and attempt + 1 < attempts:
                    continue
                if in_use:
                    raise PortInUseError(
                        f"cannot start the local AWS server: {self.host}:{port} is in use"
                    ) from None
                raise

    def _wait_ready(self, deadline: float) -> None:
        assert self._proc is not None
        while True:
            code = self._proc.poll()
            if code is not None:
                raise AwsServerError(
                    f"the local AWS server exited during startup (code {code})" + self._log_hint()
                )
            with contextlib.suppress(OSError, http.client.HTTPException):
                status, body = self._request("POST", "/moto-api/recorder/stop-recording", timeout=1)
                if status == 200 and body == _READY_BODY:
                    return
            if time.monotonic() > deadline:
                raise AwsServerError(
                    f"the local AWS server did not answer on {self.url} in time" + self._log_hint()
                )
            time.sleep(0.05)

    def _log_hint(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        with contextlib.suppress(OSError):
            tail = self.log_path.read_bytes()[-2000:].decode("utf-8", "replace").strip()
            if tail:
                return f"; last lines of {self.log_path}:\n{tail}"
        return f"; see {self.log_path}"

    def _shutdown(self, keep_lock: bool = False) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            end_process(proc)
        self._port = None
        if not keep_lock:
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None
            self._release_lock()

    # ------------------------------------------------------------------ HTTP

    def _request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def _control(self, path: str, query: str = "", timeout: float = 10) -> bytes:
        """POST to a moto-api control endpoint; these are never recorded."""
        status, body = self._request("POST", f"{path}?{query}" if query else path, timeout=timeout)
        if status != 200:
            raise AwsServerError(f"moto refused {path}: HTTP {status} {body[:200]!r}")
        return body

    def _replay(self, entries: list[dict[str, Any]], report: RestoreReport) -> None:
        """Send the recorded requests again, in order, exactly once each."""
        try:
            replay(entries, report, self._request)
        except ReplayRequestFailed as failed:
            raise AwsServerError(
                f"the local AWS server failed while restoring request {failed.index + 1} of "
                f"{failed.total} ({failed.cause})" + self._log_hint()
            ) from failed.cause


__all__ = [
    "LOG_NAME",
    "META_NAME",
    "RECORDING_NAME",
    "AwsServer",
    "AwsServerError",
    "PortInUseError",
    "RestoreReport",
    "parse_recording",
]

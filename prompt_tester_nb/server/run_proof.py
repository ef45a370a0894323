"""Proofs that a link may run a notebook: JupyterLab's rule is that opening a file never runs
it, and the labextension keeps that rule for every link but the two the product writes.

- A **one-time proof** is handed out by the tester-notebook route with the notebook it has just
  written: it names the Jupyter user who asked, the notebook's path and the code it wrote, and
  expires after ``ONE_TIME_TTL_S``. The check route consumes it on first use, matching or not.
- A **launch proof** is what ``prompt-tester demo`` (and the test servers) print in their URL:
  an HMAC of the notebook's path under a key the launcher makes and gives only to the server
  it starts (``LAUNCH_KEY_VARIABLE``). It works for as long as that server runs, so a reload of
  the printed URL opens the app again; a new server has a new key, so old URLs stop working.

Anything else (no proof, a used one, one for another user, path or code) runs nothing; see
docs/security.md for why that is a refusal and not a question.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import AccessDeniedError

# The variable a launcher sets for the Jupyter server it starts; the server reads it once and
# takes it out of its environment, so the kernels it starts never inherit it.
LAUNCH_KEY_VARIABLE = "PROMPT_TESTER_RUN_LINK_KEY"
ONE_TIME_TTL_S = 300.0
MAX_PENDING = 1000  # one-time proofs kept at once; the oldest go first
_LAUNCH = "l."
_ONE_TIME = "o."


class RunRefused(AccessDeniedError):
    """The proof does not allow running this notebook (a 403); the message says why."""

    def __init__(self, why: str) -> None:
        super().__init__(f"Not run: {why}")


def new_launch_key() -> str:
    """A fresh key for one server's launch proofs (URL-safe text, 256 bits)."""
    return secrets.token_urlsafe(32)


def normal_path(path: str) -> str:
    """The notebook's path as proofs name it: relative to the server root, no leading slash."""
    return path.lstrip("/")


def launch_proof(key: str, path: str) -> str:
    """The proof a launcher puts in its URL for ``path`` (relative to the server's root)."""
    mac = hmac.new(key.encode(), b"prompt-tester-run\0" + normal_path(path).encode(), "sha256")
    return _LAUNCH + base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def code_digest(code: Sequence[str]) -> str:
    """One digest of a notebook's code cells, in order (what a one-time proof allows to run)."""
    return hashlib.sha256(json.dumps(list(code)).encode()).hexdigest()


@dataclass(frozen=True)
class _Pending:
    user: str
    path: str
    code: str
    expires: float


class RunProofs:
    """The server's proofs: the one-time table and the launch key (``None``: no launch proofs).

    Thread-safe: handlers run on the event loop, tests may call it from other threads.
    """

    def __init__(
        self,
        launch_key: str | None,
        ttl_s: float = ONE_TIME_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._launch_key = launch_key or None
        self._ttl_s = ttl_s
        self._clock = clock
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # the key and the proofs are secrets: never in a log
        return f"RunProofs(launch_key={'set' if self._launch_key else None}, pending=…)"

    @classmethod
    def from_environment(cls) -> RunProofs:
        """The launch key a launcher gave this process, taken out of its environment."""
        return cls(os.environ.pop(LAUNCH_KEY_VARIABLE, None))

    def issue(self, user: str, path: str, code: Sequence[str]) -> str:
        """A one-time proof that ``user`` may run the ``code`` just written at ``path``."""
        proof = _ONE_TIME + secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            for token, pending in list(self._pending.items()):
                if pending.expires <= now:
                    del self._pending[token]
            while len(self._pending) >= MAX_PENDING:
                del self._pending[next(iter(self._pending))]
            self._pending[proof] = _Pending(
                user, normal_path(path), code_digest(code), now + self._ttl_s
            )
        return proof

    def is_pending(self, proof: str) -> bool:
        """Whether a one-time proof is still unused (for tests: a refused request used none)."""
        with self._lock:
            return proof in self._pending

    def redeem(self, user: str, path: str, proof: str, code: Sequence[str] | None) -> None:
        """Returns if ``user`` may run the notebook at ``path`` now; else raises RunRefused.

        A one-time proof is used up by this call whatever the outcome.
        """
        path = normal_path(path)
        if proof.startswith(_LAUNCH):
            if self._launch_key is None:
                raise RunRefused("this server was not started with a link that runs notebooks")
            if not hmac.compare_digest(proof, launch_proof(self._launch_key, path)):
                raise RunRefused("the link's proof is not this server's proof for this notebook")
            return
        with self._lock:
            pending = self._pending.pop(proof, None)
        if pending is None:
            raise RunRefused("the link's proof is unknown or was used already")
        if pending.expires <= self._clock():
            raise RunRefused("the link's proof has expired")
        if not hmac.compare_digest(pending.user, user):
            raise RunRefused("the link's proof was given to another Jupyter user")
        if pending.path != path:
            raise RunRefused("the link's proof is for another notebook")
        if code is None or not hmac.compare_digest(pending.code, code_digest(code)):
            raise RunRefused("the notebook's code is not the code the Prompt Tester wrote")

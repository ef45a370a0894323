"""The signed-in session handed from the Jupyter server to the same user's kernels.

The server extension writes the tokens of the last sign-in to a file only the owner can read;
``pt.connect()`` without arguments reads it. The kernel does not trust the file: it verifies
the ID token (signature against the provider's JWKS, issuer, audience, expiry) before using
it, and renews it the way the session began (``Tokens.flow``) when it has expired. The
``username`` in it only feeds Cognito's SECRET_HASH, which Cognito itself checks.

The server and the kernels then hold one session between them. Its ``lineage`` (a random id
of the sign-in) says whose file it is, and ``renew_shared`` makes every renewal of it take
turns under a file lock and leave the newest tokens in the file: a provider that rotates
refresh tokens refuses a spent one, so whoever renews next must start from the file.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .models import Principal
from .openid import Tokens


def location(configured: str | os.PathLike[str] | None = None) -> Path:
    """The session file: ``configured`` (``Settings.session_file``), else Jupyter's runtime
    folder."""
    return Path(configured) if configured else default_path()


def default_path() -> Path:
    try:
        from jupyter_core.paths import jupyter_runtime_dir

        runtime = Path(jupyter_runtime_dir())
    except ImportError:  # a kernel-less install: the same place jupyter_core would choose
        runtime = Path.home() / ".local" / "share" / "jupyter" / "runtime"
    return runtime / "prompt-tester" / "session.json"


RENEW_MARGIN = 60  # seconds before the ID token's expiry when a session is renewed


@dataclass(frozen=True)
class Handed:
    tokens: Tokens = field(repr=False)
    email: str | None = None
    username: str | None = None
    lineage: str | None = None


def write(
    tokens: Tokens, principal: Principal, path: Path | None = None, lineage: str | None = None
) -> Path:
    return _write(tokens, principal.email, principal.username, lineage, path)


def _write(
    tokens: Tokens,
    email: str | None,
    username: str | None,
    lineage: str | None,
    path: Path | None,
) -> Path:
    path = path or default_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    data = {
        "id_token": tokens.id_token,
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "expires_at": tokens.expires_at,
        "flow": tokens.flow,
        "email": email,
        "username": username,
        "lineage": lineage,
    }
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)
    return path


def read(path: Path | None = None) -> Handed | None:
    """The handed-over tokens, or None when there is no (owner-only) session file."""
    path = path or default_path()
    try:
        info = path.stat()
    except OSError:
        return None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO) or (
        hasattr(os, "getuid") and info.st_uid != os.getuid()
    ):
        return None  # readable by others, or not ours: do not use it
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        tokens = Tokens(
            id_token=str(data["id_token"]),
            access_token=data.get("access_token"),
            refresh_token=data.get("refresh_token"),
            expires_at=float(data.get("expires_at") or 0),
            flow="password" if data.get("flow") == "password" else "oidc",
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Handed(tokens, data.get("email"), data.get("username"), data.get("lineage"))


def renew_shared(
    path: Path | None, lineage: str, tokens: Tokens, renew: Callable[[Tokens], Tokens]
) -> Tokens:
    """Renew the session ``lineage`` names, one holder at a time, starting from the newest
    tokens of it: the file's, when the file is this session's. Tokens another holder renewed
    a moment ago come back as they are. The caller verifies what it gets, as always."""
    from filelock import FileLock

    path = path or default_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", mode=0o600):
        handed = read(path)
        ours = handed is not None and handed.lineage == lineage
        newest = handed.tokens if handed is not None and ours else tokens
        if newest.expires_at - time.time() >= RENEW_MARGIN:
            return newest
        fresh = renew(newest)
        if handed is not None and ours:
            _write(fresh, handed.email, handed.username, lineage, path)
        return fresh


def owned_by(lineage: str, path: Path | None = None) -> bool:
    """The file is absent or holds the session ``lineage``: that session may remove it."""
    handed = read(path or default_path())
    return handed is None or handed.lineage == lineage


def remove(path: Path | None = None) -> None:
    path = path or default_path()
    with contextlib.suppress(FileNotFoundError):
        path.unlink()

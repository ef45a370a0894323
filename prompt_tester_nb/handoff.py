"""The signed-in session handed from the Jupyter server to the same user's kernels.

The server extension writes the tokens of the last sign-in to a file only the owner can read;
``pt.connect()`` without arguments reads it. The kernel does not trust the file: it verifies
the ID token (signature against the provider's JWKS, issuer, audience, expiry) before using
it, and renews it the way the session began (``Tokens.flow``) when it has expired. The
``username`` in it only feeds Cognito's SECRET_HASH, which Cognito itself checks.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
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


@dataclass(frozen=True)
class Handed:
    tokens: Tokens = field(repr=False)
    email: str | None = None
    username: str | None = None


def write(tokens: Tokens, principal: Principal, path: Path | None = None) -> Path:
    path = path or default_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    data = {
        "id_token": tokens.id_token,
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "expires_at": tokens.expires_at,
        "flow": tokens.flow,
        "email": principal.email,
        "username": principal.username,
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
    return Handed(tokens, data.get("email"), data.get("username"))


def remove(path: Path | None = None) -> None:
    path = path or default_path()
    with contextlib.suppress(FileNotFoundError):
        path.unlink()

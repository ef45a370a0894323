"""A pending sign-in of the code flow: its state, nonce and PKCE verifier (``openid.py``
sends them; this module makes and keeps them).

The Jupyter server keeps a pending sign-in in its memory (``server/sessions.py``); a Lambda
keeps none between requests, so ``seal``/``unseal`` carry it in an encrypted cookie instead.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken

from .errors import AuthenticationError

PENDING_SECONDS = 600  # a sign-in started must finish within ten minutes


@dataclass(frozen=True)
class PendingLogin:
    state: str = field(repr=False)
    nonce: str = field(repr=False)
    code_verifier: str = field(repr=False)
    next_url: str


def begin_login(next_url: str) -> PendingLogin:
    """Fresh random state, nonce and PKCE verifier for one sign-in."""
    return PendingLogin(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        code_verifier=secrets.token_urlsafe(64),
        next_url=next_url,
    )


def seal(pending: PendingLogin, key: str) -> str:
    """The pending sign-in, encrypted and authenticated with ``key`` (a Fernet key)."""
    data = {
        "state": pending.state,
        "nonce": pending.nonce,
        "code_verifier": pending.code_verifier,
        "next_url": pending.next_url,
    }
    return Fernet(key.encode()).encrypt(json.dumps(data).encode()).decode()


def unseal(sealed: str | None, state: str | None, key: str) -> PendingLogin:
    """The sign-in ``sealed`` holds, if it is intact, recent and was started for ``state``."""
    try:
        raw = Fernet(key.encode()).decrypt((sealed or "").encode(), ttl=PENDING_SECONDS)
        data = json.loads(raw)
        pending = PendingLogin(**data)
    except (InvalidToken, ValueError, TypeError):
        pending = None
    if pending is None or not state or not secrets.compare_digest(pending.state, state):
        raise AuthenticationError(
            "This sign-in response does not belong to a sign-in started here (or it took"
            " longer than ten minutes); sign in again"
        )
    return pending

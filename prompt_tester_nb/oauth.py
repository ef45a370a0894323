"""Cognito's hosted UI: authorization code with PKCE (S256), state and nonce, via Authlib.

The Jupyter server keeps a pending sign-in in its memory (``server/sessions.py``); a Lambda
keeps none between requests, so ``seal``/``unseal`` carry it in an encrypted cookie instead.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from authlib.integrations.requests_client import OAuth2Session
from cryptography.fernet import Fernet, InvalidToken

from .auth import Tokens
from .errors import AuthenticationError
from .redaction import register as register_secret
from .settings import Settings

SCOPES = "openid email profile"
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


def _client(settings: Settings, redirect_uri: str) -> OAuth2Session:
    return OAuth2Session(
        client_id=settings.cognito_client_id,
        client_secret=settings.cognito_client_secret,
        scope=SCOPES,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic"
        if settings.cognito_client_secret
        else "none",
    )


def authorize_url(settings: Settings, redirect_uri: str, pending: PendingLogin) -> str:
    domain = (settings.cognito_domain or "").rstrip("/")
    url, _ = _client(settings, redirect_uri).create_authorization_url(
        f"{domain}/oauth2/authorize",
        state=pending.state,
        nonce=pending.nonce,
        code_verifier=pending.code_verifier,
    )
    return url


def exchange_code(
    settings: Settings, redirect_uri: str, code: str, pending: PendingLogin
) -> Tokens:
    """Trade the code for tokens at ``/oauth2/token`` (blocking: run it off the event loop)."""
    domain = (settings.cognito_domain or "").rstrip("/")
    try:
        token: dict[str, Any] = _client(settings, redirect_uri).fetch_token(
            f"{domain}/oauth2/token",
            grant_type="authorization_code",
            code=code,
            code_verifier=pending.code_verifier,
            timeout=15,
        )
    except Exception as exc:
        raise AuthenticationError(
            f"Cognito refused the sign-in code ({type(exc).__name__}); sign in again"
        ) from None
    id_token = token.get("id_token")
    if not id_token:
        raise AuthenticationError("Cognito returned no ID token; is the 'openid' scope allowed?")
    register_secret(id_token, token.get("access_token"), token.get("refresh_token"))
    return Tokens(
        id_token=id_token,
        access_token=token.get("access_token"),
        refresh_token=token.get("refresh_token"),
        expires_at=float(
            token.get("expires_at") or time.time() + int(token.get("expires_in") or 3600)
        ),
    )

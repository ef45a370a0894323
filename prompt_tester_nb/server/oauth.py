"""Cognito's hosted UI: authorization code with PKCE (S256), state and nonce, via Authlib."""

from __future__ import annotations

from typing import Any

from authlib.integrations.requests_client import OAuth2Session

from ..auth import Tokens
from ..errors import AuthenticationError
from ..redaction import register as register_secret
from ..settings import Settings
from .sessions import PendingLogin

SCOPES = "openid email profile"


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
    import time

    return Tokens(
        id_token=id_token,
        access_token=token.get("access_token"),
        refresh_token=token.get("refresh_token"),
        expires_at=float(
            token.get("expires_at") or time.time() + int(token.get("expires_in") or 3600)
        ),
    )

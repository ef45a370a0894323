"""AuthenticationHandler: the request's data flow 2, for the web frontend.

``GET /auth/login`` redirects to Cognito's hosted UI (authorization code with PKCE S256,
``state`` and ``nonce``); the pending sign-in travels in an encrypted, HttpOnly cookie, since a
Lambda keeps nothing between requests. ``GET /auth/callback`` checks ``state`` against that
cookie and hands the rest to the same OpenID client the Jupyter server uses
(``Authenticator.finish_code_flow``: the response's ``iss``, the code exchanged with the PKCE
verifier, the ID token verified with the nonce, tokens revoked when that fails), then returns
the tokens and the user. ``POST /auth/refresh`` renews them for the frontend's refresh token
and ``POST /auth/logout`` revokes it (the client secret, if any, never leaves here). None of
these sits behind the authorizer: they are how a user gets the token the others need.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.metrics import MetricUnit
from cryptography.fernet import Fernet
from pydantic import BaseModel, Field

from .. import oauth
from ..errors import AuthenticationError
from ..models import Principal
from ..openid import Tokens
from . import runtime
from .runtime import json_response, metrics, query

LOGIN_COOKIE = "prompt-tester-login"
app = runtime.resolver()
# When PROMPT_TESTER_CURSOR_KEY is unset (a local run), one key for this process's lifetime.
_PROCESS_KEY = Fernet.generate_key().decode()


def _key() -> str:
    return runtime.service().settings.cursor_key or _PROCESS_KEY


def _secure() -> bool:
    proto = app.current_event.headers.get("X-Forwarded-Proto") or "https"
    return proto.lower() == "https"


def redirect_uri() -> str:
    """The callback URL: configured, else this API's own ``…/auth/callback``."""
    configured = runtime.service().settings.redirect_url
    if configured:
        return configured
    event = app.current_event
    ctx = event.raw_event.get("requestContext") or {}
    proto = event.headers.get("X-Forwarded-Proto") or "https"
    host = event.headers.get("Host") or ctx.get("domainName") or "localhost"
    # requestContext.path is the path the browser used (with the stage); event.path lacks it.
    stage_prefix = (ctx.get("path") or event.path).removesuffix(event.path)
    return f"{proto}://{host}{stage_prefix}/auth/callback"


def _cookie(value: str, max_age: int) -> str:
    flags = "; Secure" if _secure() else ""
    return f"{LOGIN_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{flags}"


@app.get("/auth/login")
def login() -> Any:
    settings = runtime.service().settings
    if not settings.hosted_sign_in:
        raise AuthenticationError(
            "Sign-in through the hosted UI is not configured: set PROMPT_TESTER_COGNITO_DOMAIN"
        )
    pending = oauth.begin_login(next_url="")
    location = runtime.service().auth.openid.authorize_url(redirect_uri(), pending)
    return Response(
        status_code=302,
        content_type=None,
        body="",
        headers={
            "Location": location,
            "Set-Cookie": _cookie(oauth.seal(pending, _key()), oauth.PENDING_SECONDS),
            "Cache-Control": "no-store",
        },
    )


@app.get("/auth/callback")
def callback() -> Any:
    try:
        if query(app, "error"):
            raise AuthenticationError(
                f"The provider did not sign you in ({query(app, 'error')}); sign in again"
            )
        jar = SimpleCookie()
        jar.load(app.current_event.headers.get("Cookie") or "")
        sealed = jar[LOGIN_COOKIE].value if LOGIN_COOKIE in jar else None
        pending = oauth.unseal(sealed, query(app, "state"), _key())
        code = query(app, "code")
        if not code:
            raise AuthenticationError("The provider sent no sign-in code; sign in again")
        tokens, user = runtime.service().auth.finish_code_flow(
            redirect_uri(), code, pending, query(app, "iss")
        )
    except AuthenticationError:
        metrics.add_metric("LoginFailures", MetricUnit.Count, 1)
        raise
    metrics.add_metric("Logins", MetricUnit.Count, 1)
    return json_response(_signed_in(user, tokens), headers={"Set-Cookie": _cookie("", 0)})


class RefreshTokenBody(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=8192)


def _held(body: RefreshTokenBody) -> Tokens:
    """The web frontend's session, as far as this side needs it: its refresh token."""
    return Tokens(id_token="", refresh_token=body.refresh_token, flow="oidc")


@app.post("/auth/refresh")
def refresh() -> Any:
    """New tokens for the frontend's refresh token, at the provider's token endpoint (the
    client secret, if any, stays here). A renewal that fails revokes that refresh token."""
    held = _held(runtime.body(app, RefreshTokenBody))
    auth = runtime.service().auth
    try:
        tokens = auth.refresh(held)
        user = auth.verify(tokens)
    except AuthenticationError:
        metrics.add_metric("RefreshFailures", MetricUnit.Count, 1)
        auth.revoke(held)
        raise
    return json_response(_signed_in(user, tokens))


@app.post("/auth/logout")
def logout() -> Any:
    """Revoke the frontend's refresh token at the provider (RFC 7009: 204 whatever it was)."""
    runtime.service().auth.revoke(_held(runtime.body(app, RefreshTokenBody)))
    return Response(status_code=204, content_type=None, body="")


def _signed_in(user: Principal, tokens: Tokens) -> dict[str, Any]:
    return {
        "user": {"sub": user.user_id, "email": user.email, "expires_at": user.expires_at},
        "id_token": tokens.id_token,
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "expires_at": int(tokens.expires_at),
    }


@runtime.entry_point
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)

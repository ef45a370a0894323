"""AuthenticationHandler: the request's data flow 2, for the web frontend.

``GET /auth/login`` redirects to Cognito's hosted UI (authorization code with PKCE S256,
``state`` and ``nonce``); the pending sign-in travels in an encrypted, HttpOnly cookie, since a
Lambda keeps nothing between requests. ``GET /auth/callback`` checks ``state`` against that
cookie, exchanges the code (with the PKCE verifier) for tokens, verifies the ID token
(signature, issuer, audience, expiry, nonce) and returns the tokens and the user. Neither
route sits behind the authorizer: they are how a user gets the token the others need.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.metrics import MetricUnit
from cryptography.fernet import Fernet

from .. import oauth
from ..errors import AuthenticationError
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
    if not settings.cognito_domain:
        raise AuthenticationError(
            "Sign-in through the hosted UI is not configured: set PROMPT_TESTER_COGNITO_DOMAIN"
        )
    pending = oauth.begin_login(next_url="")
    location = oauth.authorize_url(settings, redirect_uri(), pending)
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
                f"Cognito did not sign you in ({query(app, 'error')}); sign in again"
            )
        jar = SimpleCookie()
        jar.load(app.current_event.headers.get("Cookie") or "")
        sealed = jar[LOGIN_COOKIE].value if LOGIN_COOKIE in jar else None
        pending = oauth.unseal(sealed, query(app, "state"), _key())
        code = query(app, "code")
        if not code:
            raise AuthenticationError("Cognito sent no sign-in code; sign in again")
        service = runtime.service()
        tokens = oauth.exchange_code(service.settings, redirect_uri(), code, pending)
        user = service.auth.verify_id_token(tokens.id_token, pending.nonce)
    except AuthenticationError:
        metrics.add_metric("LoginFailures", MetricUnit.Count, 1)
        raise
    metrics.add_metric("Logins", MetricUnit.Count, 1)
    return json_response(
        {
            "user": {"sub": user.user_id, "email": user.email, "expires_at": user.expires_at},
            "id_token": tokens.id_token,
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_at": int(tokens.expires_at),
        },
        headers={"Set-Cookie": _cookie("", 0)},
    )


@runtime.entry_point
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)

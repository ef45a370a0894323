"""Sign-in routes under ``…/prompt-tester/auth/``: the provider's pages (code flow), e-mail +
password (Cognito pools without a hosted UI), who am I, logout."""

from __future__ import annotations

import html
import json
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from pydantic import BaseModel, Field
from tornado import web

from ..errors import AuthenticationError
from ..session import KernelSignIn, kernel_sign_in
from .base import COOKIE, PromptTesterHandler

LOGIN_COOKIE = "prompt-tester-login"


class PasswordSignIn(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=256)


class Me(BaseModel):
    email: str | None
    sub: str
    expires_at: int | None


class LoginHandler(PromptTesterHandler):
    """Starts a sign-in: the provider's page (hosted UI) when configured, else the password form."""

    @property
    def content_security_policy(self) -> str:
        # Jupyter's API default (default-src 'none') would block the sign-in page's own style.
        return "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'self'"

    @allow_unauthenticated
    async def get(self) -> None:
        next_url = self.safe_next(self.get_argument("next", None))
        settings = self.service.settings
        if not settings.hosted_sign_in:
            self.redirect(self.url("auth/password") + "?" + _query(next=next_url))
            return
        authorize = self.service.auth.openid.authorize_url
        pending = self.sessions.begin_login(next_url)
        location = await self.blocking(authorize, self.redirect_uri(), pending)
        # The state is also bound to this browser: a callback from another browser fails.
        self.set_secure_cookie(
            LOGIN_COOKIE,
            pending.state,
            expires_days=None,
            httponly=True,
            samesite="Lax",
            path=self.base_url,
        )
        self.redirect(location)

    def url(self, tail: str) -> str:
        return f"{self.base_url.rstrip('/')}/prompt-tester/{tail}"

    def redirect_uri(self) -> str:
        configured = self.extension.redirect_url
        if configured:
            return configured
        return f"{self.request.protocol}://{self.request.host}{self.url('auth/callback')}"


class CallbackHandler(LoginHandler):
    @allow_unauthenticated
    async def get(self) -> None:
        if self.get_argument("error", None):
            raise AuthenticationError(
                f"The provider did not sign you in ({self.get_argument('error')}); try again"
            )
        state = self.get_argument("state", "")
        cookie = self.get_secure_cookie(LOGIN_COOKIE, max_age_days=1)
        self.clear_cookie(LOGIN_COOKIE, path=self.base_url)
        pending = self.sessions.finish_login(state) if state else None
        if pending is None or cookie is None or cookie.decode() != state:
            raise AuthenticationError(
                "This sign-in response does not belong to a sign-in started here (or was"
                " already used); sign in again"
            )
        code = self.get_argument("code", "")
        if not code:
            raise AuthenticationError("The provider sent no sign-in code; sign in again")
        tokens, principal = await self.blocking(
            self.service.auth.finish_code_flow,
            self.redirect_uri(),
            code,
            pending,
            self.get_argument("iss", None),
        )
        self.start_session(principal, tokens)
        self.redirect(pending.next_url)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = getattr(exc, "message", None) or "Sign-in failed"
        retry = self.url("auth/login")
        self.finish(
            _page(
                "Sign-in failed",
                f"<p>{html.escape(message)}</p><p><a href='{retry}'>Sign in again</a></p>",
            ),
            set_content_type="text/html",
        )


class PasswordHandler(LoginHandler):
    """Email + password (``USER_PASSWORD_AUTH``), for pools without a hosted UI."""

    # A form to fill in, written at once: synchronous, where the hosted sign-in awaits a redirect.
    @web.authenticated
    def get(self) -> None:  # type: ignore[override]
        next_url = self.safe_next(self.get_argument("next", None))
        self.set_header("Content-Type", "text/html")
        self.finish(self._form(next_url, ""), set_content_type="text/html")

    @web.authenticated
    async def post(self) -> None:
        is_json = self.request.headers.get("Content-Type", "").startswith("application/json")
        if is_json:
            data = self.body(PasswordSignIn)
            email, password, next_url = data.email, data.password, None
        else:
            email = self.get_body_argument("email", "")
            password = self.get_body_argument("password", "")
            next_url = self.safe_next(self.get_body_argument("next", None))
        try:
            tokens = await self.blocking(self.service.auth.sign_in, email, password)
            principal = await self.blocking(self.service.auth.verify, tokens)
        except AuthenticationError as exc:
            if is_json:
                raise
            self.set_status(401)
            self.set_header("Content-Type", "text/html")
            self.finish(self._form(next_url or "", exc.message), set_content_type="text/html")
            return
        self.start_session(principal, tokens)
        if is_json:
            self.send(
                Me(email=principal.email, sub=principal.user_id, expires_at=principal.expires_at)
            )
        else:
            self.redirect(next_url or self.safe_next(None))

    def _form(self, next_url: str, error: str) -> str:
        err = f"<p class='err'>{html.escape(error)}</p>" if error else ""
        return _page(
            "Sign in to the Prompt Tester",
            f"""{err}<form method="post" action="{self.url("auth/password")}" id="prompt-tester-signin">
{self.xsrf_form_html()}
<input type="hidden" name="next" value="{html.escape(next_url)}">
<label>Email <input name="email" type="email" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button></form>""",
        )

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        PromptTesterHandler.write_error(self, status_code, **kwargs)


class SignInState(BaseModel):
    """``GET auth/me?optional=1``: the sign-in state as a 200 either way, for a page that
    polls it. Signed out is a normal state, not an error: it must leave no 401 in the server
    log or the browser console every minute. Signed in carries ``Me``'s fields; signed out,
    whom the kernels would sign in as instead (``auth/kernel``), so one call says it all."""

    signed_in: bool
    email: str | None = None
    sub: str | None = None
    expires_at: int | None = None
    kernel: KernelSignIn | None = None


class MeHandler(PromptTesterHandler):
    """Who is signed in in this browser: 401 when nobody (the REST contract), unless the
    caller asks with ``optional=1``: then 200 ``{"signed_in": false, "kernel": …}``."""

    @web.authenticated
    async def get(self) -> None:
        optional = self.get_argument("optional", "") in ("1", "true")
        try:
            principal = await self.principal()
        except AuthenticationError:
            if not optional:
                raise
            self.send(SignInState(signed_in=False, kernel=kernel_sign_in(self.service.settings)))
            return
        if optional:
            self.send(
                SignInState(
                    signed_in=True,
                    email=principal.email,
                    sub=principal.user_id,
                    expires_at=principal.expires_at,
                )
            )
            return
        self.send(Me(email=principal.email, sub=principal.user_id, expires_at=principal.expires_at))


class KernelSignInHandler(PromptTesterHandler):
    """Whom this server's kernels sign in as when a notebook calls ``pt.connect()``."""

    @web.authenticated
    def get(self) -> None:
        self.send(kernel_sign_in(self.service.settings))


class LogoutHandler(PromptTesterHandler):
    @web.authenticated
    async def post(self) -> None:
        session = self.web_session()
        self.clear_cookie(COOKIE, path=self.base_url)
        await self.end_session(session)
        self.set_status(204)
        self.finish()


def _query(**params: str) -> str:
    from urllib.parse import urlencode

    return urlencode(params)


def _page(title: str, body: str) -> str:
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:28em;margin:4em auto}}label{{display:block;margin:.6em 0}}
input{{width:100%;padding:.3em}}.err{{color:#c62828}}button{{padding:.4em 1.2em}}</style></head>
<body><h2>{html.escape(title)}</h2>{body}</body></html>"""


def me_json(principal: Any) -> str:
    return json.dumps(
        {"email": principal.email, "sub": principal.user_id, "expires_at": principal.expires_at}
    )

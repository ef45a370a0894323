"""The base handler: sign-in session lookup, errors as status codes, blocking work off-loop."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
import time
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlparse

from jupyter_server.base.handlers import APIHandler
from pydantic import BaseModel

from .. import handoff
from ..errors import AuthenticationError, PromptTesterError
from ..http_errors import WHOLE_NUMBER, error_body, json_body, payload, whole_number_argument
from ..models import Principal
from ..openid import Tokens
from ..service import PromptTesterService
from .sessions import SessionStore, WebSession

logger = logging.getLogger(__name__)
COOKIE = "prompt-tester-session"
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
__all__ = ["COOKIE", "WHOLE_NUMBER", "PromptTesterHandler", "StoppingError"]


class StoppingError(PromptTesterError):
    """The server is stopping and did not run the request."""

    status = 503

    def __init__(self) -> None:
        super().__init__("The Jupyter server is stopping; try again once it is back")


class PromptTesterHandler(APIHandler):
    """Every Prompt Tester route derives from this one."""

    # {method: {query argument: JSON schema}}, read by openapi.py so the document lists them.
    QUERY: ClassVar[dict[str, dict[str, dict[str, Any]]]] = {}

    @property
    def service(self) -> PromptTesterService:
        return self.settings["prompt_tester_service"]

    @property
    def sessions(self) -> SessionStore:
        return self.settings["prompt_tester_sessions"]

    @property
    def extension(self) -> Any:
        return self.settings["prompt_tester_extension"]

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """boto3 and model calls block: never on the event loop (see health.py for the proof).

        When the server stops, its pool drops the calls still queued: those requests get a
        503 that says so, not a CancelledError's traceback each.
        """
        call = functools.partial(contextvars.copy_context().run, fn, *args)
        try:
            future = self.settings["prompt_tester_executor"].submit(call)
        except RuntimeError:  # the pool is already shut down
            raise StoppingError() from None
        started = time.perf_counter()
        try:
            result = await asyncio.wrap_future(future)
        except PromptTesterError as exc:
            logger.debug(
                "%s %s: %s answered %s (%d) in %.0f ms",
                self.request.method,
                self.request.path,
                getattr(fn, "__name__", "call"),
                type(exc).__name__,
                exc.status,
                (time.perf_counter() - started) * 1000,
            )
            raise
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if future.cancelled() and task is not None and not task.cancelling():
                raise StoppingError() from None
            raise
        logger.debug(
            "%s %s: %s in %.0f ms",
            self.request.method,
            self.request.path,
            getattr(fn, "__name__", "call"),
            (time.perf_counter() - started) * 1000,
        )
        return result

    # --- the sign-in session ----------------------------------------------------------------
    def web_session(self) -> WebSession | None:
        raw = self.get_secure_cookie(COOKIE, max_age_days=1)
        return self.sessions.get(raw.decode() if raw else None)

    async def principal(self) -> Principal:
        """The verified user of this browser, renewed when near expiry; else 401.

        A session that cannot be renewed ends here, and its refresh token is revoked: a
        dropped session leaves nothing at the provider that still works.
        """
        session = self.web_session()
        if session is None:
            raise AuthenticationError("Sign in to the Prompt Tester first")
        if session.tokens.expires_at - time.time() < handoff.RENEW_MARGIN:
            # One renewal per session at a time: a provider that rotates refresh tokens
            # refuses the second use of one (and may revoke the whole grant for it).
            async with session.renewal:
                if self.sessions.get(session.sid) is None:  # ended while this one waited
                    raise AuthenticationError("The session has ended; sign in again")
                if session.tokens.expires_at - time.time() < handoff.RENEW_MARGIN:
                    await self._renew(session)
        return session.principal

    async def _renew(self, session: WebSession) -> None:
        auth = self.service.auth
        try:
            # The kernels hold this session too: renewals take turns with theirs.
            tokens = await self.blocking(
                auth.renew,
                session.tokens,
                session.principal.username,
                session.lineage,
                self.sessions.handoff_path,
            )
            principal = await self.blocking(auth.verify, tokens)
        except AuthenticationError:
            await self.end_session(session)
            raise
        self.sessions.update(session, principal, tokens)

    def start_session(self, principal: Principal, tokens: Tokens) -> None:
        session = self.sessions.create(principal, tokens)
        self.set_secure_cookie(
            COOKIE, session.sid, expires_days=1, httponly=True, samesite="Lax", path=self.base_url
        )

    async def end_session(self, session: WebSession | None) -> None:
        """Forget the session here and revoke its refresh token at the provider."""
        if session is None:
            return
        self.sessions.drop(session.sid)
        await self.blocking(self.service.auth.revoke, session.tokens)

    # --- input and output -----------------------------------------------------------------------
    def body(self, model: type[M]) -> M:
        """The JSON body as ``model`` (see ``http_errors.json_body``)."""
        return json_body(self.request.body, model)

    def int_argument(self, name: str, default: int | None = None) -> int | None:
        return whole_number_argument(name, self.get_argument(name, None), default)

    def send(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(payload(value)))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(error_body(status_code, exc, self._reason)))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, PromptTesterError):
            return  # expected: answered with its status, not a stack trace in the log
        super().log_exception(typ, value, tb)

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, PromptTesterError):
            if not self._finished:
                self.send_error(e.status, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)

    def safe_next(self, raw: str | None) -> str:
        """Only a path inside this server: never another host, scheme or protocol-relative URL."""
        default = self.base_url.rstrip("/") + "/lab"
        if not raw:
            return default
        parsed = urlparse(raw)
        if parsed.scheme or parsed.netloc or not raw.startswith("/") or raw.startswith("//"):
            return default
        if "\\" in raw or any(ord(ch) < 32 for ch in raw):
            return default
        if not raw.startswith(self.base_url):
            return default
        return raw

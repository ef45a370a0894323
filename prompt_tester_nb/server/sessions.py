"""Server-side Cognito sessions, keyed by a random id in a signed, HttpOnly cookie.

Tokens stay on the server (never in the browser) and the last sign-in is handed to the
user's kernels through ``handoff``. Pending hosted-UI sign-ins (state, nonce, PKCE verifier)
live here too, for ten minutes, and are taken out once: a replayed callback finds nothing.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from cachetools import TTLCache

from .. import handoff
from ..auth import Tokens
from ..models import Principal
from ..oauth import PendingLogin, begin_login

SESSION_SECONDS = 24 * 3600


@dataclass
class WebSession:
    sid: str
    principal: Principal
    tokens: Tokens = field(repr=False)
    username: str | None = None


class SessionStore:
    def __init__(self, handoff_path: Path | None = None):
        # As long as the cookie (one day); bounded, so repeated sign-ins cannot grow it forever.
        self._sessions: TTLCache = TTLCache(maxsize=100_000, ttl=SESSION_SECONDS)
        self._pending: TTLCache = TTLCache(maxsize=10_000, ttl=600)
        self._lock = threading.Lock()
        self.handoff_path = handoff_path

    def create(self, principal: Principal, tokens: Tokens, username: str | None) -> WebSession:
        session = WebSession(secrets.token_urlsafe(32), principal, tokens, username)
        with self._lock:
            self._sessions[session.sid] = session
        handoff.write(tokens, username or principal.email, self.handoff_path)
        return session

    def get(self, sid: str | None) -> WebSession | None:
        if not sid:
            return None
        with self._lock:
            return self._sessions.get(sid)

    def update(self, session: WebSession, principal: Principal, tokens: Tokens) -> None:
        with self._lock:
            session.principal, session.tokens = principal, tokens
        handoff.write(tokens, session.username or principal.email, self.handoff_path)

    def drop(self, sid: str | None) -> WebSession | None:
        with self._lock:
            session = self._sessions.pop(sid or "", None)
        if session is not None:
            handoff.remove(self.handoff_path)
        return session

    def begin_login(self, next_url: str) -> PendingLogin:
        pending = begin_login(next_url)
        with self._lock:
            self._pending[pending.state] = (pending, time.time())
        return pending

    def finish_login(self, state: str) -> PendingLogin | None:
        with self._lock:
            entry = self._pending.pop(state, None)
        return entry[0] if entry else None

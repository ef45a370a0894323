"""Server-side sign-in sessions, keyed by a random id in a signed, HttpOnly cookie.

Tokens stay on the server (never in the browser) and the last sign-in is handed to the
user's kernels through ``handoff``. Pending code-flow sign-ins (state, nonce, PKCE verifier)
live here too, for ten minutes, and are taken out once: a replayed callback finds nothing.

A session that ends without a logout (its day is over, or the store is full) is handed to
``on_expired``, which revokes its refresh token: nothing valid is left behind at the provider.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    # Names this sign-in in the hand-off file (not the cookie's sid, which is a credential).
    lineage: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    renewal: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False, compare=False)


class _Sessions(TTLCache):
    """A TTLCache that tells what it lets go (expired or evicted), so its tokens get revoked."""

    def __init__(self, maxsize: int, ttl: float, timer: Callable[[], float], on_gone: Any):
        super().__init__(maxsize=maxsize, ttl=ttl, timer=timer)
        self._on_gone = on_gone

    def expire(self, time: float | None = None) -> list:
        expired = list(super().expire(time))
        for _, session in expired:
            self._on_gone(session)
        return expired

    def popitem(self) -> tuple:
        key, session = super().popitem()
        self._on_gone(session)
        return key, session


class SessionStore:
    def __init__(
        self,
        handoff_path: Path | None = None,
        on_expired: Callable[[WebSession], None] | None = None,
        ttl: float = SESSION_SECONDS,
        timer: Callable[[], float] = time.monotonic,
    ):
        # As long as the cookie (one day); bounded, so repeated sign-ins cannot grow it forever.
        self._on_expired = on_expired
        self._sessions = _Sessions(100_000, ttl, timer, self._gone)
        self._pending: TTLCache = TTLCache(maxsize=10_000, ttl=600)
        self._lock = threading.Lock()
        self.handoff_path = handoff_path

    def _gone(self, session: WebSession) -> None:
        if self._on_expired is not None:
            self._on_expired(session)

    def sweep(self) -> int:
        """Let the expired sessions go now (the cache otherwise does it on its next write)."""
        with self._lock:
            return len(self._sessions.expire())

    def create(self, principal: Principal, tokens: Tokens) -> WebSession:
        session = WebSession(secrets.token_urlsafe(32), principal, tokens)
        with self._lock:
            self._sessions[session.sid] = session
        handoff.write(tokens, principal, self.handoff_path, session.lineage)
        return session

    def get(self, sid: str | None) -> WebSession | None:
        if not sid:
            return None
        with self._lock:
            return self._sessions.get(sid)

    def update(self, session: WebSession, principal: Principal, tokens: Tokens) -> None:
        # The hand-off file already holds them when it is this session's (handoff.renew_shared
        # wrote it); another browser's renewal leaves the last sign-in's file alone.
        with self._lock:
            session.principal, session.tokens = principal, tokens

    def drop(self, sid: str | None) -> WebSession | None:
        with self._lock:
            session = self._sessions.pop(sid or "", None)
        if session is not None and handoff.owned_by(session.lineage, self.handoff_path):
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

"""The answer cache: model answers by SHA-256 of the exact request, in a SQLite file.

A rerun of a replay answers the rows (and the judge calls) whose exact request (model,
resolved messages, max_tokens, the draft's params; a repeat's number when a log is run more
than once) was answered before, with no model call. The file holds answers and their metrics,
never a key, a token or the messages. Safe to share between the threads of one run.

Offline (``AnswerCache(path, offline=True)``, the CI gate's ``--offline``): a request the file
does not hold is never sent; it fails with ``offline_miss()`` (kind ``offline``), so a rerun
from committed answers makes no model call at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import PromptError, ProviderError, ValidationError
from ..models import TestResult

if TYPE_CHECKING:
    from .prepared import PreparedCall, PreparedDraft

_FIELDS = (
    "content",
    "finish_reason",
    "attempt",
    "model",
    "prompt_tokens",
    "sample_tokens",
    "price",
    "latency_ms",
)


OFFLINE = "offline"  # the error kind of a request an offline cache does not hold
OFFLINE_MISS = "offline: the answers file holds no answer for this request"


def offline_miss() -> ProviderError:
    """The failure of a request that an offline run may not send (no model was called)."""
    return ProviderError(
        OFFLINE_MISS, attempts=[{"attempt": "-", "model": "-", "kind": OFFLINE}], kind=OFFLINE
    )


class AnswerCache:
    """Answers by request digest (stdlib ``sqlite3``), behind one lock. ``offline``: a miss
    is never sent to a model (the scheduler and the judges raise ``offline_miss()``)."""

    def __init__(self, path: str | os.PathLike[str], *, offline: bool = False):
        self.path = Path(path)
        self.offline = offline
        fresh = not self.path.exists()
        if fresh:  # owner-only: answers come from production contexts
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, content TEXT,"
                " finish_reason TEXT, attempt TEXT, model TEXT, prompt_tokens INTEGER,"
                " sample_tokens INTEGER, price REAL, latency_ms INTEGER, created_at TEXT)"
            )
            self._db.commit()
        except sqlite3.DatabaseError:
            raise ValidationError(
                f"cache: {str(self.path)!r} is not a replay cache (SQLite) file", field="cache"
            ) from None
        self._pending = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.writes = 0

    def __repr__(self) -> str:
        return f"<AnswerCache {str(self.path)!r}>"

    def get(self, key: str) -> TestResult | None:
        """The recorded answer, as a result that cost nothing in this run."""
        with self._lock:
            found = self._db.execute(
                f"SELECT {', '.join(_FIELDS)} FROM answers WHERE key = ?",  # noqa: S608 (fixed names)
                (key,),
            ).fetchone()
            if found is None:
                return None
            self.hits += 1
        data = dict(zip(_FIELDS, found, strict=True))
        return TestResult(
            content=data["content"] if data["content"] is not None else "",
            finish_reason=data["finish_reason"],
            attempt=data["attempt"],
            model=data["model"],
            latency_ms=int(data["latency_ms"] or 0),
            prompt_tokens=data["prompt_tokens"],
            sample_tokens=data["sample_tokens"],
            price=0.0,  # nothing was spent in this run
            cached=True,
            tries=0,
            requests=0,
        )

    def put(self, key: str, result: TestResult) -> None:
        with self._lock:
            self._put(key, result)

    def _put(self, key: str, result: TestResult) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                result.content,
                result.finish_reason,
                result.attempt,
                result.model,
                result.prompt_tokens,
                result.sample_tokens,
                result.price,
                result.latency_ms,
                datetime.now(UTC).isoformat(timespec="seconds"),
            ),
        )
        self.writes += 1
        self._pending += 1
        if self._pending >= 200:
            self._commit()

    def _commit(self) -> None:
        if self._pending:
            self._db.commit()
            self._pending = 0

    def commit(self) -> None:
        with self._lock:
            self._commit()

    def close(self) -> None:
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._commit()
            self._db.close()

    # --- the keys of one prepared call ------------------------------------------------
    @staticmethod
    def key(prepared: PreparedDraft, call: PreparedCall, where: str, repeat: int = 0) -> str:
        """The exact request's digest; a repeat after the first is another request."""
        base = prepared.request_key(call, where)
        if not repeat:
            return base
        return hashlib.sha256(f"{base}#repeat={repeat}".encode()).hexdigest()

    def find(
        self, prepared: PreparedDraft, call: PreparedCall, repeat: int = 0
    ) -> TestResult | None:
        """The recorded answer of any attempt's exact request, in the behaviour's order."""
        for where in call.order:
            if where not in prepared.models:
                continue
            try:
                key = self.key(prepared, call, where, repeat)
            except PromptError:  # this attempt's model cannot take the context
                continue
            hit = self.get(key)
            if hit is not None:
                return hit
        return None

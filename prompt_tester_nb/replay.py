"""Replay a prompt draft on logged production calls: what would it have answered, what changed?

``PromptTesterService.replay`` (and ``Session.replay``) select logs, estimate the cost, then run
the SAME draft with each log's context through the real flow-prompt (``runner.PreparedDraft``)
and compare every new answer with the one production gave::

    run = s.replay(draft.prompt_data, behaviour="default", limit=200, max_cost=0.50)
    run.estimate            # calls and estimated cost, computed before any model call
    run.to_dataframe()      # one row per log: production, new, changed, similarity, ...
    run.summary()           # counts, errors by kind, share changed, cost, latency p50/p95
    run.save("replay.json"); pt.load_run("replay.json")

How it runs:

* **Once per replay**: the access check, the behaviour, the provider keys, the draft (loaded
  into flow-prompt once) and the models' prices. Nothing is re-read per row.
* **Once per row**: flow-prompt resolves the draft with the row's context
  (``create_prompt(attempt).resolve(context)``) before any call; the token count it gives
  feeds the estimate, the cache key and the call itself (``FlowPrompt.call`` gets that
  resolution instead of resolving again).
* **Calls** go through a thread pool (the openai client blocks). The number of calls in
  flight is adaptive (AIMD): a 429 halves it (at most once per round of calls, min 1), and
  every ``RetryPolicy.grow_every`` successes add one back, up to ``concurrency``. Rate limits,
  5xx, timeouts and dropped connections are retried with tenacity: exponential backoff with
  jitter that waits at least what ``Retry-After`` asked for, each wait capped, a bounded
  number of retries per row. Any other failure is recorded on its row and the run goes on.
* **max_cost** caps what is spent: a row is not started when the real prices so far plus
  the estimates of the calls in flight plus its own estimate would pass the cap. Rows left
  out are kept, marked ``not_run``, and the summary says ``stopped_reason="max_cost"``.
* **cancel()** (any thread) or Ctrl-C while waiting stops scheduling, lets the calls in
  flight end (each is bounded by the model timeout) and keeps every finished row
  (``stopped_reason="cancelled"``).
* **cache=path** keeps every answer in a SQLite file keyed by a SHA-256 of the exact request
  (model, resolved messages, max_tokens, the draft's params). A rerun answers those rows from
  it without a call. The file holds answers and hashes, never a key or a token.
* **Memory**: each row is a small record of plain values; no flow-prompt or openai object
  outlives its call, and each row's resolved messages are dropped once the row has run.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import logging
import math
import os
import queue
import random
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_when_event_set,
)

from .errors import NotFoundError, ProviderError, ValidationError
from .validation import parse, require, whole_number

if TYPE_CHECKING:
    from .models import Environment, Principal
    from .runner import CallOutcome, PreparedDraft, Resolved
    from .service import PromptTesterService

logger = logging.getLogger(__name__)

FORMAT = "prompt-tester-nb/replay"
FORMAT_VERSION = 1
MAX_ROWS = 10_000
MAX_CONCURRENCY = 64
NOT_RUN = "not_run"
COLUMNS = [
    "context_id",
    "production",
    "new",
    "changed",
    "similarity",
    "latency_ms",
    "prompt_tokens",
    "sample_tokens",
    "price",
    "attempt",
    "model",
    "error",
    "cached",
    "tries",
]

ProgressFn = Callable[[int, int], Any]


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one row is retried after a rate limit, a 5xx, a timeout or a reset."""

    max_retries: int = 4  # per row, after the first call
    base_delay_s: float = 0.5  # first backoff; doubles each retry, with jitter
    max_delay_s: float = 30.0  # no single wait is longer (Retry-After included)
    grow_every: int = 10  # successes that add one call back to the allowed concurrency

    def __post_init__(self) -> None:
        require(
            isinstance(self.max_retries, int) and 0 <= self.max_retries <= 10,
            "retry.max_retries",
            "must be a whole number from 0 to 10",
        )
        require(
            isinstance(self.base_delay_s, int | float) and 0 <= self.base_delay_s <= 60,
            "retry.base_delay_s",
            "must be 0 to 60 seconds",
        )
        require(
            isinstance(self.max_delay_s, int | float) and 0 <= self.max_delay_s <= 300,
            "retry.max_delay_s",
            "must be 0 to 300 seconds",
        )
        require(
            isinstance(self.grow_every, int) and 1 <= self.grow_every <= 10_000,
            "retry.grow_every",
            "must be a whole number from 1",
        )


@dataclass(frozen=True)
class ReplayEstimate:
    """The pre-run estimate: how many model calls, and what they should cost (USD).

    ``estimated_cost`` sums, over the rows to call, flow-prompt's price of the row's first
    attempt model for the draft's resolved prompt tokens plus the production answer's sample
    tokens (the log's ``metrics.sample_tokens_used``, else the answer counted with tiktoken).
    """

    rows: int
    calls: int
    cached: int
    unresolved: int  # rows whose context the draft could not be resolved with (not called)
    prompt_tokens: int
    sample_tokens: int
    estimated_cost: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# What a saved run keeps of each row (``COLUMNS`` are the dataframe's).
SAVED_FIELDS = (
    "context_id",
    "context",
    "production",
    "production_sample_tokens",
    "new",
    "finish_reason",
    "changed",
    "similarity",
    "latency_ms",
    "prompt_tokens",
    "sample_tokens",
    "price",
    "attempt",
    "model",
    "error_kind",
    "error_message",
    "cached",
    "tries",
    "estimated_cost",
)


# Of those, set by the constructor (the first three) or computed from the answers on load.
_GIVEN_OR_DERIVED = frozenset({"context_id", "context", "production", "changed", "similarity"})


@dataclass(slots=True, eq=False)
class ReplayRow:
    """One replayed log. Plain values only (a replay of 10,000 rows stays small)."""

    index: int
    context_id: str
    context: dict[str, Any]
    production: str | None
    production_sample_tokens: int | None = None
    new: str | None = None
    finish_reason: str | None = None
    latency_ms: int | None = None
    prompt_tokens: int | None = None
    sample_tokens: int | None = None
    price: float | None = None
    attempt: str | None = None
    model: str | None = None
    error_kind: str | None = None
    error_message: str | None = None
    cached: bool = False
    tries: int = 0
    estimated_cost: float = 0.0
    _similarity: float | None = None

    @property
    def ok(self) -> bool:
        return self.new is not None and self.error_kind is None

    @property
    def error(self) -> str | None:
        if self.error_kind is None:
            return None
        return f"{self.error_kind}: {self.error_message}" if self.error_message else self.error_kind

    @property
    def changed(self) -> bool | None:
        if not self.ok:
            return None
        return (self.new or "").strip() != (self.production or "").strip()

    @property
    def similarity(self) -> float | None:
        """difflib's ratio between the production answer and the new one (0..1)."""
        if not self.ok:
            return None
        if self._similarity is None:
            a, b = self.production or "", self.new or ""
            self._similarity = 1.0 if a == b else difflib.SequenceMatcher(None, a, b).ratio()
        return self._similarity

    def to_row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in COLUMNS}

    def to_dict(self) -> dict[str, Any]:
        """The saved form: the row's inputs, both answers and every metric."""
        return {name: getattr(self, name) for name in SAVED_FIELDS}

    @classmethod
    def from_dict(cls, index: int, data: dict[str, Any]) -> ReplayRow:
        row = cls(
            index=index,
            context_id=str(data["context_id"]),
            context=dict(data.get("context") or {}),
            production=data.get("production"),
        )
        for name in SAVED_FIELDS:
            if name in _GIVEN_OR_DERIVED:
                continue
            if name in data:
                setattr(row, name, data[name])
        if data.get("similarity") is not None:
            row._similarity = float(data["similarity"])
        return row


def _percentile(values: list[int], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    # nearest-rank percentile
    rank = max(1, math.ceil(share * len(ordered)))
    return float(ordered[rank - 1])


class ReplayRun:
    """A replay: its inputs, the estimate, one ``ReplayRow`` per log, and how it ended.

    Returned by ``Session.replay`` when the run has ended (or, with ``wait=False``, at once,
    still running: ``run.wait()``, ``run.done``, ``run.cancel()``). ``load_run`` rebuilds one
    from a saved file.
    """

    def __init__(
        self,
        *,
        env_id: str,
        env_name: str | None,
        behaviour: str,
        behaviour_spec: dict[str, Any],
        draft: dict[str, Any],
        selection: dict[str, Any],
        rows: list[ReplayRow],
        estimate: ReplayEstimate,
        concurrency: int,
        max_cost: float | None,
    ):
        self.env_id = env_id
        self.env_name = env_name
        self.behaviour = behaviour
        self.behaviour_spec = behaviour_spec
        self.draft = draft
        self.selection = selection
        self.rows = rows
        self.estimate = estimate
        self.concurrency = concurrency
        self.max_cost = max_cost
        self.stopped_reason: str | None = None
        self.started_at: str | None = None
        self.finished_at: str | None = None
        self.elapsed_s: float | None = None
        self.concurrency_trace: list[tuple[float, int]] = [(0.0, concurrency)]
        self.model_requests = 0
        self.retries = 0
        self.failure: str | None = None  # an internal error that ended the run early
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._done.set()  # until an engine starts it (loaded runs are finished runs)

    # --- control ------------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop scheduling calls; calls in flight end, finished rows are kept."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the run to end; Ctrl-C cancels it and still waits for the calls in flight
        (a second Ctrl-C gives up waiting). Returns whether the run has ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while not self._done.wait(0.2):
                if deadline is not None and time.monotonic() >= deadline:
                    return False
        except KeyboardInterrupt:
            self.cancel()
            self._done.wait()
        return True

    # --- views --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        s = self.summary()
        state = "running" if not self.done else (s["stopped_reason"] or "done")
        return (
            f"<ReplayRun {self.draft.get('prompt_id')!r} behaviour={self.behaviour!r}"
            f" rows={s['calls']} ok={s['succeeded']} failed={s['failed']}"
            f" not_run={s['not_run']} changed={s['changed']} cost=${s['total_cost']:.5f}"
            f" [{state}]>"
        )

    def to_dataframe(self):  # -> pandas.DataFrame
        import pandas as pd

        rows = [r.to_row() for r in self.rows]
        frame = pd.DataFrame(rows, columns=COLUMNS)
        for name in ("latency_ms", "prompt_tokens", "sample_tokens", "tries"):
            frame[name] = frame[name].astype("Int64")
        for name in ("price", "similarity"):
            frame[name] = frame[name].astype("float64")
        frame["changed"] = frame["changed"].astype("boolean")
        frame["cached"] = frame["cached"].astype(bool)
        return frame

    def summary(self) -> dict[str, Any]:
        rows = self.rows
        ok = [r for r in rows if r.ok]
        kinds = Counter(r.error_kind for r in rows if r.error_kind is not None)
        changed = sum(1 for r in ok if r.changed)
        latencies = [r.latency_ms for r in ok if not r.cached and r.latency_ms is not None]
        spent = sum(r.price for r in rows if r.ok and not r.cached and r.price is not None)
        not_run = kinds.get(NOT_RUN, 0)
        return {
            "calls": len(rows),
            "succeeded": len(ok),
            "failed": len(rows) - len(ok) - not_run,
            "not_run": not_run,
            "errors_by_kind": dict(sorted(kinds.items())),
            "changed": changed,
            "share_changed": (changed / len(ok)) if ok else None,
            "total_cost": round(spent, 10),
            "latency_p50_ms": _percentile(latencies, 0.50),
            "latency_p95_ms": _percentile(latencies, 0.95),
            "estimated_cost": self.estimate.estimated_cost,
            "stopped_reason": self.stopped_reason,
            "cache_hits": sum(1 for r in rows if r.cached),
            "model_requests": self.model_requests,
            "retries": self.retries,
            "min_concurrency": min(n for _, n in self.concurrency_trace),
            "elapsed_s": self.elapsed_s,
        }

    # --- saving -------------------------------------------------------------------------
    def _header(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "env_id": self.env_id,
            "env_name": self.env_name,
            "behaviour": {"name": self.behaviour, "spec": self.behaviour_spec},
            "draft": self.draft,
            "selection": self.selection,
            "concurrency": self.concurrency,
            "max_cost": self.max_cost,
            "estimate": self.estimate.to_dict(),
            "stopped_reason": self.stopped_reason,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "elapsed_s": self.elapsed_s,
            "model_requests": self.model_requests,
            "retries": self.retries,
            "failure": self.failure,
            "concurrency_trace": [list(p) for p in self.concurrency_trace],
            "summary": self.summary(),
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything saved: the draft, behaviour name and spec, environment id, selection,
        estimate, summary, and per row the context, both answers and the metrics. It holds
        no provider key and no token: none of those is ever part of a run."""
        return {**self._header(), "rows": [r.to_dict() for r in self.rows]}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReplayRun):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the run as JSON, or as JSON Lines when the name ends in ``.jsonl``
        (a header line, then one line per row). Written atomically, owner-only."""
        require(self.done, "run", "is still running; wait() for it (or cancel()) first")
        target = Path(path)
        require(
            not target.is_dir() and target.parent.is_dir(),
            "path",
            "must name a file in an existing folder",
        )
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            if target.suffix.lower() == ".jsonl":
                header = self._header()
                header["rows_follow"] = len(self.rows)
                fh.write(json.dumps(header, ensure_ascii=False, default=str) + "\n")
                for row in self.rows:
                    fh.write(json.dumps(row.to_dict(), ensure_ascii=False, default=str) + "\n")
            else:
                json.dump(self.to_dict(), fh, ensure_ascii=False, default=str)
        os.replace(tmp, target)
        return target


def load_run(path: str | os.PathLike[str]) -> ReplayRun:
    """A saved replay (JSON or JSON Lines), as a finished ``ReplayRun``."""
    source = Path(path)
    if not source.is_file():
        raise NotFoundError(f"No saved replay at {str(source)!r}")
    with source.open(encoding="utf-8") as fh:
        first = fh.readline()
        try:
            head = json.loads(first)
            if isinstance(head, dict) and "rows_follow" in head:
                rows_data = [json.loads(line) for line in fh if line.strip()]
            else:
                head = json.loads(first + fh.read())
                rows_data = head.get("rows") or []
        except json.JSONDecodeError:
            raise ValidationError("path: is not a saved replay (not JSON)", field="path") from None
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise ValidationError("path: is not a saved replay", field="path")
    if int(head.get("format_version") or 0) > FORMAT_VERSION:
        raise ValidationError(
            "path: was saved by a newer prompt-tester-nb; upgrade to read it", field="path"
        )
    estimate = ReplayEstimate(**head["estimate"])
    run = ReplayRun(
        env_id=head["env_id"],
        env_name=head.get("env_name"),
        behaviour=head["behaviour"]["name"],
        behaviour_spec=head["behaviour"]["spec"],
        draft=head["draft"],
        selection=head.get("selection") or {},
        rows=[ReplayRow.from_dict(i, r) for i, r in enumerate(rows_data)],
        estimate=estimate,
        concurrency=int(head.get("concurrency") or 1),
        max_cost=head.get("max_cost"),
    )
    run.stopped_reason = head.get("stopped_reason")
    run.started_at = head.get("started_at")
    run.finished_at = head.get("finished_at")
    run.elapsed_s = head.get("elapsed_s")
    run.model_requests = int(head.get("model_requests") or 0)
    run.retries = int(head.get("retries") or 0)
    run.failure = head.get("failure")
    run.concurrency_trace = [(float(t), int(n)) for t, n in head.get("concurrency_trace") or []]
    if not run.concurrency_trace:
        run.concurrency_trace = [(0.0, run.concurrency)]
    return run


# --------------------------------------------------------------------------- the answer cache


class AnswerCache:
    """Model answers by SHA-256 of the exact request, in a SQLite file (stdlib ``sqlite3``).

    Holds the answer and its metrics, never the request's key, token or messages. Used by one
    thread at a time (the planner, then the run's scheduler).
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
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
        self.hits = 0
        self.writes = 0

    def __repr__(self) -> str:
        return f"<AnswerCache {str(self.path)!r}>"

    def get(self, key: str) -> dict[str, Any] | None:
        found = self._db.execute(
            "SELECT content, finish_reason, attempt, model, prompt_tokens, sample_tokens,"
            " price, latency_ms FROM answers WHERE key = ?",
            (key,),
        ).fetchone()
        if found is None:
            return None
        names = (
            "content",
            "finish_reason",
            "attempt",
            "model",
            "prompt_tokens",
            "sample_tokens",
            "price",
            "latency_ms",
        )
        return dict(zip(names, found, strict=True))

    def put(self, key: str, outcome: CallOutcome) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                outcome.content,
                outcome.finish_reason,
                outcome.attempt,
                outcome.model,
                outcome.prompt_tokens,
                outcome.sample_tokens,
                outcome.price,
                outcome.latency_ms,
                datetime.now(UTC).isoformat(timespec="seconds"),
            ),
        )
        self.writes += 1
        self._pending += 1
        if self._pending >= 200:
            self.commit()

    def commit(self) -> None:
        if self._pending:
            self._db.commit()
            self._pending = 0

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.commit()
            self._db.close()


# --------------------------------------------------------------------------- progress


class TqdmProgress:
    """A progress callable drawing a tqdm bar (``tqdm.auto``: a widget in Jupyter, text
    elsewhere), created on the first update and closed when the run ends."""

    def __init__(self, desc: str = "replay", **kwargs: Any):
        self._desc = desc
        self._kwargs = kwargs
        self._bar: Any = None
        self._shown = 0
        self._lock = threading.Lock()

    def __call__(self, done: int, total: int) -> None:
        with self._lock:
            if self._bar is None:
                from tqdm.auto import tqdm

                self._bar = tqdm(total=total, desc=self._desc, unit="row", **self._kwargs)
            if done > self._shown:
                self._bar.update(done - self._shown)
                self._shown = done

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()


# --------------------------------------------------------------------------- validation


@dataclass
class _Request:
    behaviour: str
    context_ids: list[str] | None
    prompt_id: str | None
    since_ms: int | None
    until_ms: int | None
    limit: int
    concurrency: int
    max_cost: float | None
    cache: Path | None
    progress: ProgressFn | None
    on_row: Callable[[ReplayRow], Any] | None
    retry: RetryPolicy


def _validate(
    behaviour: Any,
    context_ids: Any,
    prompt_id: Any,
    since: Any,
    until: Any,
    limit: Any,
    concurrency: Any,
    max_cost: Any,
    cache: Any,
    progress: Any,
    on_row: Any,
    retry: Any,
) -> _Request:
    from .behaviour_spec import validate_behaviour_name
    from .service import log_query

    require(isinstance(behaviour, str), "behaviour", "must be a behaviour name")
    try:
        validate_behaviour_name(behaviour)
    except ValidationError as exc:
        raise ValidationError(
            exc.message.replace("name:", "behaviour:", 1), field="behaviour"
        ) from None
    whole_number(concurrency, "concurrency", 1, MAX_CONCURRENCY)
    whole_number(limit, "limit", 1, MAX_ROWS)
    if max_cost is not None:
        require(
            isinstance(max_cost, int | float)
            and not isinstance(max_cost, bool)
            and math.isfinite(max_cost)
            and max_cost > 0,
            "max_cost",
            "must be a positive amount in USD (or None for no cap)",
        )
        max_cost = float(max_cost)
    ids: list[str] | None = None
    if context_ids is not None:
        require(
            isinstance(context_ids, list | tuple) and not isinstance(context_ids, str),
            "context_ids",
            "must be a list of context ids (or None to select logs with a query)",
        )
        require(
            1 <= len(context_ids) <= MAX_ROWS,
            "context_ids",
            f"must hold 1 to {MAX_ROWS} context ids",
        )
        from .stores.logs import split_context_id

        ids = []
        seen: set[str] = set()
        for i, cid in enumerate(context_ids):
            require(
                isinstance(cid, str) and len(cid) <= 512,
                f"context_ids[{i}]",
                "must be a context id ('<prompt_id>#<timestamp ms>')",
            )
            try:
                split_context_id(cid)
            except ValueError as exc:
                raise ValidationError(
                    f"context_ids[{i}]: {exc}", field=f"context_ids[{i}]"
                ) from None
            if cid not in seen:  # a log is replayed once
                seen.add(cid)
                ids.append(cid)
        for name, value in (("prompt_id", prompt_id), ("since", since), ("until", until)):
            require(
                value is None,
                name,
                "selects logs by query; give either context_ids or a query, not both",
            )
    since_ms, until_ms = log_query(prompt_id, since, until)
    cache_path = None
    if cache is not None:
        require(
            isinstance(cache, str | os.PathLike) and str(cache) != "",
            "cache",
            "must be a file path (or None)",
        )
        cache_path = Path(cache).expanduser()
        require(
            not cache_path.is_dir() and cache_path.parent.is_dir(),
            "cache",
            "must name a file in an existing folder",
        )
    require(progress is None or callable(progress), "progress", "must be a callable or None")
    require(on_row is None or callable(on_row), "on_row", "must be a callable or None")
    if retry is None:
        retry = RetryPolicy()
    require(isinstance(retry, RetryPolicy), "retry", "must be a RetryPolicy (or None)")
    return _Request(
        behaviour=behaviour,
        context_ids=ids,
        prompt_id=prompt_id,
        since_ms=since_ms,
        until_ms=until_ms,
        limit=limit,
        concurrency=concurrency,
        max_cost=max_cost,
        cache=cache_path,
        progress=progress,
        on_row=on_row,
        retry=retry,
    )


# --------------------------------------------------------------------------- selection


@dataclass(slots=True)
class _Source:
    """What a row needs from its log (the rest of the log is dropped at once)."""

    context_id: str
    context: dict[str, Any]
    production: str | None
    sample_tokens: int | None


def _source(item: dict[str, Any]) -> _Source:
    from .service import _log_entry

    log = _log_entry(item)
    sample = (log.metrics or {}).get("sample_tokens_used")
    has_answer = isinstance(log.response, dict) and log.response.get("content") is not None
    return _Source(
        context_id=log.context_id,
        context=log.context,
        production=log.response_content if has_answer else None,
        sample_tokens=int(sample) if isinstance(sample, int | float) and sample >= 0 else None,
    )


def _select(service: PromptTesterService, env: Environment, req: _Request, prompt_id: str):
    """The logs to replay: the ids given (in that order), else the query, newest first."""
    from .stores.logs import split_context_id

    if req.context_ids is not None:

        def fetch(cid: str) -> dict[str, Any] | None:
            pid, ts = split_context_id(cid)
            return service.log_store.get(env.env_id, pid, ts)

        workers = min(8, len(req.context_ids))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="replay-log") as pool:
            items = list(pool.map(fetch, req.context_ids))
        missing = [cid for cid, item in zip(req.context_ids, items, strict=True) if item is None]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise NotFoundError(f"No log {missing[0]!r} in environment {env.env_name!r}{more}")
        return [_source(item) for item in items if item is not None]
    sources: list[_Source] = []
    start_key = None
    while len(sources) < req.limit:
        items, start_key = service.log_store.page(
            env.env_id,
            prompt_id=prompt_id,
            since_ms=req.since_ms,
            until_ms=req.until_ms,
            limit=min(1000, req.limit - len(sources)),
            start_key=start_key,
        )
        sources.extend(_source(item) for item in items)
        if not start_key:
            break
    return sources[: req.limit]


# --------------------------------------------------------------------------- planning


@dataclass
class _Plan:
    run: ReplayRun
    prepared: PreparedDraft
    resolved: list[dict[tuple[str, int], Resolved] | None]  # per row, dropped once run
    to_call: list[int]
    cache: AnswerCache | None
    # per row to call: (first attempt, its prompt tokens, the production's sample tokens)
    basis: dict[int, tuple[str, int, int]]


def _plan(
    prepared: PreparedDraft,
    sources: list[_Source],
    cache: AnswerCache | None,
) -> tuple[
    list[ReplayRow],
    list[dict[tuple[str, int], Resolved] | None],
    list[int],
    dict[int, tuple[str, int, int]],
    ReplayEstimate,
]:
    rows: list[ReplayRow] = []
    resolved: list[dict[tuple[str, int], Resolved] | None] = []
    to_call: list[int] = []
    basis: dict[int, tuple[str, int, int]] = {}
    cost = 0.0
    prompt_tokens = sample_tokens = cached = unresolved = 0
    for index, src in enumerate(sources):
        row = ReplayRow(
            index=index,
            context_id=src.context_id,
            context=src.context,
            production=src.production,
            production_sample_tokens=src.sample_tokens,
        )
        rows.append(row)
        order = prepared.runnable_order(src.context_id)
        first = order[0]
        try:
            first_resolved = prepared.resolve(src.context, first)
        except Exception as exc:
            row.error_kind = "prompt"
            row.error_message = (
                f"flow-prompt could not resolve the draft with this context ({type(exc).__name__})"
            )
            resolved.append(None)
            unresolved += 1
            continue
        memo = {prepared.shape(first): first_resolved}
        if cache is not None and _answer_from_cache(prepared, cache, row, order, memo):
            resolved.append(None)
            cached += 1
            continue
        sample = (
            src.sample_tokens
            if src.sample_tokens is not None
            else prepared.count_tokens(first, src.production)
        )
        row.estimated_cost = prepared.price(first, first_resolved.prompt_budget, sample)
        cost += row.estimated_cost
        prompt_tokens += first_resolved.prompt_budget
        sample_tokens += sample
        resolved.append(memo)
        to_call.append(index)
        basis[index] = (first, first_resolved.prompt_budget, sample)
    estimate = ReplayEstimate(
        rows=len(rows),
        calls=len(to_call),
        cached=cached,
        unresolved=unresolved,
        prompt_tokens=prompt_tokens,
        sample_tokens=sample_tokens,
        estimated_cost=round(cost, 10),
    )
    return rows, resolved, to_call, basis, estimate


def _answer_from_cache(
    prepared: PreparedDraft,
    cache: AnswerCache,
    row: ReplayRow,
    order: list[str],
    memo: dict[tuple[str, int], Resolved],
) -> bool:
    """Fill the row from the cache if any attempt's exact request was answered before."""
    for where in order:
        shape = prepared.shape(where)
        if shape not in memo:
            try:
                memo[shape] = prepared.resolve(row.context, where)
            except Exception as exc:  # this attempt's model cannot take the context
                logger.debug("No cache lookup for %s: %s", where, type(exc).__name__)
                continue
        hit = cache.get(prepared.request_key(where, memo[shape]))
        if hit is None:
            continue
        row.new = hit["content"] if hit["content"] is not None else ""
        row.finish_reason = hit["finish_reason"]
        row.attempt = hit["attempt"]
        row.model = hit["model"]
        row.prompt_tokens = hit["prompt_tokens"]
        row.sample_tokens = hit["sample_tokens"]
        row.latency_ms = hit["latency_ms"]
        row.price = 0.0  # nothing was spent in this run
        row.cached = True
        cache.hits += 1
        return True
    return False


# --------------------------------------------------------------------------- concurrency


class _Cancelled(Exception):
    pass


class _Retry(Exception):
    """A row whose behaviour ended in a retryable failure (carries the outcome)."""

    def __init__(self, outcome: CallOutcome):
        super().__init__(outcome.kind)
        self.outcome = outcome


class _Limiter:
    """How many model calls may be in flight: AIMD on rate limits.

    A 429 halves the allowed number (min 1), once per round: only a call that started after
    the last decrease can decrease it again, so 32 calls rejected together halve it once.
    Every ``grow_every`` successes add one back, up to the requested concurrency.
    """

    def __init__(self, limit: int, grow_every: int, started: float):
        self.limit = limit
        self.allowed = limit
        self.in_use = 0
        self.epoch = 0
        self._ok = 0
        self._grow_every = grow_every
        self._started = started
        self._cond = threading.Condition()
        self.trace: list[tuple[float, int]] = [(0.0, limit)]

    def _mark(self) -> None:
        self.trace.append((round(time.monotonic() - self._started, 4), self.allowed))

    def acquire(self, cancel: threading.Event) -> int:
        with self._cond:
            while self.in_use >= self.allowed:
                if cancel.is_set():
                    raise _Cancelled
                self._cond.wait(0.1)
            if cancel.is_set():
                raise _Cancelled
            self.in_use += 1
            return self.epoch

    def release(self) -> None:
        with self._cond:
            self.in_use -= 1
            self._cond.notify()

    def rate_limited(self, epoch: int) -> None:
        with self._cond:
            if epoch != self.epoch:
                return  # this round was already answered with a decrease
            self.epoch += 1
            self._ok = 0
            if self.allowed > 1:
                self.allowed = max(1, self.allowed // 2)
                self._mark()

    def succeeded(self) -> None:
        with self._cond:
            self._ok += 1
            if self._ok >= self._grow_every:
                self._ok = 0
                if self.allowed < self.limit:
                    self.allowed += 1
                    self._mark()
                    self._cond.notify()


def _backoff(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        exponential = policy.base_delay_s * (2 ** (state.attempt_number - 1))
        delay = random.uniform(exponential / 2, exponential)  # "equal jitter"
        exc = state.outcome.exception() if state.outcome else None
        after = exc.outcome.retry_after if isinstance(exc, _Retry) else None
        if after is not None:
            # at least what the provider asked for, plus a little jitter against a herd
            delay = max(delay, after + random.uniform(0, policy.base_delay_s / 4))
        return min(policy.max_delay_s, delay)

    return wait


# --------------------------------------------------------------------------- running


class _Engine:
    """Runs a planned replay on a background thread; the caller waits on the run."""

    def __init__(self, plan: _Plan, req: _Request):
        self.plan = plan
        self.run = plan.run
        self.req = req
        self.prepared = plan.prepared
        self.started = time.monotonic()
        self.limiter = _Limiter(req.concurrency, req.retry.grow_every, self.started)
        self.completed: queue.SimpleQueue = queue.SimpleQueue()
        self.outstanding: dict[int, float] = {}  # row index -> its projected cost, in flight
        self.spent = 0.0
        # max_cost: a row's projected cost is its estimate with the sample tokens raised to
        # the longest new answer seen so far (answers may run longer than production's); until
        # one answer is in, one call at a time (its prompt tokens are exact, its answer is not).
        self.max_sample = 0
        self.answered = 0
        self.done_rows = 0
        self._requests = 0
        self._retries = 0
        self._count_lock = threading.Lock()

    # --- worker side (pool threads) -----------------------------------------------------
    def _resolution(self, index: int) -> Callable[[str], Resolved]:
        row = self.run.rows[index]
        memo = self.plan.resolved[index] or {}

        def get(where: str) -> Resolved:
            shape = self.prepared.shape(where)
            found = memo.get(shape)
            if found is None:
                found = memo[shape] = self.prepared.resolve(row.context, where)
            return found

        return get

    def _call_row(self, index: int) -> None:
        row = self.run.rows[index]
        cancel = self.run._cancel
        order = self.prepared.order(row.context_id)
        resolution = self._resolution(index)
        tries = 0
        last: CallOutcome | None = None

        def once() -> CallOutcome:
            nonlocal tries, last
            if cancel.is_set():
                raise _Cancelled
            epoch = self.limiter.acquire(cancel)
            try:
                tries += 1
                outcome = self.prepared.call(row.context, order, resolution)
            finally:
                self.limiter.release()
            with self._count_lock:
                self._requests += outcome.requests
                self._retries += tries > 1
            last = outcome
            if outcome.rate_limited:
                self.limiter.rate_limited(epoch)
            elif outcome.ok:
                self.limiter.succeeded()
            if not outcome.ok and outcome.kind in _retryable():
                raise _Retry(outcome)
            return outcome

        retrying = Retrying(
            stop=stop_after_attempt(self.req.retry.max_retries + 1) | stop_when_event_set(cancel),
            wait=_backoff(self.req.retry),
            retry=retry_if_exception_type(_Retry),
            sleep=cancel.wait,  # a cancel ends the wait at once
            reraise=True,
        )
        key = None
        try:
            outcome: CallOutcome | None = retrying(once)
        except _Retry as exc:
            outcome = exc.outcome
        except _Cancelled:
            outcome = last  # None: the row never reached the provider
        except Exception as exc:  # a bug or an unexpected library error: keep the run going
            logger.warning("A replay row failed unexpectedly: %s", type(exc).__name__)
            from .runner import CallOutcome

            outcome = CallOutcome(
                failures=[
                    {
                        "attempt": "-",
                        "model": "-",
                        "kind": "error",
                        "error": f"{type(exc).__name__} while replaying this row",
                    }
                ]
            )
        if outcome is not None and outcome.ok and self.plan.cache is not None:
            with contextlib.suppress(Exception):
                key = self.prepared.request_key(outcome.attempt, resolution(outcome.attempt))
        self.completed.put((index, outcome, tries, key))

    # --- scheduler side (one thread) ----------------------------------------------------
    def _projected(self, index: int) -> float:
        where, prompt_tokens, sample_tokens = self.plan.basis[index]
        if self.max_sample <= sample_tokens:
            return self.run.rows[index].estimated_cost
        return self.prepared.price(where, prompt_tokens, self.max_sample)

    def _finish_row(self, index: int, outcome: CallOutcome | None, tries: int, key: Any) -> None:
        row = self.run.rows[index]
        self.outstanding.pop(index, None)
        self.plan.resolved[index] = None  # the messages are no longer needed
        row.tries = tries
        if outcome is None:
            row.error_kind = NOT_RUN
            row.error_message = "the replay was cancelled before this row's call"
        elif outcome.ok:
            row.new = outcome.content if outcome.content is not None else ""
            row.finish_reason = outcome.finish_reason
            row.attempt = outcome.attempt
            row.model = outcome.model
            row.latency_ms = outcome.latency_ms
            row.prompt_tokens = outcome.prompt_tokens
            row.sample_tokens = outcome.sample_tokens
            row.price = outcome.price
            if outcome.price is not None:
                self.spent += outcome.price
            self.answered += 1
            if (outcome.sample_tokens or 0) > self.max_sample:
                self.max_sample = int(outcome.sample_tokens or 0)
                if self.req.max_cost is not None:
                    for other in self.outstanding:
                        self.outstanding[other] = self._projected(other)
            if key is not None and self.plan.cache is not None:
                try:
                    self.plan.cache.put(key, outcome)
                except sqlite3.Error as exc:
                    logger.warning("Could not write the replay cache: %s", exc)
        else:
            row.error_kind = outcome.kind or "error"
            row.error_message = outcome.message
            last = outcome.failures[-1] if outcome.failures else {}
            row.attempt = last.get("attempt")
            row.model = last.get("model")
        self._emit(row)

    def _emit(self, row: ReplayRow) -> None:
        self.done_rows += 1
        if self.req.on_row is not None:
            try:
                self.req.on_row(row)
            except Exception as exc:
                logger.warning("The replay's on_row callback failed: %s", type(exc).__name__)
        self._progress()

    def _progress(self) -> None:
        if self.req.progress is not None:
            try:
                self.req.progress(self.done_rows, len(self.run.rows))
            except Exception as exc:
                logger.warning("The replay's progress callback failed: %s", type(exc).__name__)

    def _drain(self, timeout: float | None) -> None:
        """Handle finished rows; wait up to ``timeout`` for the first (None: don't wait)."""
        try:
            item = (
                self.completed.get_nowait()
                if timeout is None
                else self.completed.get(timeout=timeout)
            )
        except queue.Empty:
            return
        self._finish_row(*item)
        while True:
            try:
                item = self.completed.get_nowait()
            except queue.Empty:
                return
            self._finish_row(*item)

    def start(self) -> ReplayRun:
        run = self.run
        run._done.clear()
        run.started_at = datetime.now(UTC).isoformat(timespec="milliseconds")
        thread = threading.Thread(target=self._main, name="prompt-tester-replay", daemon=True)
        thread.start()
        return run

    def _main(self) -> None:
        run, req = self.run, self.req
        stopped: str | None = None
        try:
            self._progress()  # 0 of N: the estimate is done, no call made yet
            for row in run.rows:  # rows settled by the plan (cache, unresolvable prompt)
                if row.cached or row.error_kind is not None:
                    self._emit(row)
            pending = list(self.plan.to_call)
            with ThreadPoolExecutor(
                max_workers=req.concurrency, thread_name_prefix="prompt-tester-replay"
            ) as pool:
                position = 0
                while position < len(pending):
                    self._drain(None)
                    if run._cancel.is_set():
                        stopped = "cancelled"
                        break
                    if len(self.outstanding) >= self.limiter.allowed:
                        self._drain(0.05)
                        continue
                    index = pending[position]
                    projected = 0.0
                    if req.max_cost is not None:
                        projected = self._projected(index)
                        if self.outstanding and (
                            not self.answered
                            or self.spent + sum(self.outstanding.values()) + projected
                            > req.max_cost + 1e-12
                        ):
                            self._drain(0.05)  # the calls in flight decide: wait for them
                            continue
                        if self.spent + projected > req.max_cost + 1e-12:
                            stopped = "max_cost"
                            break
                    self.outstanding[index] = projected
                    pool.submit(self._call_row, index)
                    position += 1
                while self.outstanding:
                    self._drain(0.1)
            if run._cancel.is_set() and stopped is None:
                stopped = "cancelled"
            for index in pending[position:]:
                row = run.rows[index]
                row.error_kind = NOT_RUN
                row.error_message = (
                    "the replay stopped before this row: its call would have passed max_cost"
                    if stopped == "max_cost"
                    else "the replay was cancelled before this row"
                )
                self.plan.resolved[index] = None
                self._emit(row)
        except BaseException as exc:  # keep what finished; say why the rest did not
            logger.warning("A replay stopped on an internal error: %s", type(exc).__name__)
            run.failure = type(exc).__name__
            for row in run.rows:
                if row.new is None and row.error_kind is None:
                    row.error_kind = NOT_RUN
                    row.error_message = "the replay stopped on an internal error before this row"
        finally:
            run.stopped_reason = stopped
            run.model_requests = self._requests
            run.retries = self._retries
            run.concurrency_trace = list(self.limiter.trace)
            run.elapsed_s = round(time.monotonic() - self.started, 4)
            run.finished_at = datetime.now(UTC).isoformat(timespec="milliseconds")
            if self.plan.cache is not None:
                self.plan.cache.close()
            closer = getattr(req.progress, "close", None)
            if callable(closer):
                with contextlib.suppress(Exception):
                    closer()
            run._done.set()


def _retryable() -> frozenset[str]:
    from .runner import RETRYABLE_KINDS

    return RETRYABLE_KINDS


# --------------------------------------------------------------------------- entry point


def replay(
    service: PromptTesterService,
    principal: Principal,
    env_id: str,
    prompt_data: Any,
    behaviour: str,
    context_ids: Any = None,
    prompt_id: Any = None,
    since: Any = None,
    until: Any = None,
    limit: Any = 100,
    concurrency: Any = 16,
    max_cost: Any = None,
    cache: Any = None,
    progress: Any = None,
    on_row: Any = None,
    *,
    retry: RetryPolicy | None = None,
    wait: bool = True,
    dry_run: bool = False,
) -> ReplayRun:
    """What ``PromptTesterService.replay`` does (see this module's docstring)."""
    from . import runner
    from .behaviour_spec import BehaviourSpec

    env = service.environment(principal, env_id)  # the one access check
    req = _validate(
        behaviour,
        context_ids,
        prompt_id,
        since,
        until,
        limit,
        concurrency,
        max_cost,
        cache,
        progress,
        on_row,
        retry,
    )
    prompt, _ = service.validate_test_input(prompt_data, {})
    item = service.behaviour_store.get(env.env_id, req.behaviour)
    if item is None:
        raise NotFoundError(f"No behaviour named {req.behaviour!r} in environment {env.env_name!r}")
    spec = parse(
        BehaviourSpec,
        item.get("spec") if isinstance(item.get("spec"), dict) else {},
        f"behaviour {req.behaviour!r}",
    )
    keys = runner.ProviderKeys.from_document(
        service.secret_store.read_values(service.settings.secret_name(env.env_id))
    )
    options = runner.ClientOptions(
        timeout=service.settings.model_timeout_seconds,
        max_retries=0,  # retries are the replay's own (tenacity), so 429s reach the AIMD
        openai_base_url=service.settings.openai_base_url,
    )
    prepared = runner.PreparedDraft(prompt, spec, keys, options)
    if not prepared.runnable:
        failures = prepared.setup_failures()
        raise ProviderError(runner._failure_message(failures), attempts=failures)
    answer_cache = AnswerCache(req.cache) if req.cache is not None else None
    try:
        sources = _select(service, env, req, req.prompt_id or prompt.prompt_id)
        rows, resolved, to_call, basis, estimate = _plan(prepared, sources, answer_cache)
    except BaseException:
        if answer_cache is not None:
            answer_cache.close()
        raise
    del sources
    run = ReplayRun(
        env_id=env.env_id,
        env_name=env.env_name,
        behaviour=req.behaviour,
        behaviour_spec=spec.to_document(),
        draft=prompt.to_service_dump(),
        selection={
            "context_ids": req.context_ids is not None,
            "prompt_id": None
            if req.context_ids is not None
            else (req.prompt_id or prompt.prompt_id),
            "since_ms": req.since_ms,
            "until_ms": req.until_ms,
            "limit": req.limit,
        },
        rows=rows,
        estimate=estimate,
        concurrency=req.concurrency,
        max_cost=req.max_cost,
    )
    if dry_run:
        if answer_cache is not None:
            answer_cache.close()
        for row in rows:
            if not row.cached and row.error_kind is None:
                row.error_kind = NOT_RUN
                row.error_message = "dry run: estimate only"
        return run
    plan = _Plan(
        run=run,
        prepared=prepared,
        resolved=resolved,
        to_call=to_call,
        cache=answer_cache,
        basis=basis,
    )
    _Engine(plan, req).start()
    if wait:
        run.wait()
    return run


def iter_rows(run: ReplayRun) -> Iterator[ReplayRow]:
    """The rows that have an outcome so far (safe while the run is going)."""
    for row in list(run.rows):
        if row.new is not None or row.error_kind is not None:
            yield row


__all__ = [
    "AnswerCache",
    "ReplayEstimate",
    "ReplayRow",
    "ReplayRun",
    "RetryPolicy",
    "TqdmProgress",
    "iter_rows",
    "load_run",
    "replay",
]

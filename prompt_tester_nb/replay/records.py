"""What a replay keeps: its estimate, one ``ReplayRow`` per log, the run, and their saved form.

A row is the log's inputs (context id, context, production's answer) plus the engine's one
result type (``TestResult``) or the failure that ended it. Plain values only: a replay of
10,000 rows stays small, and a saved run (JSON or JSON Lines) holds no key and no token.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import NotFoundError, ValidationError
from ..models import REPLAY_COLUMNS, TestResult
from ..validation import require

FORMAT = "prompt-tester-nb/replay"
FORMAT_VERSION = 1
NOT_RUN = "not_run"
# A row whose context lacks a variable the draft uses, not sent (``unresolved="skip"``).
UNRESOLVED = "unresolved"
COLUMNS = list(REPLAY_COLUMNS)


@dataclass(frozen=True)
class ReplayEstimate:
    """The estimate: how many model calls, and what they should cost (USD).

    ``estimated_cost`` sums, over the rows to call, flow-prompt's price of the row's first
    attempt model for the draft's resolved prompt tokens plus the production answer's sample
    tokens (the log's ``metrics.sample_tokens_used``, else the answer counted with tiktoken).
    Each row is estimated before its call; the run's estimate is complete once every log was
    read (``dry_run=True`` makes it with no call at all).
    """

    rows: int
    calls: int
    cached: int
    unresolved: int  # rows not sent: their context lacks a variable the draft uses
    prompt_tokens: int
    sample_tokens: int
    estimated_cost: float
    # rows the draft cannot be sent with at all (empty prompt, over the token budget)
    invalid: int = 0
    # variable -> rows not sent for lacking it (a row lacking two counts under both)
    unresolved_by_variable: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "unresolved_by_variable": dict(self.unresolved_by_variable)}


EMPTY_ESTIMATE = ReplayEstimate(0, 0, 0, 0, 0, 0, 0.0)

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
    "repeat",
    "ideal",
    "scores",
    "reasons",
    "judge_cost",
    "source",
    "version",
    "unresolved_variables",
)
# The result's fields, as a saved row names them (``new`` is the result's ``content``).
_RESULT_FIELDS = {
    "new": "content",
    "finish_reason": "finish_reason",
    "latency_ms": "latency_ms",
    "prompt_tokens": "prompt_tokens",
    "sample_tokens": "sample_tokens",
    "price": "price",
    "attempt": "attempt",
    "model": "model",
    "cached": "cached",
}


def _result_field(name: str) -> property:
    """A column read from the row's result (None while the row has none)."""
    return property(lambda row: getattr(row.result, name) if row.result is not None else None)


@dataclass(slots=True, eq=False)
class ReplayRow:
    """One replayed log: its inputs, and the engine's result or why there is none."""

    index: int
    context_id: str
    context: dict[str, Any]
    production: str | None
    production_sample_tokens: int | None = None
    result: TestResult | None = None
    error_kind: str | None = None
    error_message: str | None = None
    failed_attempt: str | None = None  # where the behaviour ended, when it failed
    failed_model: str | None = None
    tries: int = 0
    estimated_cost: float = 0.0
    repeat: int = 0  # which of a log's ``repeats`` runs this row is (0-based)
    ideal: str | None = None  # the log's ideal answer, if someone set one
    scores: dict[str, float | None] | None = None  # scorer name -> 0..1 (None: unscored)
    reasons: dict[str, str | None] | None = None  # scorer name -> why (judges, failures)
    judge_cost: float = 0.0  # what the row's judge calls cost (USD)
    # The log's source (from the product's TesterRuns records): "prompt-tester" when the
    # selection named a log the Tester's own call created.
    source: str = "production"
    version: str | None = None  # the log's prompt version
    # The draft's variables that neither the log's context nor the run's ``defaults`` gave.
    unresolved_variables: list[str] = field(default_factory=list)
    _similarity: float | None = None

    # --- the result's fields, as columns ------------------------------------------------
    @property
    def new(self) -> str | None:
        if self.result is None:
            return None
        return self.result.content if self.result.content is not None else ""

    finish_reason = _result_field("finish_reason")
    latency_ms = _result_field("latency_ms")
    prompt_tokens = _result_field("prompt_tokens")
    sample_tokens = _result_field("sample_tokens")
    price = _result_field("price")

    @property
    def attempt(self) -> str | None:
        return self.result.attempt if self.result else self.failed_attempt

    @property
    def model(self) -> str | None:
        return self.result.model if self.result else self.failed_model

    @property
    def cached(self) -> bool:
        return bool(self.result and self.result.cached)

    # --- verdicts ---------------------------------------------------------------------
    @property
    def ok(self) -> bool:
        return self.result is not None and self.error_kind is None

    @property
    def settled(self) -> bool:
        return self.result is not None or self.error_kind is not None

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
        """How close the new answer is to production's (0..1), the one measure
        ``sc.similarity`` gives too (``judging.scorers.text_similarity``), so the run's
        ``similarity`` column and that scorer never disagree; None when the row has no
        production answer to compare with."""
        if not self.ok or self.production is None:
            return None
        if self._similarity is None:
            from ..judging.scorers import text_similarity

            self._similarity = text_similarity(self.production or "", self.new or "")
        return self._similarity

    def fail(self, kind: str, message: str | None) -> None:
        self.error_kind = kind
        self.error_message = message

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
            production_sample_tokens=data.get("production_sample_tokens"),
            error_kind=data.get("error_kind"),
            error_message=data.get("error_message"),
            tries=int(data.get("tries") or 0),
            estimated_cost=float(data.get("estimated_cost") or 0.0),
            repeat=int(data.get("repeat") or 0),
            ideal=data.get("ideal"),
            scores=data.get("scores"),
            reasons=data.get("reasons"),
            judge_cost=float(data.get("judge_cost") or 0.0),
            source=str(data.get("source") or "production"),
            version=None if data.get("version") is None else str(data["version"]),
            unresolved_variables=[str(n) for n in data.get("unresolved_variables") or []],
        )
        if data.get("new") is not None and row.error_kind is None:
            fields = {name: data.get(saved) for saved, name in _RESULT_FIELDS.items()}
            fields["latency_ms"] = int(fields["latency_ms"] or 0)
            fields["cached"] = bool(fields["cached"])
            row.result = TestResult(**fields, tries=row.tries)
        else:
            row.failed_attempt = data.get("attempt")
            row.failed_model = data.get("model")
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
        # An error of the selection (a missing log, AWS failing) that ended the run before any
        # row: ``replay(wait=True)`` raises it; with ``wait=False`` it is kept here.
        self.error: Exception | None = None
        # the scorers' names, kinds and pass thresholds (the scorers themselves are not saved)
        self.scorers: list[dict[str, Any]] = []
        self.repeats = 1
        self.judge_calls = 0  # judge calls made (not answered by the cache)
        self.phase: str = "finished"  # "selecting", "planning", "calling", "finished"
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._done.set()  # until an engine starts it (loaded runs are finished runs)

    # --- control ------------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop scheduling calls; calls in flight end, finished rows are kept."""
        self._cancel.set()

    @property
    def cancel_event(self) -> threading.Event:
        """Set once the run was asked to stop (by ``cancel()`` or Ctrl-C)."""
        return self._cancel

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the run to end; Ctrl-C cancels it and still waits for the calls in flight
        (a second Ctrl-C gives up waiting). Returns whether the run has ended."""
        # Short waits in a loop: a Ctrl-C that Jupyter delivers as a flag (``interrupt_main``)
        # does not wake a blocked wait, so the loop gives it a chance five times a second.
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while not self._done.wait(0.2):
                if deadline is not None and time.monotonic() >= deadline:
                    return False
        except KeyboardInterrupt:
            self.cancel()
            while not self._done.wait(0.2):  # a second Ctrl-C ends this wait
                pass
        return True

    # --- views --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        s = self._counts()  # no score statistics: a repr must stay cheap while a run goes
        state = "running" if not self.done else (s["stopped_reason"] or "done")
        return (
            f"<ReplayRun {self.draft.get('prompt_id')!r} behaviour={self.behaviour!r}"
            f" rows={s['calls']} ok={s['succeeded']} failed={s['failed']}"
            f" not_run={s['not_run']} changed={s['changed']} cost=${s['total_cost']:.5f}"
            f" [{state}]>"
        )

    def to_dataframe(self):  # -> pandas.DataFrame
        """One row per replayed log (and repeat): ``COLUMNS``, then one float column per
        scorer (0-1, NaN where unscored) and ``<name>_reason`` for judges."""
        import pandas as pd

        names = [m["name"] for m in self.scorers]
        judged = [m["name"] for m in self.scorers if m.get("kind") == "judge"]
        rows = []
        for r in self.rows:
            data = r.to_row()
            scores, reasons = r.scores or {}, r.reasons or {}
            for name in names:
                data[name] = scores.get(name)
            for name in judged:
                data[f"{name}_reason"] = reasons.get(name)
            rows.append(data)
        # a scorer named like a column of the run (``similarity``) fills that column
        columns = [
            *COLUMNS,
            *(n for n in names if n not in COLUMNS),
            *(f"{n}_reason" for n in judged),
        ]
        frame = pd.DataFrame(rows, columns=columns)
        for name in ("latency_ms", "prompt_tokens", "sample_tokens", "tries", "repeat"):
            frame[name] = frame[name].astype("Int64")
        # 1-based, as a person counts and as the app shows it (``ReplayRow.repeat`` is 0-based)
        frame["repeat"] = frame["repeat"] + 1
        for name in ("price", "similarity", *names):
            frame[name] = frame[name].astype("float64")
        frame["changed"] = frame["changed"].astype("boolean")
        frame["cached"] = frame["cached"].astype(bool)
        return frame

    def score_summary(self) -> dict[str, dict[str, Any]]:
        """Per scorer: mean, pass rate, their 95 % intervals, n, unscored, the spread over
        repeats and how many rows a 5-point difference would need (``judging.stats``)."""
        from ..judging import stats

        out: dict[str, dict[str, Any]] = {}
        for meta in self.scorers:
            name, threshold = meta["name"], float(meta.get("threshold", 1.0))
            values: list[float] = []
            by_repeat: dict[int, list[float]] = {}
            by_log: dict[str, list[float]] = {}
            unscored = 0
            for r in self.rows:
                if not r.ok:
                    continue
                value = (r.scores or {}).get(name)
                if value is None:
                    unscored += 1
                    continue
                values.append(value)
                by_repeat.setdefault(r.repeat, []).append(value)
                by_log.setdefault(r.context_id, []).append(value)
            passed = sum(1 for v in values if v >= threshold - 1e-12)
            described = stats.describe(values, passed, by_repeat)
            described["unscored"] = unscored
            described["threshold"] = threshold
            described["repeat_sd"] = stats.within_log_sd(by_log)
            out[name] = described
        return out

    def summary(self) -> dict[str, Any]:
        """Counts, errors by kind, cost, latency, and per scorer its statistics."""
        return {**self._counts(), "scores": self.score_summary()}

    def _counts(self) -> dict[str, Any]:
        rows = self.rows
        ok = [r for r in rows if r.ok]
        kinds = Counter(r.error_kind for r in rows if r.error_kind is not None)
        changed = sum(1 for r in ok if r.changed)
        latencies = [r.latency_ms for r in ok if not r.cached and r.latency_ms is not None]
        spent = sum(r.price for r in rows if r.ok and not r.cached and r.price is not None)
        spent += sum(r.judge_cost for r in rows)  # model and judge calls together
        not_run = kinds.get(NOT_RUN, 0)
        by_variable: Counter[str] = Counter()
        for r in rows:
            if r.error_kind == UNRESOLVED:
                by_variable.update(r.unresolved_variables)
        return {
            "calls": len(rows),
            "succeeded": len(ok),
            "failed": len(rows) - len(ok) - not_run,
            "not_run": not_run,
            # rows not sent because their context lacks a variable the draft uses
            "unresolved": kinds.get(UNRESOLVED, 0),
            "unresolved_by_variable": dict(sorted(by_variable.items())),
            "errors_by_kind": dict(sorted(kinds.items())),
            "changed": changed,
            "share_changed": (changed / len(ok)) if ok else None,
            "total_cost": round(spent, 10),
            "latency_p50_ms": _percentile(latencies, 0.50),
            "latency_p95_ms": _percentile(latencies, 0.95),
            "estimated_cost": self.estimate.estimated_cost,
            # how far the estimate was off: (actual - estimated) / estimated, e.g. -0.021
            "estimate_error": (
                round((spent - self.estimate.estimated_cost) / self.estimate.estimated_cost, 4)
                if self.estimate.estimated_cost > 0
                else None
            ),
            "stopped_reason": self.stopped_reason,
            "cache_hits": sum(1 for r in rows if r.cached),
            "model_requests": self.model_requests,
            "retries": self.retries,
            "min_concurrency": min(n for _, n in self.concurrency_trace),
            "elapsed_s": self.elapsed_s,
            "repeats": self.repeats,
            "judge_calls": self.judge_calls,
            "judge_cost": round(sum(r.judge_cost for r in rows), 10),
        }

    # --- rich display -----------------------------------------------------------------
    def _repr_html_(self) -> str:
        """The summary, the scorers' numbers, then the changed rows first with their diff."""
        from .display import run_html

        return run_html(self)

    def plot(self):  # -> matplotlib.figure.Figure
        """Latency, cost and score distributions (needs the ``plot`` extra: matplotlib)."""
        from .display import run_plot

        return run_plot(self)

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
            "scorers": self.scorers,
            "repeats": self.repeats,
            "judge_calls": self.judge_calls,
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
    estimate = ReplayEstimate(**head["estimate"])  # a field saved runs lack: its default
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
    run.scorers = list(head.get("scorers") or [])
    run.repeats = int(head.get("repeats") or 1)
    run.judge_calls = int(head.get("judge_calls") or 0)
    run.concurrency_trace = [(float(t), int(n)) for t, n in head.get("concurrency_trace") or []]
    if not run.concurrency_trace:
        run.concurrency_trace = [(0.0, run.concurrency)]
    return run

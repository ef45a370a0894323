"""The replay's scheduler: logs stream in, rows are planned and called as they arrive.

One background thread (the scheduler) owns the run's rows. A reader thread fetches pages of
logs (the next page is read while calls run) and hands them over through one event queue,
the same queue on which finished calls report. The scheduler plans a row (resolve, estimate,
cache), starts its call on the pool when the concurrency and the cost cap allow, and settles
rows as calls end. The caller's thread only waits, so Ctrl-C there becomes a cancel in every
phase: selecting, planning, estimating or calling.

* **Concurrency** is adaptive (AIMD, ``Limiter``): a 429 halves the calls allowed in flight
  (once per round, min 1); every ``RetryPolicy.grow_every`` successes add one back.
* **max_cost** caps what is spent: a row is not started when the real prices so far plus the
  projected cost of the calls in flight (and of the verdicts its answered rows still owe)
  plus its own estimate would pass the cap. Until one answer is in, one call at a time (its
  prompt tokens are exact, its answer is not).
* **Judge verdicts run in slots of their own**: a row's answer job frees its slot when the
  answer lands, and the row's verdicts (one job per judge) are queued then, in the same
  slots (``Limiter``). Answers go first while fewer than two rounds of verdicts wait (an
  answer has a verdict after it, so starting it early shortens the run's tail); past that,
  verdicts go first, so rows keep settling while the logs stream in.
* **cancel()** stops scheduling; calls in flight end (each bounded by the model timeout);
  every finished row is kept; rows read but not run are marked ``not_run``.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..engine.cache import AnswerCache, offline_miss
from ..engine.failures import Cancelled
from ..engine.limiter import Limiter
from ..errors import PromptTesterError, ProviderError
from ..judging.panel import JudgePanel
from ..judging.scorers import Scorer, ScorerSet
from ..models import LogEntry
from .estimate import EstimateTally
from .job import ReplayRun
from .plan import Basis, judge_basis, new_row, plan_row
from .rows import NOT_RUN, UNRESOLVED, ReplayRow
from .verdicts import JudgedRuns, PendingVerdicts

if TYPE_CHECKING:
    from ..engine.prepared import PreparedCall, PreparedDraft
    from ..engine.retry import RetryPolicy

logger = logging.getLogger(__name__)

PHASES = ("selecting", "planning", "estimating", "calling", "finished")
PhaseHook = Callable[[str, ReplayRun], Any]


@dataclass
class RunOptions:
    """How a run reports and behaves, beyond what it replays (not saved with it)."""

    retry: RetryPolicy
    progress: Callable[[int, int], Any] | None = None
    on_row: Callable[[ReplayRow], Any] | None = None
    on_phase: PhaseHook | None = None
    dry_run: bool = False
    scorers: ScorerSet = field(default_factory=ScorerSet)
    panel: JudgePanel | None = None
    repeats: int = 1
    unresolved: str = "skip"  # a row lacking a variable the draft uses: "skip" or "send"
    defaults: dict[str, str] = field(default_factory=dict)


class ReplayScheduler(JudgedRuns):
    """Runs one replay on a background thread; ``start()`` returns the running run."""

    def __init__(
        self,
        run: ReplayRun,
        prepared: PreparedDraft,
        pages: Callable[[], Iterator[list[LogEntry]]],
        cache: AnswerCache | None,
        options: RunOptions,
    ):
        self.run = run
        self.prepared = prepared
        self.pages = pages
        self.cache = cache
        self.options = options
        self.cancel = run.cancel_event
        self.started = time.monotonic()
        self.limiter = Limiter(run.concurrency, options.retry.grow_every, self.started)
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.unplanned: deque[ReplayRow] = deque()
        self.planned: deque[tuple[int, PreparedCall | None, Basis]] = deque()  # None: score only
        # row index -> projected cost of what the row still owes (its answer and verdicts)
        self.outstanding: dict[int, float] = {}
        self.basis: dict[int, Basis] = {}
        self.in_flight = 0  # jobs on the pool: answers and verdicts, each in one slot
        # Judged runs: verdict jobs not started yet, and each answered row's partial verdicts.
        self.judges: list[Scorer] = options.scorers.judges if options.panel is not None else []
        self.verdicts: deque[tuple[int, Scorer]] = deque()
        self.judging: dict[int, PendingVerdicts] = {}
        self.estimate = EstimateTally()
        self.spent = 0.0
        self.max_sample = 0  # the longest new answer so far (answers may outgrow production's)
        self.answered = 0
        self.settled = 0
        self.requests = 0
        self.retried = 0
        self.source_done = False
        self.stop_reading = threading.Event()
        self._phases_seen: set[str] = set()
        self.thread: threading.Thread | None = None
        if options.panel is not None:  # judges share the run's limiter and its cancel
            options.panel.limiter = self.limiter
            options.panel.cancel = self.cancel

    # --- reporting ----------------------------------------------------------------------
    @staticmethod
    def _notify(name: str, callback: Callable[..., Any] | None, *args: Any) -> None:
        """Call the user's callback; one that fails is logged, never ends the run."""
        if callback is None:
            return
        try:
            callback(*args)
        except Exception as exc:
            logger.warning("The replay's %s callback failed: %s", name, type(exc).__name__)

    def _phase(self, name: str) -> None:
        if name in self._phases_seen:
            return
        self._phases_seen.add(name)
        self.run.phase = name
        self._notify("on_phase", self.options.on_phase, name, self.run)

    def _progress(self) -> None:
        self._notify("progress", self.options.progress, self.settled, len(self.run.rows))

    def _emit(self, row: ReplayRow) -> None:
        self.settled += 1
        self._notify("on_row", self.options.on_row, row)
        self._progress()

    # --- the reader (its own thread) ------------------------------------------------------
    def _read(self) -> None:
        error: BaseException | None = None
        try:
            for page in self.pages():
                self.events.put(("page", page))
                if self.stop_reading.is_set() or self.cancel.is_set():
                    return
        except BaseException as exc:  # reported by the scheduler, which decides
            error = exc
        finally:
            self.events.put(("end", error))

    # --- the pool's side --------------------------------------------------------------
    def _call(self, index: int, call: PreparedCall | None) -> None:
        """A row's answer job; in a judged run its checks too (verdicts are jobs of their
        own, queued by the scheduler when this one reports)."""
        row = self.run.rows[index]
        result = error = key = None
        scored = None
        try:
            if call is None:  # answered from the cache at planning: score it only
                result = row.result
            else:
                if self.cache is not None and self.cache.offline:
                    raise offline_miss()  # offline: a request the answers file lacks is never sent
                result = self.prepared.call(
                    call, limiter=self.limiter, cancel=self.cancel, retry=self.options.retry
                )
                if self.cache is not None:
                    with contextlib.suppress(Exception):
                        key = AnswerCache.key(self.prepared, call, result.attempt, row.repeat)
            if self.judges:
                scored = self._score(row, result, checks_only=True)
            elif len(self.options.scorers):
                scored = self._score(row, result)
        except Cancelled:
            pass  # never reached the provider: not run
        except ProviderError as exc:
            error = exc
        except Exception as exc:  # a bug or an unexpected library error: keep the run going
            logger.warning("A replay row failed unexpectedly: %s", type(exc).__name__)
            error = ProviderError(
                f"{type(exc).__name__} while replaying this row",
                attempts=[{"attempt": "-", "model": "-", "kind": "error", "error": "-"}],
                kind="error",
            )
        self.events.put(("answered" if self.judges else "done", index, result, error, key, scored))

    # --- the scheduler ----------------------------------------------------------------
    def _take_page(self, page: list[LogEntry]) -> None:
        first = not self.run.rows
        for entry in page:
            for repeat in range(self.options.repeats):
                row = new_row(len(self.run.rows), entry, repeat)
                self.run.rows.append(row)
                self.unplanned.append(row)
        if first:
            self._progress()  # 0 of N: rows are known, no call made yet

    def _plan_next(self) -> None:
        self._phase("planning")
        row = self.unplanned.popleft()
        self.estimate.rows += 1
        options = self.options
        planned = plan_row(self.prepared, row, self.cache, options.unresolved, options.defaults)
        scorers = self.options.scorers
        if planned is None:
            if row.cached:
                self.estimate.cached += 1
            elif row.error_kind == UNRESOLVED:
                self.estimate.unresolved += 1
                for name in row.unresolved_variables:
                    self.estimate.by_variable[name] = self.estimate.by_variable.get(name, 0) + 1
            else:
                self.estimate.invalid += 1
            if not (row.cached and len(scorers)):
                self._emit(row)
                self.run.estimate = self.estimate.freeze()
                return
            # a cached answer is still scored: a scoring-only job (its judges may call)
            call, basis = None, Basis(None, 0, 0)
        else:
            call, basis = planned
            self._phase("estimating")
            self.estimate.calls += 1
            self.estimate.cost += row.estimated_cost
            self.estimate.prompt_tokens += basis.prompt_tokens
            self.estimate.sample_tokens += basis.sample_tokens
        basis.judge_calls, basis.judge_cost = judge_basis(row, scorers, self.options.panel)
        self.estimate.calls += basis.judge_calls
        self.estimate.cost += basis.judge_cost
        self.basis[row.index] = basis
        self.planned.append((row.index, call, basis))
        self.run.estimate = self.estimate.freeze()

    def _projected(self, index: int) -> float:
        basis = self.basis[index]
        if basis.where is None or basis.answered:  # scoring only, or only verdicts owed
            return basis.judge_cost
        if self.max_sample <= basis.sample_tokens:
            return self.run.rows[index].estimated_cost + basis.judge_cost
        model = self.prepared.price(basis.where, basis.prompt_tokens, self.max_sample)
        return model + basis.judge_cost

    def _admit(self) -> str:
        """'go', 'wait' (for calls in flight) or 'max_cost' for the next planned row."""
        if self.in_flight >= self.limiter.allowed:
            return "wait"
        cap = self.run.max_cost
        if cap is None:
            return "go"
        index = self.planned[0][0]
        projected = self._projected(index)
        if self.outstanding and (
            not self.answered
            or self.spent + sum(self.outstanding.values()) + projected > cap + 1e-12
        ):
            return "wait"  # the calls in flight decide
        if self.spent + projected > cap + 1e-12:
            return "max_cost"
        return "go"

    def _finish(
        self, index: int, result, error: ProviderError | None, key: Any, scored: Any = None
    ) -> None:
        self._land(index, result, error, key)
        self._settle(index, result, error, scored)

    def _land(self, index: int, result, error: ProviderError | None, key: Any) -> None:
        """Account for a row's answer (or failure) as soon as it lands: requests, what it
        cost, the longest answer so far (which re-projects the calls in flight), the cache."""
        row = self.run.rows[index]
        self.in_flight -= 1
        if row.cached:
            return  # answered from the cache at planning, only scored: nothing spent on it
        if result is not None:
            self.requests += result.requests
            self.retried += result.tries > 1
            if result.price is not None:
                self.spent += result.price
            self.answered += 1
            if (result.sample_tokens or 0) > self.max_sample:
                self.max_sample = int(result.sample_tokens or 0)
                if self.run.max_cost is not None:
                    for other in self.outstanding:
                        self.outstanding[other] = self._projected(other)
            if key is not None and self.cache is not None:
                try:
                    self.cache.put(key, result)
                except sqlite3.Error as exc:
                    logger.warning("Could not write the replay cache: %s", exc)
        elif error is not None:
            self.requests += error.requests
            self.retried += error.tries > 1

    def _settle(self, index: int, result, error: ProviderError | None, scored: Any) -> None:
        """The row's final fields (answer or failure, scores), then it is reported."""
        row = self.run.rows[index]
        self.outstanding.pop(index, None)
        self.basis.pop(index, None)
        if scored is not None:
            row.scores, row.reasons, row.judge_cost = scored
            self.spent += row.judge_cost
        if row.cached:
            pass
        elif result is not None:
            row.result = result
            row.tries = result.tries
        elif error is not None:
            row.fail(error.kind or "error", error.message)
            last = error.attempts[-1] if error.attempts else {}
            row.failed_attempt = last.get("attempt")
            row.failed_model = last.get("model")
            row.tries = error.tries
        else:
            row.tries = 0
            row.fail(NOT_RUN, "the replay was cancelled before this row's call")
        self._emit(row)

    def _handle(self, event: tuple) -> None:
        kind = event[0]
        if kind == "page":
            self._take_page(event[1])
        elif kind == "done":
            self._finish(*event[1:])
        elif kind == "answered":
            self._answered(*event[1:])
        elif kind == "verdict":
            self.in_flight -= 1
            self._verdict_done(*event[1:])
        else:  # "end" of the logs
            self.source_done = True
            if event[1] is not None:
                raise event[1]

    def _drain(self, block: bool) -> None:
        try:
            event = self.events.get() if block else self.events.get_nowait()
        except queue.Empty:
            return
        self._handle(event)
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return
            self._handle(event)

    def _loop(self, pool: ThreadPoolExecutor) -> str | None:
        dry = self.options.dry_run
        while True:
            self._drain(block=False)
            if self.cancel.is_set():
                return "cancelled"
            free = self.in_flight < self.limiter.allowed
            if free and self._verdict_first():
                self._start_verdict(pool)
                continue
            if self.planned and not dry:
                verdict = self._admit()
                if verdict == "go":
                    index, call, _ = self.planned.popleft()
                    self._phase("calling")
                    self.outstanding[index] = self._projected(index) if self.run.max_cost else 0.0
                    self.in_flight += 1
                    pool.submit(self._call, index, call)
                    continue
                if verdict == "max_cost":
                    return "max_cost"
                if free and self.verdicts:  # the cap waits on calls in flight: judge meanwhile
                    self._start_verdict(pool)
                    continue
            # plan ahead while calls run: enough to fill the pool, all of it in a dry run
            if self.unplanned and (dry or len(self.planned) < self.run.concurrency):
                self._plan_next()
                continue
            ended = self.source_done and not self.unplanned and not self.outstanding
            if ended and (dry or not self.planned):
                return None
            self._drain(block=True)  # a page, a finished call or the end of the logs

    def _main(self) -> None:
        run = self.run
        stopped: str | None = None
        try:
            self._phase("selecting")
            threading.Thread(
                target=self._read, name="prompt-tester-replay-read", daemon=True
            ).start()
            with ThreadPoolExecutor(
                max_workers=run.concurrency, thread_name_prefix="prompt-tester-replay"
            ) as pool:
                try:
                    stopped = self._loop(pool)
                finally:
                    # The calls in flight end and their rows are kept; verdicts owed to rows
                    # already answered still run (the cap counted them; on cancel they say so).
                    while self.outstanding:
                        while self.verdicts and self.in_flight < self.limiter.allowed:
                            self._start_verdict(pool)
                        if self.outstanding:
                            self._drain(block=True)
            if self.cancel.is_set() and stopped is None:
                stopped = "cancelled"
        except PromptTesterError as exc:  # reading the logs failed (a missing log, AWS)
            run.error = exc
            if not run.rows:
                stopped = "error"
        except BaseException as exc:  # keep what finished; say why the rest did not
            logger.warning("A replay stopped on an internal error: %s", type(exc).__name__)
            run.failure = type(exc).__name__
        finally:
            self.stop_reading.set()
            why = {
                "max_cost": "the replay stopped before this row: its call would have passed"
                " max_cost",
                None: "the replay stopped on an internal error before this row",
            }.get(stopped, "the replay was cancelled before this row")
            if self.options.dry_run and stopped is None:
                why = "dry run: estimate only"
            for row in run.rows:
                if not row.settled:
                    row.fail(NOT_RUN, why)
                    self._emit(row)
            run.estimate = self.estimate.freeze()
            run.behaviour_spec = self.prepared.behaviour_document()  # as-logged: models used
            run.stopped_reason = stopped
            run.model_requests = self.requests
            if self.options.panel is not None:
                run.judge_calls = self.options.panel.calls
                run.model_requests += self.options.panel.requests
            run.retries = self.retried
            run.concurrency_trace = list(self.limiter.trace)
            run.elapsed_s = round(time.monotonic() - self.started, 4)
            run.finished_at = datetime.now(UTC).isoformat(timespec="milliseconds")
            if self.cache is not None:
                self.cache.close()
            closer = getattr(self.options.progress, "close", None)
            if callable(closer):
                with contextlib.suppress(Exception):
                    closer()
            self._phase("finished")
            run.finish()

    def start(self) -> ReplayRun:
        run = self.run
        run.begin()
        run.started_at = datetime.now(UTC).isoformat(timespec="milliseconds")
        self.thread = threading.Thread(target=self._main, name="prompt-tester-replay", daemon=True)
        self.thread.start()
        return run

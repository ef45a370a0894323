"""Judged runs: verdicts in slots of their own.

A row's answer job frees its slot when the answer lands; the row's verdicts (one job per
judge) are queued then and run in the same slots (``Limiter``). This is the part of
``ReplayScheduler`` that queues, runs and merges them, and scores an answer; it lives here,
as a base class of the scheduler, so that scheduler.py holds the scheduling and stays a size
one reads whole.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..engine.limiter import Limiter
from ..errors import ProviderError
from ..judging.scorers import Score, Scorer, safe_score
from .job import ReplayRun
from .plan import Basis
from .rows import ReplayRow

if TYPE_CHECKING:
    from .scheduler import RunOptions


@dataclass(slots=True)
class PendingVerdicts:
    """An answered row of a judged run, waiting for its verdicts."""

    result: Any
    scores: dict[str, float | None]  # its checks' (computed with the answer)
    reasons: dict[str, str | None]
    left: int  # verdicts still to come
    verdicts: dict[str, Score] = field(default_factory=dict)


class JudgedRuns:
    """The verdict side of ``ReplayScheduler`` (its only subclass, which sets every
    attribute named here)."""

    run: ReplayRun
    options: RunOptions
    cancel: threading.Event
    limiter: Limiter
    events: queue.SimpleQueue
    planned: deque
    outstanding: dict[int, float]
    basis: dict[int, Basis]
    in_flight: int
    judges: list[Scorer]
    verdicts: deque[tuple[int, Scorer]]
    judging: dict[int, PendingVerdicts]

    if TYPE_CHECKING:

        def _land(self, index: int, result, error: ProviderError | None, key: Any) -> None: ...

        def _settle(self, index: int, result, error: ProviderError | None, scored: Any) -> None: ...

    def _verdict(self, index: int, scorer: Scorer, result: Any) -> None:
        """One judge's verdict on one answered row, in a slot of its own."""
        row = self.run.rows[index]
        try:
            if self.cancel.is_set():
                verdict = Score(None, "the replay was cancelled")
            else:
                view = dataclasses.replace(row, result=result)  # the row with its answer
                assert self.options.panel is not None
                verdict = safe_score(scorer, view, self.options.panel.for_repeat(row.repeat))
        except BaseException as exc:  # never lose the event: the row would never settle
            verdict = Score(None, type(exc).__name__)
        self.events.put(("verdict", index, scorer, verdict))

    def _score(
        self, row: ReplayRow, result: Any, checks_only: bool = False
    ) -> tuple[dict, dict, float]:
        """Every scorer on the row's answer (or its checks only, in a judged run); a judge's
        call goes through the same limiter."""
        view = dataclasses.replace(row, result=result)  # the row as it is with its answer
        panel = self.options.panel
        judge = panel.for_repeat(row.repeat) if panel is not None else None
        scores: dict[str, float | None] = {}
        reasons: dict[str, str | None] = {}
        cost = 0.0
        for scorer in self.options.scorers:
            if checks_only and scorer.is_judge:
                continue
            if self.cancel.is_set() and scorer.is_judge:
                scores[scorer.name], reasons[scorer.name] = None, "the replay was cancelled"
                continue
            verdict = safe_score(scorer, view, judge)
            scores[scorer.name] = verdict.value
            if verdict.reason is not None or scorer.is_judge:
                reasons[scorer.name] = verdict.reason
            cost += verdict.cost
        return scores, reasons, cost

    def _answered(
        self, index: int, result, error: ProviderError | None, key: Any, checks: Any
    ) -> None:
        """A judged row's answer landed: its slot is free; queue one verdict job per judge
        (a failed or cancelled row settles now, unscored, as in an unjudged run)."""
        self._land(index, result, error, key)
        if result is None:
            self._settle(index, result, error, None)
            return
        scores, reasons, _ = checks or ({}, {}, 0.0)
        self.judging[index] = PendingVerdicts(result, scores, reasons, len(self.judges))
        basis = self.basis.get(index)
        if basis is not None:  # it owes only its verdicts now
            basis.answered = True
            if index in self.outstanding:
                self.outstanding[index] = basis.judge_cost
        for scorer in self.judges:
            if self.cancel.is_set():  # not started: say so, as an unjudged cancel would
                self._verdict_done(index, scorer, Score(None, "the replay was cancelled"))
            else:
                self.verdicts.append((index, scorer))

    def _verdict_done(self, index: int, scorer: Scorer, verdict: Score) -> None:
        state = self.judging[index]
        state.verdicts[scorer.name] = verdict
        state.left -= 1
        if state.left:
            return
        del self.judging[index]
        scores: dict[str, float | None] = {}
        reasons: dict[str, str | None] = {}
        cost = 0.0
        for one in self.options.scorers:  # the scorers' own order, as an unjudged run has it
            if one.name in state.scores:
                scores[one.name] = state.scores[one.name]
                if one.name in state.reasons:
                    reasons[one.name] = state.reasons[one.name]
                continue
            got = state.verdicts[one.name]
            scores[one.name], reasons[one.name] = got.value, got.reason
            cost += got.cost
        self._settle(index, state.result, None, (scores, reasons, cost))

    def _start_verdict(self, pool: ThreadPoolExecutor) -> None:
        index, scorer = self.verdicts.popleft()
        self.in_flight += 1
        pool.submit(self._verdict, index, scorer, self.judging[index].result)

    def _verdict_first(self) -> bool:
        """Whether the next free slot goes to a waiting verdict rather than a new answer."""
        if not self.verdicts:
            return False
        return not self.planned or len(self.verdicts) >= 2 * self.limiter.allowed

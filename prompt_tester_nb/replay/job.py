"""A replay as it runs: the live handle (wait, cancel, progress, done) around its record.

The saved form is ``RunRecord`` (``records``); this handle owns what never is saved: the
cancel and done events, the phase, and an error of the selection. Every field of the record
reads (and, for the scheduler, writes) through the handle, so ``run.rows``, ``run.estimate``
or ``run.stopped_reason`` are the record's.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import PromptTesterError, ValidationError
from ..validation import require
from .records import RunRecord
from .request import MAX_NAME, MAX_NOTE, run_label

logger = logging.getLogger(__name__)

_FIELDS = frozenset(RunRecord.model_fields)

# Stores a finished run as an experiment (the session's ``experiments._store``): called as
# ``storer(run, name=..., note=...)``, it sets ``run.experiment_id`` and returns the header.
Storer = Callable[..., Any]


class ReplayRun:
    """A replay: its ``record`` (inputs, estimate, one ``ReplayRow`` per log, how it ended)
    and, while it runs, the handle to wait for it or cancel it.

    Returned by ``Session.replay`` when the run has ended (or, with ``wait=False``, at once,
    still running: ``run.wait()``, ``run.done``, ``run.cancel()``, ``run.progress``).
    ``load_run`` rebuilds a finished one from a saved file.
    """

    record: RunRecord

    def __init__(self, record: RunRecord | None = None, /, **fields: Any):
        object.__setattr__(self, "record", record if record is not None else RunRecord(**fields))
        # An error of the selection (a missing log, AWS failing) that ended the run before any
        # row: ``replay(wait=True)`` raises it; with ``wait=False`` it is kept here.
        self.error: Exception | None = None
        self.phase: str = "finished"  # "selecting", "planning", "calling", "finished"
        self._cancel = threading.Event()
        # Ended: every row settled, the record complete. Done: ended and, for a run that is
        # stored as it ends, stored (or failed to be) as well: what ``wait()`` waits for.
        self._ended = threading.Event()
        self._ended.set()  # until a scheduler starts it (loaded runs are finished runs)
        self._done = threading.Event()
        self._done.set()
        # The experiment this run was stored as (None until stored: ``store()``).
        self.experiment_id: str | None = None
        # What stores it: set by ``Session.replay`` (None: a run loaded from a file).
        self.storer: Storer | None = None
        # Stored as soon as it ends (a run over a dataset, unless a dry run), and why that
        # failed if it did (``store()`` tries again).
        self.store_on_finish = False
        self.store_error: Exception | None = None

    # --- the record's fields, through the handle ----------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name in _FIELDS:
            return getattr(self.record, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _FIELDS:
            setattr(self.record, name, value)
        else:
            object.__setattr__(self, name, value)

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *_FIELDS})

    # --- control ------------------------------------------------------------------------
    def begin(self) -> None:
        """The scheduler started: the run is running until ``finish()``."""
        self._ended.clear()
        self._done.clear()

    def finish(self) -> None:
        """The run has ended (every row settled, the record complete). A run over a dataset
        is stored as an experiment first (a cancelled or failed one too: its header says
        "incomplete"), so that ``wait()`` returns with ``experiment_id`` set."""
        self._ended.set()
        try:
            if self.store_on_finish and self.storer is not None and self.experiment_id is None:
                self._store_now(warn=True)
        finally:
            self._done.set()

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
        """The run has ended (``wait()`` also waits for a run over a dataset to be stored)."""
        return self._ended.is_set()

    @property
    def progress(self) -> tuple[int, int]:
        """(rows settled, rows read so far): the second grows until every log was read."""
        rows = list(self.record.rows)
        return sum(1 for r in rows if r.settled), len(rows)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the run to end (and a run over a dataset to be stored); Ctrl-C cancels it
        and still waits for the calls in flight (a second Ctrl-C gives up waiting). Returns
        whether the run has ended."""
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

    # --- views (the record's) -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.record.rows)

    def __repr__(self) -> str:
        s = self.record.counts()  # no score statistics: a repr must stay cheap while a run goes
        state = "running" if not self.done else (s["stopped_reason"] or "done")
        named = f" {self.record.name!r}" if self.record.name else ""
        over = f" dataset={s['dataset']!r}" if s["dataset"] else ""
        other = f"; {s['other_prompts']}" if s["other_prompts"] else ""
        if self.experiment_id:
            other += f"; stored as experiment {self.experiment_id}"
        return (
            f"<ReplayRun{named} {self.record.draft.get('prompt_id')!r}"
            f" behaviour={self.record.behaviour!r}{over}"
            f" rows={s['calls']} ok={s['succeeded']} failed={s['failed']}"
            f" not_run={s['not_run']} changed={s['changed']} cost=${s['total_cost']:.5f}"
            f" [{state}]{other}>"
        )

    def to_dataframe(self):  # -> pandas.DataFrame
        """One row per replayed log (and repeat): ``COLUMNS``, then one float column per
        scorer (0-1, NaN where unscored) and ``<name>_reason`` for judges."""
        return self.record.to_dataframe()

    def score_summary(self) -> dict[str, dict[str, Any]]:
        """Per scorer: mean, pass rate, their 95 % intervals, n, unscored, the spread over
        repeats and how many rows a 5-point difference would need (``judging.stats``)."""
        return self.record.score_summary()

    def summary(self) -> dict[str, Any]:
        """Counts, errors by kind, cost, latency, and per scorer its statistics."""
        return self.record.summary()

    def _repr_html_(self) -> str:
        """The summary, the scorers' numbers, then the changed rows first with their diff."""
        from ..display.runs import run_html

        return run_html(self.record, running=not self.done)

    def plot(self):  # -> matplotlib.figure.Figure
        """Latency, cost and score distributions (needs the ``plot`` extra: matplotlib)."""
        return self.record.plot()

    # --- storing for the team -------------------------------------------------------------
    def store(self, name: str | None = None, note: str | None = None) -> str:
        """Store the run as an experiment the team can list, open and compare (its header in
        DynamoDB, its rows in S3); returns the experiment id, also ``run.experiment_id``.
        ``name`` and ``note`` replace the run's when given. A run over a dataset is stored
        when it ends; any other run is stored only when asked. Storing again stores again
        (a new experiment)."""
        require(self.done, "run", "is still running; wait() for it (or cancel()) first")
        if name is not None:
            self.record.name = run_label(name, "name", MAX_NAME)
        if note is not None:
            self.record.note = run_label(note, "note", MAX_NOTE)
        return self._store_now(warn=False)

    def _store_now(self, *, warn: bool) -> str:
        if self.storer is None:
            raise ValidationError(
                "run: was not started from a session (a run loaded with pt.load_run is"
                " one), so there is nowhere to store it; replay it with s.replay(...)",
                field="run",
            )
        try:
            info = self.storer(self, name=self.record.name, note=self.record.note)
        except Exception as exc:
            self.store_error = exc
            if not warn:
                raise
            said = str(exc) if isinstance(exc, PromptTesterError) else type(exc).__name__
            logger.warning("The run was not stored as an experiment: %s", said)
            warnings.warn(
                f"The run was not stored as an experiment ({said}); run.store() tries again",
                stacklevel=2,
            )
            return ""
        self.store_error = None
        found = getattr(info, "experiment_id", None)
        if isinstance(found, str) and found:
            self.experiment_id = found
        require(self.experiment_id is not None, "run", "the store gave no experiment id")
        return str(self.experiment_id)

    # --- saving -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Everything saved (``RunRecord.to_dict``); no provider key and no token."""
        return self.record.to_dict()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReplayRun):
            return NotImplemented
        return self.record == other.record

    __hash__ = None  # type: ignore[assignment]

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the run as JSON, or as JSON Lines when the name ends in ``.jsonl``
        (a header line, then one line per row); gzip-compressed when it ends in ``.gz``.
        Written atomically, owner-only."""
        require(self.done, "run", "is still running; wait() for it (or cancel()) first")
        return self.record.save(path)


def load_run(path: str | os.PathLike[str]) -> ReplayRun:
    """A saved replay (JSON or JSON Lines, gzip-compressed or not), as a finished
    ``ReplayRun``."""
    return ReplayRun(RunRecord.load(path))

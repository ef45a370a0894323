"""The tally behind a replay's estimate: rows, calls, tokens and cost, counted as rows are
planned.

Kept apart from the scheduler, which only adds to it, so that scheduler.py holds the
scheduling alone.
"""

from __future__ import annotations

from .records import ReplayEstimate


class EstimateTally:
    """The running totals of a replay's estimate, frozen into a ``ReplayEstimate`` after
    each planned row."""

    def __init__(self) -> None:
        self.rows = self.calls = self.cached = self.unresolved = self.invalid = 0
        self.prompt_tokens = self.sample_tokens = 0
        self.cost = 0.0
        self.by_variable: dict[str, int] = {}

    def freeze(self) -> ReplayEstimate:
        return ReplayEstimate(
            rows=self.rows,
            calls=self.calls,
            cached=self.cached,
            unresolved=self.unresolved,
            prompt_tokens=self.prompt_tokens,
            sample_tokens=self.sample_tokens,
            estimated_cost=round(self.cost, 10),
            invalid=self.invalid,
            unresolved_by_variable=dict(sorted(self.by_variable.items())),
        )

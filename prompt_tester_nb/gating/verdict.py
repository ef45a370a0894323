"""A gate's verdict: each policy with its figure, its threshold and whether it passed.

``s.publish(..., gate=verdict)`` reads ``passed``, ``draft_sha256``, ``prompt_id`` and
``experiment_id`` from it, so publishing can refuse a draft the gate was not run on.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ..errors import RegressionError


class Policy(BaseModel):
    """One policy of the spec's ``[gate]`` (or ``max_cost``), measured."""

    name: str  # "max_cost", "min_win_rate", "no_regressions", "min_score.<scorer>"
    figure: float | None  # what was measured (None: nothing could be measured)
    threshold: float | None
    passed: bool
    detail: str = ""  # the figure in words, e.g. "win rate 0.62 (95% interval 0.51-0.72)"


class Verdict(BaseModel):
    """What a gate found. ``passed`` only when every policy passed."""

    passed: bool
    policies: list[Policy] = Field(default_factory=list)
    experiment_id: str | None = None
    prompt_id: str | None = None
    draft_sha256: str | None = None
    # per item and repeat: {"item_id", "repeat", "scores": {name: value}, "passed", "reasons"}
    items: list[dict[str, Any]] = Field(default_factory=list)

    def failed(self) -> list[Policy]:
        return [p for p in self.policies if not p.passed]

    def raise_for_failure(self) -> Verdict:
        """Raise ``pt.RegressionError`` naming each failed policy with its figure; else
        return the verdict (so it chains)."""
        if not self.passed:
            words = "; ".join(f"{p.name}: {p.detail or p.figure}" for p in self.failed())
            raise RegressionError(f"the gate failed: {words or 'no policy passed'}", verdict=self)
        return self

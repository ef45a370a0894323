"""A replay's rows: one ``ReplayRow`` per log or dataset item (and repeat), and ``RowRecord``,
a row's saved form.

A row is the log's inputs (context id, context, production's answer) plus the engine's one
result type (``TestResult``) or the failure that ended it. Plain values only: a replay of
10,000 rows stays small, and a saved row holds no key and no token. The scheduler fills a
row as its call ends; ``RunRecord`` (``records``) saves and loads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..models import REPLAY_COLUMNS, TestResult

NOT_RUN = "not_run"
# A row whose context lacks a variable the draft uses, not sent (``unresolved="skip"``).
UNRESOLVED = "unresolved"
COLUMNS = list(REPLAY_COLUMNS)


class SavedModel(BaseModel):
    """A saved form: unknown keys are ignored (a newer minor field, the header's summary),
    and a null where the field has a default reads as that default."""

    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        fields = cls.model_fields
        return {
            k: v
            for k, v in data.items()
            if v is not None
            or k not in fields
            or fields[k].is_required()
            or fields[k].get_default(call_default_factory=True) is None
        }


class RowRecord(SavedModel):
    """What a saved run keeps of each row: its inputs, both answers and every metric
    (``COLUMNS`` are the dataframe's). The order is the file's."""

    context_id: str
    context: dict[str, Any] = Field(default_factory=dict)
    production: str | None = None
    production_sample_tokens: int | None = None
    new: str | None = None
    finish_reason: str | None = None
    changed: bool | None = None
    similarity: float | None = None
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
    repeat: int = 0
    ideal: str | None = None
    scores: dict[str, float | None] | None = None
    reasons: dict[str, str | None] | None = None
    judge_cost: float = 0.0
    source: str = "production"
    production_model: str | None = None
    version: str | int | None = None
    unresolved_variables: list[str] = Field(default_factory=list)
    item_id: str | None = None


SAVED_FIELDS = tuple(RowRecord.model_fields)
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
    # The model that served the log, labelled as a behaviour's model is
    # ("azure/westus/gpt-4o", "openai/gpt-4o-mini"); None when its metrics do not say.
    production_model: str | None = None
    version: str | None = None  # the log's prompt version
    # The draft's variables that neither the log's context nor the run's ``defaults`` gave.
    unresolved_variables: list[str] = field(default_factory=list)
    # The dataset item the row ran (None: a row of a log). Its ``context_id`` is the item's
    # log, or, for an item added from a frame (no log), the item id itself.
    item_id: str | None = None
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
        """The saved form (``RowRecord``'s fields): the row's inputs, both answers and every
        metric."""
        return {name: getattr(self, name) for name in SAVED_FIELDS}

    @classmethod
    def from_dict(cls, index: int, data: dict[str, Any]) -> ReplayRow:
        """The row a saved one describes (checked as a ``RowRecord``)."""
        saved = RowRecord.model_validate(data)
        row = cls(
            index=index,
            context_id=saved.context_id,
            context=saved.context,
            production=saved.production,
            production_sample_tokens=saved.production_sample_tokens,
            error_kind=saved.error_kind,
            error_message=saved.error_message,
            tries=saved.tries,
            estimated_cost=saved.estimated_cost,
            repeat=saved.repeat,
            ideal=saved.ideal,
            scores=saved.scores,
            reasons=saved.reasons,
            judge_cost=saved.judge_cost,
            source=saved.source,
            production_model=saved.production_model,
            version=None if saved.version is None else str(saved.version),
            unresolved_variables=[str(n) for n in saved.unresolved_variables],
            item_id=saved.item_id,
        )
        if saved.new is not None and saved.error_kind is None:
            fields = {name: getattr(saved, field) for field, name in _RESULT_FIELDS.items()}
            fields["latency_ms"] = fields["latency_ms"] or 0
            row.result = TestResult(**fields, tries=saved.tries)
        else:
            row.failed_attempt = saved.attempt
            row.failed_model = saved.model
        row._similarity = saved.similarity
        return row

"""Scorers: what a replay row is judged by. ``pt.scorers`` is this module.

A scorer turns a row (``row.new``, ``row.production``, ``row.ideal``, ``row.context``,
``row.context_id``, ``row.latency_ms``, ``row.price``) into a score from 0 to 1, or ``None``
when it cannot say. Checks are plain Python; ``judge`` and ``ideal`` ask an LLM through a
named behaviour (the same engine, retries, cache and cost cap as the replay's own calls);
``pairwise`` is for ``s.compare``. Any callable is a scorer too, named by its ``__name__``::

    sc = pt.scorers
    run = s.replay(draft, scorers=[sc.contains("refund"), sc.json_valid(),
                                   sc.judge("Is it polite?", name="polite"), my_check])

A score of ``True``/``False`` counts as 1/0. A row passes a scorer when its score reaches
the scorer's ``threshold`` (checks: 1; ``similarity``: 0.5; judges: 0.7, lamoom's pass mark).
A scorer that raises leaves the row unscored, with the error as the reason.
"""

from __future__ import annotations

import builtins
import difflib
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import ValidationError
from ..models import REPLAY_COLUMNS
from ..validation import require
from . import prompts

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")
# A replay's own columns (``similarity`` excepted: a scorer of that name fills that column).
RESERVED = frozenset(REPLAY_COLUMNS) - {"similarity"}


@dataclass(frozen=True, slots=True)
class Score:
    """One scorer's verdict on one row: a value in [0, 1] or None, and why."""

    value: float | None
    reason: str | None = None
    cost: float = 0.0  # what a judge call cost (USD); 0 for checks and cached verdicts


class JudgeCaller(Protocol):
    """What a judge scorer asks of the run it belongs to: one judge call through the engine."""

    def ask(self, behaviour: str, prompt_data: dict, context: dict) -> tuple[str, float]: ...


class Scorer:
    """A named way of scoring a row. Subclasses implement ``score``."""

    kind = "check"
    threshold = 1.0
    behaviour: str | None = None  # judges: the behaviour that runs them
    marker: str | None = None  # judges: which judge prompt (``prompts.MARKER_*``)

    def __init__(self, name: str):
        require(
            isinstance(name, str) and bool(_NAME.match(name)) and name not in RESERVED,
            "scorers",
            f"name {name!r} must be letters, digits, '_' or '-' (not a column name)",
        )
        self.name = name

    @property
    def is_judge(self) -> bool:
        return self.behaviour is not None

    def score(self, row: Any, judge: JudgeCaller | None = None) -> Score:
        raise NotImplementedError

    def passes(self, value: float) -> bool:
        return value >= self.threshold - 1e-12

    def meta(self) -> dict[str, Any]:
        """What a saved run keeps of the scorer."""
        return {"name": self.name, "kind": self.kind, "threshold": self.threshold}

    def __repr__(self) -> str:
        return f"<scorer {self.name!r} ({type(self).__name__})>"


def as_value(result: Any) -> float:
    """A scorer's raw result as a score in [0, 1] (bools count as 1/0)."""
    if isinstance(result, bool):
        return 1.0 if result else 0.0
    if isinstance(result, int | float) and math.isfinite(result) and 0 <= result <= 1:
        return float(result)
    raise ValueError(f"a score must be a number from 0 to 1 or a bool, not {result!r}")


def safe_score(scorer: Scorer, row: Any, judge: JudgeCaller | None) -> Score:
    """``scorer.score(row)``, with an exception kept as the reason (the run goes on)."""
    try:
        return scorer.score(row, judge)
    except Exception as exc:
        words = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        return Score(None, f"{type(exc).__name__}: {words}" if words else type(exc).__name__)


# --------------------------------------------------------------------------- checks


class _Check(Scorer):
    def __init__(self, name: str, check: Callable[[Any], Any]):
        super().__init__(name)
        self._check = check

    def score(self, row: Any, judge: JudgeCaller | None = None) -> Score:
        if row.new is None:
            return Score(None, "no answer")
        return Score(as_value(self._check(row)))


class Callable_(Scorer):
    """Any ``callable(row) -> float | bool`` as a scorer."""

    def __init__(self, fn: Callable[[Any], Any], name: str | None = None, threshold: float = 1.0):
        super().__init__(name or getattr(fn, "__name__", "") or "scorer")
        self._fn = fn
        self.threshold = threshold

    def score(self, row: Any, judge: JudgeCaller | None = None) -> Score:
        result = self._fn(row)
        if result is None:
            return Score(None, "the scorer returned None")
        return Score(as_value(result))


def contains(*needles: str, name: str | None = None, all: bool = True, case: bool = False):
    """1 when the new answer contains the texts (every one with ``all=True``, any one with
    ``all=False``); case-insensitive unless ``case=True``."""
    require(bool(needles) and _texts(needles), "contains", "give one or more texts to look for")
    wanted = list(needles) if case else [n.lower() for n in needles]
    every = all

    def check(row: Any) -> bool:
        text = row.new if case else row.new.lower()
        found = [w in text for w in wanted]
        return builtins.all(found) if every else any(found)

    return _Check(name or f"contains_{_slug(needles[0])}", check)


def _texts(values: Iterable[Any]) -> bool:
    return builtins.all(isinstance(v, str) and v != "" for v in values)


def regex(pattern: str, name: str | None = None, flags: int = 0):
    """1 when the new answer matches ``pattern`` (``re.search``)."""
    require(isinstance(pattern, str), "regex", "must be a regular expression")
    try:
        compiled = re.compile(pattern, flags)
    except re.error as exc:
        raise ValidationError(f"regex: {exc}", field="regex") from None
    return _Check(name or "regex", lambda row: compiled.search(row.new) is not None)


def _strip_fence(text: str) -> str:
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = re.sub(r"^```[A-Za-z0-9_-]*\s*", "", stripped)
        stripped = re.sub(r"\s*```$", "", stripped)
    return stripped


def json_valid(name: str = "json_valid"):
    """1 when the new answer is JSON (a fenced ```json block counts)."""

    def check(row: Any) -> bool:
        try:
            json.loads(_strip_fence(row.new))
        except ValueError:
            return False
        return True

    return _Check(name, check)


def json_schema(schema: dict[str, Any], name: str = "json_schema"):
    """1 when the new answer is JSON that validates against ``schema`` (jsonschema)."""
    import jsonschema

    require(isinstance(schema, dict), "json_schema", "must be a JSON Schema object")
    try:
        validator_cls = jsonschema.validators.validator_for(schema)
        validator_cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValidationError(
            f"json_schema: not a valid schema: {exc.message}", field="json_schema"
        ) from None
    validator = validator_cls(schema)

    def check(row: Any) -> bool:
        try:
            data = json.loads(_strip_fence(row.new))
        except ValueError:
            return False
        return validator.is_valid(data)

    return _Check(name, check)


class _Similarity(Scorer):
    threshold = 0.5

    def score(self, row: Any, judge: JudgeCaller | None = None) -> Score:
        if row.new is None:
            return Score(None, "no answer")
        if row.production is None:
            return Score(None, "the log has no production answer")
        return Score(text_similarity(row.production, row.new))


def text_similarity(a: str, b: str) -> float:
    """rapidfuzz's normalized Indel similarity when installed, else difflib's ratio (0-1)."""
    if a == b:
        return 1.0
    try:
        from rapidfuzz.distance import Indel

        return float(Indel.normalized_similarity(a, b))
    except ImportError:
        return difflib.SequenceMatcher(None, a, b).ratio()


def similarity(name: str = "similarity", threshold: float = 0.5):
    """How close the new answer is to the production answer (0-1)."""
    scorer = _Similarity(name)
    scorer.threshold = threshold
    return scorer


def max_latency(ms: float, name: str = "max_latency"):
    """1 when the new answer came within ``ms`` milliseconds (a cached answer: its record's)."""
    require(isinstance(ms, int | float) and ms > 0, "max_latency", "must be milliseconds > 0")
    return _Check(name, lambda row: row.latency_ms is not None and row.latency_ms <= ms)


def max_cost(usd: float, name: str = "max_cost"):
    """1 when the new answer cost at most ``usd`` (flow-prompt's price of the call)."""
    require(isinstance(usd, int | float) and usd >= 0, "max_cost", "must be an amount in USD")
    return _Check(name, lambda row: row.price is not None and row.price <= usd + 1e-12)


# --------------------------------------------------------------------------- judges


def parse_score(reply: str) -> tuple[float | None, str | None]:
    """A judge's ``{"score", "reason"}`` reply, or (None, why not)."""
    data = _json_object(reply)
    if data is None:
        return None, f"the judge's reply is not a JSON object: {reply[:120]!r}"
    value = data.get("score")
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        return None, f"the judge's score is not a number from 0 to 1: {value!r}"
    reason = data.get("reason")
    return float(value), reason if isinstance(reason, str) else None


def parse_winner(reply: str) -> tuple[str | None, str | None]:
    """A pairwise judge's ``{"winner", "reason"}`` reply: "A", "B", "tie", or (None, why)."""
    data = _json_object(reply)
    if data is None:
        return None, f"the judge's reply is not a JSON object: {reply[:120]!r}"
    winner = data.get("winner")
    winner = winner.strip() if isinstance(winner, str) else winner
    if isinstance(winner, str) and winner.lower() == "tie":
        winner = "tie"
    if winner not in ("A", "B", "tie"):
        return None, f"the judge's winner is not 'A', 'B' or 'tie': {winner!r}"
    reason = data.get("reason")
    return winner, reason if isinstance(reason, str) else None


def _json_object(reply: str) -> dict[str, Any] | None:
    text = _strip_fence(reply or "")
    try:
        data = json.loads(text)
    except ValueError:
        start, end = text.find("{"), text.rfind("}")
        if start < 0 or end <= start:
            return None
        try:
            data = json.loads(text[start : end + 1])
        except ValueError:
            return None
    return data if isinstance(data, dict) else None


class _Judge(Scorer):
    kind = "judge"
    threshold = 0.7
    marker = prompts.MARKER_SCORE
    behaviour: str  # a judge always has one (checked below)

    def __init__(self, name: str, rubric: str | None, behaviour: str, threshold: float):
        super().__init__(name)
        require(
            isinstance(behaviour, str) and bool(behaviour), "behaviour", "must be a behaviour name"
        )
        self.rubric = rubric
        self.behaviour = behaviour
        self.threshold = threshold

    def request(self, row: Any, answer: str | None = None) -> tuple[dict, dict] | Score:
        return prompts.score_prompt(self.rubric or "", row.context, answer or row.new)

    def score(self, row: Any, judge: JudgeCaller | None = None) -> Score:
        if row.new is None:
            return Score(None, "no answer")
        if judge is None:
            return Score(None, "judges run inside a replay")
        built = self.request(row)
        if isinstance(built, Score):
            return built
        prompt_data, context = built
        reply, cost = judge.ask(self.behaviour, prompt_data, context)
        value, reason = parse_score(reply)
        return Score(value, reason, cost)


class _Ideal(_Judge):
    marker = prompts.MARKER_IDEAL

    def request(self, row: Any, answer: str | None = None) -> tuple[dict, dict] | Score:
        ideal = getattr(row, "ideal", None)
        if not ideal:
            return Score(None, "the log has no ideal answer (s.set_ideal_answer)")
        return prompts.ideal_prompt(ideal, row.context, answer or row.new)


def judge(rubric: str, behaviour: str = "judge", name: str = "judge", threshold: float = 0.7):
    """An LLM judge: asks the ``behaviour``'s model to score the new answer against the
    ``rubric`` (``{"score": 0-1, "reason": …}``)."""
    require(isinstance(rubric, str) and rubric.strip() != "", "rubric", "must be a text")
    return _Judge(name, rubric, behaviour, threshold)


def ideal(behaviour: str = "judge", name: str = "ideal_match", threshold: float = 0.7):
    """An LLM judge scoring the new answer against the log's ideal answer: the share of the
    ideal answer's statements it also makes (lamoom's method). Unscored without one."""
    return _Ideal(name, None, behaviour, threshold)


@dataclass(frozen=True)
class Pairwise:
    """A pairwise judge for ``s.compare``: which of two answers is better by the rubric."""

    rubric: str
    behaviour: str = "judge"
    name: str = "pairwise"

    def request(self, context: Any, first: str, second: str) -> tuple[dict, dict]:
        return prompts.pairwise_prompt(self.rubric, context, first, second)


def pairwise(rubric: str, behaviour: str = "judge", name: str = "pairwise") -> Pairwise:
    """A pairwise judge (``{"winner": "A" | "B" | "tie", "reason": …}``) for ``s.compare``."""
    require(isinstance(rubric, str) and rubric.strip() != "", "rubric", "must be a text")
    require(isinstance(behaviour, str) and bool(behaviour), "behaviour", "must be a behaviour name")
    return Pairwise(rubric, behaviour, name)


# --------------------------------------------------------------------------- a list of them


@dataclass
class ScorerSet:
    """The scorers of one run, checked once: names unique, callables wrapped."""

    scorers: list[Scorer] = field(default_factory=list)

    @classmethod
    def build(cls, values: Any) -> ScorerSet:
        if values is None:
            return cls([])
        require(
            isinstance(values, Sequence) and not isinstance(values, str | bytes),
            "scorers",
            "must be a list of scorers (pt.scorers.…) or callables",
        )
        out: list[Scorer] = []
        for i, value in enumerate(values):
            if isinstance(value, Pairwise):
                raise ValidationError(
                    f"scorers[{i}]: a pairwise judge compares two runs; use s.compare(run,"
                    " judge=…)",
                    field=f"scorers[{i}]",
                )
            if isinstance(value, Scorer):
                out.append(value)
            elif callable(value):
                out.append(Callable_(value))
            else:
                raise ValidationError(
                    f"scorers[{i}]: must be a scorer (pt.scorers.…) or a callable(row)",
                    field=f"scorers[{i}]",
                )
        names = [s.name for s in out]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValidationError(
                f"scorers: two scorers are named {dupes[0]!r}; give one of them name=…",
                field="scorers",
            )
        return cls(out)

    @property
    def judges(self) -> list[Scorer]:
        return [s for s in self.scorers if s.is_judge]

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.scorers]

    def __len__(self) -> int:
        return len(self.scorers)

    def __iter__(self):
        return iter(self.scorers)


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_]+", "_", text.lower()).strip("_")
    return (slug or "text")[:40]


__all__ = [
    "Pairwise",
    "Score",
    "Scorer",
    "contains",
    "ideal",
    "json_schema",
    "json_valid",
    "judge",
    "max_cost",
    "max_latency",
    "pairwise",
    "regex",
    "similarity",
]

"""The gate's spec file (``prompt-tester eval SPEC.toml``), read and checked as a whole.

Every key of the spec is a field here; a wrong one is a ``ValidationError`` whose ``field``
is the key's path as the file spells it (``scorers[1].rubric``, ``gate.min_score.polite``),
raised before anything signs in, reads a log or calls a model. The CLI exits 2 on it.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from ..errors import ValidationError
from ..validation import require

SCORER_KINDS = ("contains", "regex", "json", "similarity", "rubric", "ideal")
# The keys each kind takes beside kind, name and threshold (and which of them it needs).
KIND_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "contains": (("text",), ("text",)),
    "regex": (("pattern",), ("pattern",)),
    "json": ((), ()),
    "similarity": ((), ()),
    "rubric": (("rubric", "judge"), ("rubric",)),
    "ideal": (("judge",), ()),
}
DEFAULT_NAMES = {"ideal": "ideal_match"}  # kinds whose own name is a run's column
MAX_REPEATS = 20
MAX_LIMIT = 10_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LogsSpec(_Strict):
    """``[logs]``: which production logs the draft replays (newest first)."""

    prompt_id: str | None = None  # None: the draft's prompt
    version: str | int | None = None
    since: str | datetime | date | None = None
    until: str | datetime | date | None = None
    limit: int = Field(100, ge=1, le=MAX_LIMIT)


class ScorerSpec(_Strict):
    """One ``[[scorers]]`` table; ``name`` defaults to its kind, ``judge`` to ``"judge"``."""

    kind: Literal["contains", "regex", "json", "similarity", "rubric", "ideal"]
    name: str | None = None
    threshold: float | None = Field(None, ge=0, le=1)
    text: str | list[str] | None = None  # contains
    pattern: str | None = None  # regex
    rubric: str | None = None  # rubric
    judge: str | None = None  # rubric, ideal: the judge's behaviour

    @property
    def scorer_name(self) -> str:
        """The name given, else the kind; ``ideal`` is a run's column (the log's ideal
        answer), so that kind's scores are ``ideal_match``, as ``pt.scorers.ideal`` names them."""
        return self.name or DEFAULT_NAMES.get(self.kind, self.kind)

    @property
    def judge_behaviour(self) -> str:
        return self.judge or "judge"


class CompareSpec(_Strict):
    """``[compare]``: a pairwise judge, both orders, against production or the baseline."""

    against: Literal["production", "baseline"] = "production"
    rubric: str = Field(min_length=1)
    judge: str = Field("judge", min_length=1)


class GatePolicies(_Strict):
    """``[gate]``: the policies (``max_cost`` is always one more)."""

    min_win_rate: float | None = Field(None, ge=0, le=1)
    no_regressions: bool = False
    min_score: dict[str, float] = Field(default_factory=dict)

    def names(self) -> list[str]:
        out = ["min_win_rate"] if self.min_win_rate is not None else []
        out += ["no_regressions"] if self.no_regressions else []
        return out + [f"min_score.{name}" for name in self.min_score]


class GateSpec(_Strict):
    """A whole spec. ``draft`` is the prompt data (loaded from the file the spec names)."""

    environment: str = Field(min_length=1)
    draft: dict[str, Any]
    draft_path: str | None = None  # as the spec wrote it (for messages), None: given inline
    behaviour: str = Field("as-logged", min_length=1)
    dataset: str | None = None
    logs: LogsSpec | None = None
    repeats: int = Field(1, ge=1, le=MAX_REPEATS)
    max_cost: float = Field(gt=0)
    scorers: list[ScorerSpec] = Field(default_factory=list)
    compare: CompareSpec | None = None
    gate: GatePolicies = Field(default_factory=GatePolicies)

    @property
    def prompt_id(self) -> str:
        return str(self.draft.get("prompt_id"))

    def judges(self) -> list[tuple[str, str]]:
        """(key, behaviour) of every judge the spec names, for checking they exist."""
        found = [
            (f"scorers[{i}].judge", s.judge_behaviour)
            for i, s in enumerate(self.scorers)
            if s.kind in ("rubric", "ideal")
        ]
        if self.compare is not None:
            found.append(("compare.judge", self.compare.judge))
        return found


def key_of(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as the spec spells the key: ``scorers[1].rubric``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "spec"


def load_spec(spec: str | os.PathLike[str] | dict[str, Any]) -> GateSpec:
    """The spec from a TOML file (the draft's path relative to it) or a dict (paths relative
    to the working folder; ``draft`` may be the prompt data itself)."""
    if isinstance(spec, dict):
        return parse_spec(spec, Path.cwd())
    require(isinstance(spec, str | os.PathLike), "spec", "must be a TOML file's path or a dict")
    path = Path(spec)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError(f"spec: no such file: {str(path)!r}", field="spec") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"spec: cannot read {str(path)!r}: {exc}", field="spec") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"spec: not valid TOML: {exc}", field="spec") from None
    return parse_spec(data, path.parent)


def _draft(value: Any, base: Path) -> tuple[dict[str, Any], str | None]:
    if isinstance(value, dict):
        data, where = value, None
    else:
        require(
            isinstance(value, str) and value != "",
            "draft",
            "must be the path of the draft's JSON (flow-prompt's service_dump())",
        )
        path = base / value
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValidationError(
                f"draft: no such file: {value!r} (relative to the spec)", field="draft"
            ) from None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ValidationError(f"draft: {value!r} is not JSON: {exc}", field="draft") from None
        where = value
    require(
        isinstance(data, dict) and isinstance(data.get("prompt_id"), str),
        "draft",
        "must be prompt data with a prompt_id (flow-prompt's service_dump() JSON)",
    )
    return data, where


def parse_spec(data: dict[str, Any], base: Path) -> GateSpec:
    """Check ``data`` (a parsed spec) whole; the draft's path is relative to ``base``."""
    require(isinstance(data, dict), "spec", "must be a table of keys")
    fields = dict(data)
    draft_value = fields.pop("draft", None)
    require(draft_value is not None, "draft", "is required (the draft's JSON file)")
    require("draft_path" not in fields, "draft_path", "is not a key of the spec")
    try:
        spec = GateSpec.model_validate({**fields, "draft": {}, "draft_path": None})
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        key = key_of(first["loc"])
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = "is not a key of the spec"
        elif first["type"] == "missing":
            message = "is required"
        raise ValidationError(
            f"{key}: {message}",
            field=key,
            errors=[{"field": key_of(e["loc"]), "message": e["msg"]} for e in exc.errors()],
        ) from None
    draft, where = _draft(draft_value, base)
    spec = spec.model_copy(update={"draft": draft, "draft_path": where})
    # a scorer's default name is its kind, and min_score may name it so: { ideal = 0.8 } is
    # the unnamed ideal scorer's, whose scores are the column ideal_match (DEFAULT_NAMES)
    aliases: dict[str, str] = {s.kind: s.scorer_name for s in spec.scorers if s.name is None}
    min_score = {aliases.get(k, k): v for k, v in spec.gate.min_score.items()}
    if min_score != spec.gate.min_score:
        gate = spec.gate.model_copy(update={"min_score": min_score})
        spec = spec.model_copy(update={"gate": gate})
    _check(spec)
    return spec


def _check(spec: GateSpec) -> None:
    """What one key alone cannot say: the keys that depend on each other."""
    require(
        (spec.dataset is None) != (spec.logs is None),
        "dataset",
        "give either dataset = 'name@version' or a [logs] table, not both and not neither",
    )
    if spec.dataset is not None:
        require(spec.dataset.strip() != "", "dataset", "must name a dataset ('name@version')")
    require(math.isfinite(spec.max_cost), "max_cost", "must be an amount in USD")
    names: list[str] = []
    for i, scorer in enumerate(spec.scorers):
        allowed, needed = KIND_KEYS[scorer.kind]
        for key in ("text", "pattern", "rubric", "judge"):
            if getattr(scorer, key) is not None and key not in allowed:
                raise ValidationError(
                    f"scorers[{i}].{key}: a {scorer.kind} scorer takes no {key}",
                    field=f"scorers[{i}].{key}",
                )
        for key in needed:
            require(
                getattr(scorer, key) not in (None, "", []),
                f"scorers[{i}].{key}",
                f"a {scorer.kind} scorer needs {key} (a text)",
            )
        if scorer.name in names or scorer.scorer_name in names:
            raise ValidationError(
                f"scorers[{i}].name: two scorers are named {scorer.scorer_name!r}; give one a name",
                field=f"scorers[{i}].name",
            )
        names.append(scorer.scorer_name)
    gate = spec.gate
    require(
        bool(gate.names()),
        "gate",
        "names no policy: give min_win_rate, no_regressions or min_score (max_cost alone"
        " gates nothing about quality)",
    )
    if gate.min_win_rate is not None:
        require(
            spec.compare is not None,
            "gate.min_win_rate",
            "has nothing to measure: add a [compare] table (a pairwise judge)",
        )
    if gate.no_regressions:
        require(
            spec.dataset is not None,
            "gate.no_regressions",
            "has nothing to measure: regressions are counted against a dataset's blessed"
            " experiment, and a [logs] spec has no dataset",
        )
    if spec.compare is not None and spec.compare.against == "baseline":
        require(
            spec.dataset is not None,
            "compare.against",
            "'baseline' is a dataset's blessed experiment; a [logs] spec has none",
        )
    for name, value in gate.min_score.items():
        require(
            name in names,
            f"gate.min_score.{name}",
            f"no scorer is named {name!r} (the scorers: {', '.join(names) or 'none'})",
        )
        require(
            isinstance(value, int | float) and 0 <= value <= 1,
            f"gate.min_score.{name}",
            "must be a mean score from 0 to 1",
        )


def build_scorers(spec: GateSpec) -> list[Any]:
    """The spec's scorers as ``pt.scorers`` objects (a bad pattern names its key)."""
    from ..judging import scorers as sc

    out = []
    for i, s in enumerate(spec.scorers):
        try:
            if s.kind == "contains":
                texts = [s.text] if isinstance(s.text, str) else list(s.text or [])
                scorer = sc.contains(*texts, name=s.scorer_name)
            elif s.kind == "regex":
                scorer = sc.regex(s.pattern or "", name=s.scorer_name)
            elif s.kind == "json":
                scorer = sc.json_valid(name=s.scorer_name)
            elif s.kind == "similarity":
                scorer = sc.similarity(name=s.scorer_name)
            elif s.kind == "rubric":
                scorer = sc.judge(s.rubric or "", behaviour=s.judge_behaviour, name=s.scorer_name)
            else:
                scorer = sc.ideal(behaviour=s.judge_behaviour, name=s.scorer_name)
        except ValidationError as exc:
            key = {
                "contains": "text",
                "regex": "pattern",
                "scorers": "name",
                "behaviour": "judge",
            }.get(exc.field or "", exc.field or "kind")
            words = exc.message.split(": ", 1)[-1]
            raise ValidationError(
                f"scorers[{i}].{key}: {words}", field=f"scorers[{i}].{key}"
            ) from None
        if s.threshold is not None:
            scorer.threshold = float(s.threshold)
        out.append(scorer)
    return out

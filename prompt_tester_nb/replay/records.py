"""A replay's record: its estimate and the ``RunRecord``, the run's one saved form.

``RunRecord`` (pydantic) declares each saved field once; its rows are ``ReplayRow`` (``rows``),
saved as ``RowRecord``. Written as JSON, or as JSON Lines (a header line, then one line per
row: the form a store can chunk), gzip-compressed when the name ends in ``.gz``. A saved run
holds no key and no token. The live side of a run (its threads, cancel and wait) is
``replay.job.ReplayRun``, which holds a record.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, InstanceOf, model_validator

from ..errors import ValidationError
from ..models_used import models_differ
from ..saved import plain_name, read_text, write_text
from .rows import COLUMNS, NOT_RUN, SAVED_FIELDS, UNRESOLVED, ReplayRow, RowRecord, SavedModel

FORMAT: Literal["prompt-tester-nb/replay"] = "prompt-tester-nb/replay"
FORMAT_VERSION = 1


class ReplayEstimate(BaseModel):
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
    unresolved_by_variable: dict[str, int] = Field(default_factory=dict)

    model_config = ConfigDict(frozen=True)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


EMPTY_ESTIMATE = ReplayEstimate(
    rows=0, calls=0, cached=0, unresolved=0, prompt_tokens=0, sample_tokens=0, estimated_cost=0.0
)


def _percentile(values: list[int], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    # nearest-rank percentile
    rank = max(1, math.ceil(share * len(ordered)))
    return float(ordered[rank - 1])


class RunRecord(SavedModel):
    """A replay's saved form: its inputs, the estimate, how it ended, and its rows.

    The live ``ReplayRun`` fills one as it runs; ``RunRecord.load`` rebuilds one from a file.
    The header's fields, in the file's order, are this model's; ``rows`` follow it.
    """

    format: Literal["prompt-tester-nb/replay"] = FORMAT
    format_version: int = FORMAT_VERSION
    env_id: str
    env_name: str | None = None
    behaviour: str  # the file nests it with its spec: {"name": ..., "spec": ...}
    behaviour_spec: dict[str, Any]
    draft: dict[str, Any]
    # How the rows were chosen: a log query or named logs, or a dataset (``dataset``,
    # ``dataset_version``: the version read, ``dataset_id``, ``items``, ``other_prompts``).
    selection: dict[str, Any] = Field(default_factory=dict)
    name: str = ""  # what the user called the run (an experiment's name when stored)
    note: str = ""
    concurrency: int = 1
    max_cost: float | None = None
    estimate: ReplayEstimate = EMPTY_ESTIMATE
    stopped_reason: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    elapsed_s: float | None = None
    model_requests: int = 0
    retries: int = 0
    failure: str | None = None  # an internal error that ended the run early
    concurrency_trace: list[tuple[float, int]] = Field(default_factory=list)
    # the scorers' names, kinds and pass thresholds (the scorers themselves are not saved)
    scorers: list[dict[str, Any]] = Field(default_factory=list)
    repeats: int = 1
    judge_calls: int = 0  # judge calls made (not answered by the cache)
    rows: list[InstanceOf[ReplayRow]] = Field(default_factory=list, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _behaviour_as_saved(cls, data: Any) -> Any:
        """The file keeps the behaviour's name and spec together."""
        if isinstance(data, dict) and isinstance(data.get("behaviour"), dict):
            saved = data["behaviour"]
            data = {**data, "behaviour": saved.get("name"), "behaviour_spec": saved.get("spec")}
        return data

    @model_validator(mode="after")
    def _trace_starts_at_the_concurrency(self) -> RunRecord:
        if not self.concurrency_trace:
            self.concurrency_trace = [(0.0, self.concurrency)]
        return self

    # --- views --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.rows)

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
                by_log.setdefault(r.item_id or r.context_id, []).append(value)
            passed = sum(1 for v in values if v >= threshold - 1e-12)
            described = stats.describe(values, passed, by_repeat)
            described["unscored"] = unscored
            described["threshold"] = threshold
            described["repeat_sd"] = stats.within_log_sd(by_log)
            out[name] = described
        return out

    def summary(self) -> dict[str, Any]:
        """Counts, errors by kind, cost, latency, and per scorer its statistics."""
        return {**self.counts(), "scores": self.score_summary()}

    @property
    def dataset_ref(self) -> str | None:
        """``"refunds@2"``: the dataset and the exact version a run over one read (None: a
        run over logs)."""
        name = self.selection.get("dataset")
        if not name:
            return None
        version = self.selection.get("dataset_version")
        return name if version is None else f"{name}@{version}"

    def other_prompts_words(self) -> str | None:
        """The dataset's items of other prompts than the draft's, not run, in words
        ("2 items of other prompts were not run: 'billing' (1), 'refund-v0' (1)"); None
        when there were none (or the run was over logs)."""
        other = self.selection.get("other_prompts") or {}
        total = sum(other.values())
        if not total:
            return None
        named = ", ".join(f"{pid!r} ({n})" for pid, n in sorted(other.items()))
        what = (
            "1 item of another prompt was" if total == 1 else f"{total} items of other prompts were"
        )
        return f"{what} not run (the draft is {self.draft.get('prompt_id')!r}): {named}"

    def counts(self) -> dict[str, Any]:
        """The summary without the score statistics (cheap enough for a running run's repr)."""
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
            # one line when answered rows ran on other models than their logs, else None
            "models": models_differ((r.production_model, r.model) for r in ok),
            "dataset": self.dataset_ref,
            # one line naming the dataset's items of other prompts (not run), else None
            "other_prompts": self.other_prompts_words(),
        }

    # --- rich display -----------------------------------------------------------------
    def _repr_html_(self) -> str:
        """The summary, the scorers' numbers, then the changed rows first with their diff."""
        from ..display.runs import run_html

        return run_html(self, running=False)

    def plot(self):  # -> matplotlib.figure.Figure
        """Latency, cost and score distributions (needs the ``plot`` extra: matplotlib)."""
        from ..display.runs import run_plot

        return run_plot(self)

    # --- the saved form -------------------------------------------------------------------
    def header(self) -> dict[str, Any]:
        """Every saved field but the rows, in the file's order, then the summary (for a
        reader of the file; recomputed from the rows on load)."""
        data = self.model_dump()
        data["behaviour"] = {"name": data["behaviour"], "spec": data.pop("behaviour_spec")}
        data["summary"] = self.summary()
        return data

    def to_dict(self) -> dict[str, Any]:
        """Everything saved: the draft, behaviour name and spec, environment id, selection,
        estimate, summary, and per row the context, both answers and the metrics. It holds
        no provider key and no token: none of those is ever part of a run."""
        return {**self.header(), "rows": [r.to_dict() for r in self.rows]}

    def to_lines(self) -> Iterator[str]:
        """The JSON Lines form: a header line (with ``rows_follow``), then one line per row."""
        yield _json({**self.header(), "rows_follow": len(self.rows)}) + "\n"
        for row in self.rows:
            yield _json(row.to_dict()) + "\n"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RunRecord):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the run as JSON, or as JSON Lines when the name ends in ``.jsonl``; either
        gzip-compressed when it ends in ``.gz`` too. Written atomically, owner-only."""
        if plain_name(path).endswith(".jsonl"):
            return write_text(path, self.to_lines())
        return write_text(path, [_json(self.to_dict())])

    @classmethod
    def from_lines(cls, lines: Iterable[str]) -> RunRecord:
        """A record from its JSON Lines form, or from its JSON form in lines."""
        it = iter(lines)
        first = next(it, "")
        try:
            head = json.loads(first)
            if isinstance(head, dict) and "rows_follow" in head:
                rows_data = [json.loads(line) for line in it if line.strip()]
            else:
                head = json.loads(first + "".join(it))
                rows_data = head.get("rows") or [] if isinstance(head, dict) else []
        except json.JSONDecodeError:
            raise ValidationError("path: is not a saved replay (not JSON)", field="path") from None
        if not isinstance(head, dict) or head.get("format") != FORMAT:
            raise ValidationError("path: is not a saved replay", field="path")
        if int(head.get("format_version") or 0) > FORMAT_VERSION:
            raise ValidationError(
                "path: was saved by a newer prompt-tester-nb; upgrade to read it", field="path"
            )
        where: tuple[Any, ...] = ()
        try:
            rows = []
            for i, data in enumerate(rows_data):
                where = ("rows", i)
                rows.append(ReplayRow.from_dict(i, data))
            where = ()
            head.pop("rows", None)
            return cls.model_validate({**head, "rows": rows})
        except pydantic.ValidationError as exc:
            problem = exc.errors()[0]
            field = ".".join(str(p) for p in (*where, *problem["loc"]))
            raise ValidationError(
                f"path: is not a saved replay ({field}: {problem['msg']})", field="path"
            ) from None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RunRecord:
        """A saved replay (JSON or JSON Lines, gzip-compressed or not)."""
        with read_text(path, "a saved replay") as fh:
            return cls.from_lines(fh)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


__all__ = [
    "COLUMNS",
    "EMPTY_ESTIMATE",
    "FORMAT",
    "FORMAT_VERSION",
    "NOT_RUN",
    "SAVED_FIELDS",
    "UNRESOLVED",
    "ReplayEstimate",
    "ReplayRow",
    "RowRecord",
    "RunRecord",
]

"""Two experiments compared item by item: what regressed, what improved, and how sure to be.

A stored experiment is a replay's ``RunRecord`` (or the live ``ReplayRun`` holding one). Its
rows are matched with the other run's by **item**: a dataset item's ``item_id`` when the row
has one, else the log's ``context_id`` (a run over a log query). An item's repeats are taken
together, so two runs with different ``repeats`` still pair item for item.

**The pass rule** (one place, used by the comparison and by the CI gate's ``no_regressions``
and ``min_score`` policies): a repeat passes a scorer when its call was answered and the
scorer gave it at least the scorer's threshold (the record's ``scorers`` meta; 1.0 when the
meta names none). A scorer passes an item when it passes on **most** of the item's repeats
(more than half: one of two is not most). An item passes when every scorer passes it; a run
without scorers passes an item when most of its repeats were answered. A failed provider
call, a row not run or not sent, and a value a scorer left unscored each fail that repeat and
count 0 in the scorer's mean for the item (unlike ``RunRecord.score_summary``, which leaves
failed rows out: the gate must not reward a draft for failing).

The statistics (``judging.stats``): McNemar's exact test on the items whose pass/fail flipped
(``b`` passed only in the base, ``c`` only in the other), and per scorer the mean paired
difference (other minus base, over the items both runs scored) with a bootstrap 95 % interval
whose resampled items are shared by every scorer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import NotFoundError, ValidationError
from ..fingerprint import draft_sha256
from ..judging import stats
from ..models import ExperimentInfo
from ..models_used import models_differ
from ..replay.records import RunRecord

# a score this close below the threshold still passes (as ``Scorer.passed`` rounds)
TOLERANCE = 1e-12
# how many items the words and the HTML name before "and N more"
NAMED = 20


def item_key(row: Any) -> str:
    """The item a row belongs to: its dataset ``item_id``, else its log's ``context_id``."""
    return getattr(row, "item_id", None) or row.context_id


def _record(run: Any, name: str) -> RunRecord:
    record = getattr(run, "record", run)  # a live ReplayRun holds its record
    if not isinstance(record, RunRecord):
        raise ValidationError(
            f"{name}: must be a replay's run (a RunRecord or a ReplayRun), not {type(run).__name__}",
            field=name,
        )
    return record


def pass_marks(run: Any) -> dict[str, float]:
    """Each scorer's pass threshold, from the run's ``scorers`` meta (1.0 where none is
    given): scorer name -> mark, in the run's order."""
    record = _record(run, "run")
    return {m["name"]: float(m.get("threshold", 1.0)) for m in record.scorers}


def repeat_passed(row: Any, thresholds: dict[str, float]) -> bool:
    """Whether one row (one repeat of an item) passes every scorer: its call was answered and
    each scorer in ``thresholds`` (``pass_marks(run)``) scored it at or above its mark. The
    gate's JUnit output has one testcase per item and repeat: this is its verdict."""
    if not row.ok:
        return False
    scores = row.scores or {}
    return all(
        (value := scores.get(name)) is not None and value >= mark - TOLERANCE
        for name, mark in thresholds.items()
    )


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One item of a run under the pass rule (see the module's docstring)."""

    item_id: str
    repeats: int  # the item's rows in the run
    failed_calls: int  # of them, rows with no answer (a failed call, not run, not sent)
    answer: str | None  # the first repeat's answer (None when that call failed)
    scores: dict[str, float]  # scorer -> mean over repeats, a failed or unscored repeat as 0
    scorer_passed: dict[str, bool]  # scorer -> passed on most repeats
    passed: bool  # every scorer passed (no scorers: most repeats answered)
    latency_ms: float | None  # mean over the answered repeats that called a model
    cost_usd: float  # model and judge calls of every repeat
    models: tuple[str | None, ...] = ()  # per repeat, the model that answered (None: failed)


def _repeat(row: Any) -> int:
    return row.repeat


def _item(key: str, rows: list[Any], marks: list[tuple[str, float]]) -> ItemResult:
    """The pass rule over one item's rows. Reads the rows' fields directly (one loop, no
    property per field): 10,000 items take a few tens of milliseconds."""
    if len(rows) > 1:
        rows = sorted(rows, key=_repeat)
    n = len(rows)
    totals = [0.0] * len(marks)
    passes = [0] * len(marks)
    answered, latency_sum, latency_n, cost = 0, 0, 0, 0.0
    models: list[str | None] = []
    for r in rows:
        cost += r.judge_cost
        result = r.result
        if result is None or r.error_kind is not None:
            models.append(None)
            continue
        answered += 1
        models.append(result.model)
        if not result.cached:
            cost += result.price or 0.0
            if result.latency_ms is not None:
                latency_sum += result.latency_ms
                latency_n += 1
        scores = r.scores
        if scores:
            for j, (name, mark) in enumerate(marks):
                value = scores.get(name)
                if value is not None:
                    totals[j] += value
                    if value >= mark - TOLERANCE:
                        passes[j] += 1
    scorer_passed = {name: 2 * passes[j] > n for j, (name, _) in enumerate(marks)}
    return ItemResult(
        item_id=key,
        repeats=n,
        failed_calls=n - answered,
        answer=rows[0].new,
        scores={name: totals[j] / n for j, (name, _) in enumerate(marks)},
        scorer_passed=scorer_passed,
        passed=all(scorer_passed.values()) if marks else 2 * answered > n,
        latency_ms=(latency_sum / latency_n) if latency_n else None,
        cost_usd=cost,
        models=tuple(models),
    )


def item_results(run: Any) -> dict[str, ItemResult]:
    """Every item of a run (``RunRecord`` or ``ReplayRun``) under the pass rule, keyed by
    item (``item_key``), in the order the run first met them."""
    record = _record(run, "run")
    grouped: dict[str, list[Any]] = {}
    for row in record.rows:
        grouped.setdefault(item_key(row), []).append(row)
    marks = list(pass_marks(record).items())
    return {key: _item(key, rows, marks) for key, rows in grouped.items()}


def scorer_means(items: dict[str, ItemResult]) -> dict[str, float]:
    """Per scorer, the mean over items of the item's mean (``item_results``): a failed call
    or an unscored repeat counts 0, as the gate's ``min_score`` wants. Empty with no item."""
    results = list(items.values())
    if not results:
        return {}
    names = list(results[0].scores)
    n = len(results)
    return {name: sum(r.scores.get(name, 0.0) for r in results) / n for name in names}


def _named(keys: list[str]) -> str:
    shown = ", ".join(keys[:NAMED])
    return shown + (f" and {len(keys) - NAMED} more" if len(keys) > NAMED else "")


class ExperimentComparison:
    """Two runs over the same items, item by item: ``base`` (the baseline, usually the
    dataset's blessed experiment) and ``other`` (the candidate). Build it with
    ``compare_runs``.

    * ``to_dataframe()``: one row per item both runs hold, regressions first.
    * ``regressions`` / ``improvements``: the same columns, only the items that passed in the
      base and fail in the other (or the reverse), in item order (DataFrames; their
      ``item_id`` column names them).
    * ``summary()``: matched and unmatched items, McNemar's exact test, per scorer the mean
      paired difference with its bootstrap 95 % interval, and ``differences``.
    * ``differences``: what else differs between the runs, in words.
    * ``answers(item_id)``: both answers of one item (the first repeat's), for a word diff.
    * ``to_dict()``: the summary and the table's rows as plain values.
    """

    def __init__(
        self,
        base: Any,
        other: Any,
        base_info: ExperimentInfo | None = None,
        other_info: ExperimentInfo | None = None,
    ) -> None:
        self.base = _record(base, "base")
        self.other = _record(other, "other")
        for name, info in (("base_info", base_info), ("other_info", other_info)):
            if info is not None and not isinstance(info, ExperimentInfo):
                raise ValidationError(
                    f"{name}: must be an ExperimentInfo (an experiment's header) or None",
                    field=name,
                )
        self.base_info = base_info
        self.other_info = other_info
        self.base_items = item_results(self.base)
        self.other_items = item_results(self.other)
        other_items = self.other_items
        # items both runs hold, in the base's order; then those only one side holds
        self.items: list[str] = [k for k in self.base_items if k in other_items]
        self.only_in_base: list[str] = [k for k in self.base_items if k not in other_items]
        self.only_in_other: list[str] = [k for k in other_items if k not in self.base_items]
        base_names = [m["name"] for m in self.base.scorers]
        other_names = [m["name"] for m in self.other.scorers]
        self.scorers: list[str] = base_names + [n for n in other_names if n not in base_names]
        self.shared_scorers: list[str] = [n for n in base_names if n in other_names]
        self._frame: Any = None  # pandas.DataFrame, built once
        self._summary: dict[str, Any] | None = None
        self._differences: list[str] | None = None

    # --- items ------------------------------------------------------------------------
    @property
    def regressed(self) -> list[str]:
        """The items that passed in the base and fail in the other, in item order."""
        b, o = self.base_items, self.other_items
        return [k for k in self.items if b[k].passed and not o[k].passed]

    @property
    def improved(self) -> list[str]:
        """The items that failed in the base and pass in the other, in item order."""
        b, o = self.base_items, self.other_items
        return [k for k in self.items if not b[k].passed and o[k].passed]

    def answers(self, item_id: str) -> tuple[str | None, str | None]:
        """The base's and the other's answer to one item (each its first repeat's; None where
        that call failed): what the Experiments tab's word diff shows."""
        if item_id not in self.base_items and item_id not in self.other_items:
            raise NotFoundError(f"item {item_id!r} is in neither experiment")
        b, o = self.base_items.get(item_id), self.other_items.get(item_id)
        return (b.answer if b else None, o.answer if o else None)

    # --- the table --------------------------------------------------------------------
    def to_dataframe(self):  # -> pandas.DataFrame
        """One row per item both runs hold: regressions first, then the rest in item order.

        Columns: ``item_id``; ``base_answer``, ``other_answer`` (the first repeat's);
        ``base_repeats``, ``other_repeats``; ``base_failed_calls``, ``other_failed_calls``;
        per scorer ``<scorer>_base``, ``<scorer>_other`` (0-1, the mean over repeats, a failed
        or unscored repeat as 0; NaN where that run has no such scorer) and ``<scorer>_delta``
        (other minus base); ``base_passed``, ``other_passed``, ``regression``,
        ``improvement``; ``base_latency_ms``, ``other_latency_ms`` (mean over answered
        repeats that called a model); ``base_cost_usd``, ``other_cost_usd`` (model and judge
        calls)."""
        if self._frame is None:
            self._frame = self._build_frame()
        return self._frame.copy()

    def _build_frame(self):
        import numpy as np
        import pandas as pd

        b, o = self.base_items, self.other_items
        regressed = set(self.regressed)
        order = [k for k in self.items if k in regressed] + [
            k for k in self.items if k not in regressed
        ]
        bs = [b[k] for k in order]
        os_ = [o[k] for k in order]
        data: dict[str, Any] = {
            # object columns even when empty (an empty list would read as float)
            "item_id": np.array(order, dtype=object),
            "base_answer": np.array([r.answer for r in bs], dtype=object),
            "other_answer": np.array([r.answer for r in os_], dtype=object),
            "base_repeats": np.array([r.repeats for r in bs], dtype="int64"),
            "other_repeats": np.array([r.repeats for r in os_], dtype="int64"),
            "base_failed_calls": np.array([r.failed_calls for r in bs], dtype="int64"),
            "other_failed_calls": np.array([r.failed_calls for r in os_], dtype="int64"),
        }
        nan = float("nan")
        for name in self.scorers:
            before = np.array([r.scores.get(name, nan) for r in bs], dtype=float)
            after = np.array([r.scores.get(name, nan) for r in os_], dtype=float)
            data[f"{name}_base"] = before
            data[f"{name}_other"] = after
            data[f"{name}_delta"] = after - before
        base_passed = np.array([r.passed for r in bs], dtype=bool)
        other_passed = np.array([r.passed for r in os_], dtype=bool)
        data["base_passed"] = base_passed
        data["other_passed"] = other_passed
        data["regression"] = base_passed & ~other_passed
        data["improvement"] = ~base_passed & other_passed
        data["base_latency_ms"] = np.array(
            [nan if r.latency_ms is None else r.latency_ms for r in bs], dtype=float
        )
        data["other_latency_ms"] = np.array(
            [nan if r.latency_ms is None else r.latency_ms for r in os_], dtype=float
        )
        data["base_cost_usd"] = np.array([r.cost_usd for r in bs], dtype=float)
        data["other_cost_usd"] = np.array([r.cost_usd for r in os_], dtype=float)
        return pd.DataFrame(data)

    @property
    def regressions(self):  # -> pandas.DataFrame
        """``to_dataframe()``'s rows of the items that passed in the base and fail in the
        other, in item order (a DataFrame; empty when none regressed)."""
        frame = self.to_dataframe()
        return frame[frame["regression"]].reset_index(drop=True)

    @property
    def improvements(self):  # -> pandas.DataFrame
        """``to_dataframe()``'s rows of the items that failed in the base and pass in the
        other, in item order."""
        frame = self.to_dataframe()
        return frame[frame["improvement"]].reset_index(drop=True)

    # --- the figures ------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """The paired figures (plain values, JSON-ready):

        ``items`` (matched), ``only_in_base`` and ``only_in_other`` (``{"count", "items"}``),
        ``base_passed`` / ``other_passed`` (items) and their rates, ``regressions`` (b) and
        ``improvements`` (c), ``mcnemar`` (``{"b", "c", "p_value"}``: exact, two-sided),
        ``scorers`` (per scorer both runs have: ``n``, ``base_mean``, ``other_mean``,
        ``mean_difference`` = other minus base, its ``ci95`` by a paired bootstrap, 2,000
        resamples, seed 0, None under two items) and ``differences`` (words)."""
        if self._summary is None:
            self._summary = self._build_summary()
        return json.loads(json.dumps(self._summary))  # a copy the caller may change

    def _build_summary(self) -> dict[str, Any]:
        b, o = self.base_items, self.other_items
        n = len(self.items)
        base_passed = sum(1 for k in self.items if b[k].passed)
        other_passed = sum(1 for k in self.items if o[k].passed)
        regressions, improvements = len(self.regressed), len(self.improved)
        columns = [
            ([b[k].scores[name] for k in self.items], [o[k].scores[name] for k in self.items])
            for name in self.shared_scorers
        ]
        scorers: dict[str, Any] = {}
        if n and columns:
            import numpy as np

            before = np.array([c[0] for c in columns], dtype=float).T  # items x scorers
            after = np.array([c[1] for c in columns], dtype=float).T
            diffs = after - before
            intervals = stats.bootstrap_mean_columns(diffs)
            for j, name in enumerate(self.shared_scorers):
                ci = intervals[j]
                scorers[name] = {
                    "n": n,
                    "base_mean": float(before[:, j].mean()),
                    "other_mean": float(after[:, j].mean()),
                    "mean_difference": float(diffs[:, j].mean()),
                    "ci95": None if ci is None else [ci[0], ci[1]],
                }
        else:
            for name in self.shared_scorers:
                scorers[name] = {
                    "n": 0,
                    "base_mean": None,
                    "other_mean": None,
                    "mean_difference": None,
                    "ci95": None,
                }
        return {
            "items": n,
            "only_in_base": {"count": len(self.only_in_base), "items": list(self.only_in_base)},
            "only_in_other": {
                "count": len(self.only_in_other),
                "items": list(self.only_in_other),
            },
            "base_passed": base_passed,
            "other_passed": other_passed,
            "base_pass_rate": base_passed / n if n else None,
            "other_pass_rate": other_passed / n if n else None,
            "regressions": regressions,
            "improvements": improvements,
            "mcnemar": {
                "b": regressions,
                "c": improvements,
                "p_value": stats.mcnemar_exact(regressions, improvements),
            },
            "scorers": scorers,
            "differences": self.differences,
        }

    # --- what else changed ------------------------------------------------------------
    @property
    def differences(self) -> list[str]:
        """Every difference between the two runs besides their answers, in words: first
        whether the draft changed (its SHA-256, ``version`` left out), then the prompt,
        environment, behaviour, models used, dataset and version (or log selection),
        repeats, scorers, how each run ended, and the items only one run holds. A reader of
        a like-for-like comparison sees here what else changed."""
        if self._differences is None:
            self._differences = self._build_differences()
        return list(self._differences)

    def _sha(self, record: RunRecord, info: ExperimentInfo | None) -> str:
        if info is not None and info.draft_sha256:
            return info.draft_sha256
        return draft_sha256(record.draft)

    def _build_differences(self) -> list[str]:
        base, other, bi, oi = self.base, self.other, self.base_info, self.other_info
        out: list[str] = []

        def pair(what: str, x: Any, y: Any) -> None:
            if x != y:
                out.append(f"{what}: {x} in base, {y} in other")

        sha_b, sha_o = self._sha(base, bi), self._sha(other, oi)
        lines_before = len(out)
        if sha_b == sha_o:
            draft_line = f"the draft is the same (SHA-256 {sha_b[:12]})"
        else:
            draft_line = f"the draft changed (SHA-256 {sha_b[:12]} in base, {sha_o[:12]} in other)"
        pair("prompt", base.draft.get("prompt_id"), other.draft.get("prompt_id"))
        if bi is not None and oi is not None:
            pair("the draft was opened from version", bi.prompt_version, oi.prompt_version)
        pair(
            "environment",
            base.env_name or base.env_id,
            other.env_name or other.env_id,
        )
        if base.behaviour != other.behaviour:
            pair("behaviour", base.behaviour, other.behaviour)
        elif base.behaviour_spec != other.behaviour_spec:
            out.append(f"behaviour {base.behaviour}: its spec differs between the runs")
        models = self._models()
        if models:
            out.append(f"models: {models}")
        ds_b, ds_o = _dataset(base, bi), _dataset(other, oi)
        if ds_b or ds_o:
            pair("dataset", ds_b or "a log query", ds_o or "a log query")
        else:
            keys = sorted(
                k
                for k in set(base.selection) | set(other.selection)
                if base.selection.get(k) != other.selection.get(k)
            )
            if keys:
                out.append(f"the log selection differs ({', '.join(keys)})")
        pair("repeats", base.repeats, other.repeats)
        out.extend(self._scorer_differences())
        for side, record, info in (("base", base, bi), ("other", other, oi)):
            stopped = record.stopped_reason or ("an internal error" if record.failure else None)
            if (info is not None and info.status == "incomplete") or stopped:
                why = f" (stopped: {stopped})" if stopped else ""
                out.append(f"the {side} run is incomplete{why}")
        if self.only_in_base:
            out.append(
                f"{len(self.only_in_base)} item(s) only in base: {_named(self.only_in_base)}"
            )
        if self.only_in_other:
            out.append(
                f"{len(self.only_in_other)} item(s) only in other: {_named(self.only_in_other)}"
            )
        if len(out) == lines_before:
            out.append(
                "nothing else differs: the same prompt, environment, behaviour, models, "
                "dataset, repeats and scorers"
            )
        return [draft_line, *out]

    def _models(self) -> str | None:
        """The models each side answered with, over the repeats both runs answered (an
        item's first repeat with the other's first, and so on)."""
        b, o = self.base_items, self.other_items
        pairs = (pair for k in self.items for pair in zip(b[k].models, o[k].models, strict=False))
        return models_differ(pairs, baseline="base", subject="other")

    def _scorer_differences(self) -> list[str]:
        out: list[str] = []
        metas_b = {m["name"]: m for m in self.base.scorers}
        metas_o = {m["name"]: m for m in self.other.scorers}
        only_b = [n for n in metas_b if n not in metas_o]
        only_o = [n for n in metas_o if n not in metas_b]
        if only_b:
            out.append(f"scorers only in base: {', '.join(only_b)}")
        if only_o:
            out.append(f"scorers only in other: {', '.join(only_o)}")
        for name in self.shared_scorers:
            mb, mo = metas_b[name], metas_o[name]
            if mb.get("kind") != mo.get("kind"):
                out.append(
                    f"scorer {name}: kind {mb.get('kind')} in base, {mo.get('kind')} in other"
                )
            tb, to = float(mb.get("threshold", 1.0)), float(mo.get("threshold", 1.0))
            if tb != to:
                out.append(f"scorer {name}: threshold {tb:g} in base, {to:g} in other")
        return out

    def to_dict(self) -> dict[str, Any]:
        """The comparison as plain values (for REST, Lambda and a stored copy): the
        ``summary()`` and ``items``, ``to_dataframe()``'s rows as dicts (NaN as None)."""
        frame = self.to_dataframe()
        frame = frame.astype(object).where(frame.notna(), None)
        return {"summary": self.summary(), "items": frame.to_dict(orient="records")}

    # --- display ----------------------------------------------------------------------
    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"<ExperimentComparison {s['items']} items; {s['regressions']} regressions,"
            f" {s['improvements']} improvements; McNemar p={s['mcnemar']['p_value']:.4g}>"
        )

    def _repr_html_(self) -> str:
        """The summary, the differences, then the regressions as a table."""
        from ..display.experiment_comparison import experiment_comparison_html

        return experiment_comparison_html(self)


def _dataset(record: RunRecord, info: ExperimentInfo | None) -> str | None:
    """``name@version`` of the dataset the run went over, or None for a log query."""
    if info is not None:
        name, version = info.dataset, info.dataset_version
    else:
        name, version = record.selection.get("dataset"), record.selection.get("dataset_version")
    if not name:
        return None
    return f"{name}@{version}" if version is not None and "@" not in str(name) else str(name)


def compare_runs(
    base: Any,
    other: Any,
    base_info: ExperimentInfo | None = None,
    other_info: ExperimentInfo | None = None,
) -> ExperimentComparison:
    """Compare two runs (``RunRecord`` or ``ReplayRun``) item by item; ``base_info`` and
    ``other_info`` are their stored headers when known (they name the dataset and version,
    the draft's SHA-256 and whether the run is complete)."""
    return ExperimentComparison(base, other, base_info, other_info)


__all__ = [
    "ExperimentComparison",
    "ItemResult",
    "compare_runs",
    "item_key",
    "item_results",
    "pass_marks",
    "repeat_passed",
    "scorer_means",
]

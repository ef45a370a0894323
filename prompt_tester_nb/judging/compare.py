"""Pairwise A/B: is the candidate better than the baseline (production, or another run)?

For every context the candidate answered, a pairwise judge is asked twice with the order
swapped: once with the candidate shown first (as A), once with the baseline first. A win or
a loss counts only when both orders agree; any disagreement is a tie, so a judge that always
prefers whatever it saw first produces ties, not wins. A call that fails or a reply that does
not parse makes that context an error (kept, with its reason; the comparison goes on).

``win_rate`` counts a tie as half a win, over the contexts judged (errors left out);
``ci95`` is its Wilson interval. A candidate "does not lose beyond its interval" when the
interval's upper end reaches 0.5.

A ``Comparison`` is a pydantic record: ``cmp.save(path)`` writes it as JSON (gzip when the
name ends in ``.gz``), ``pt.load_comparison(path)`` reads it back, equal to what was saved.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from ..engine.cache import AnswerCache
from ..engine.limiter import Limiter
from ..errors import PromptTesterError, ValidationError
from ..models_used import models_differ
from ..saved import read_text, write_text
from ..service import log_source
from ..validation import cache_path, require, whole_number
from . import prompts, stats
from .panel import JudgePanel
from .scorers import Pairwise, parse_winner

if TYPE_CHECKING:
    from ..engine.retry import RetryPolicy
    from ..service import EnvironmentScope


FORMAT: Literal["prompt-tester-nb/comparison"] = "prompt-tester-nb/comparison"
FORMAT_VERSION = 1


class PairVerdict(BaseModel):
    """One context judged twice: the candidate first, then the baseline first."""

    model_config = ConfigDict(extra="ignore")

    context_id: str
    repeat: int
    candidate: str
    baseline: str
    verdict: str | None = None  # "win", "loss", "tie" (for the candidate) or None (error)
    first: str | None = None  # the judge's winner with the candidate as A
    second: str | None = None  # the judge's winner with the baseline as A
    reason_first: str | None = None
    reason_second: str | None = None
    error: str | None = None
    cost: float = 0.0


def verdict_of(first: str, second: str) -> str:
    """Both orders must agree: A in the first order and B in the second is the candidate."""
    candidate_first = {"A": "candidate", "B": "baseline", "tie": "tie"}[first]
    candidate_second = {"A": "baseline", "B": "candidate", "tie": "tie"}[second]
    if candidate_first == candidate_second == "candidate":
        return "win"
    if candidate_first == candidate_second == "baseline":
        return "loss"
    return "tie"


# Standalone answer labels in a judge's reason: "A", "B", "answer A", "Answer B's", "the first
# answer". A bare "A" is an article as often as a label, so it counts as one only when the
# reason also names B, or when punctuation (not a word) follows it.
_ANSWER_LABEL = re.compile(r"\b(?:[Aa]nswer|[Rr]esponse) ([AB])\b")
_ORDINAL = re.compile(r"\b(?:[Tt]he )?(first|second) (answer|response)\b")
_BARE_B = re.compile(r"(?<![\w'\u2019-])B(?![\w-])")
_BARE_A_LABEL = re.compile(r"(?<![\w'\u2019-])A(?=[.,;:!?)]|'s|\u2019s|$)")
_BARE_A = re.compile(r"(?<![\w'\u2019-])A(?![\w-])")


DASH = "\u2013"  # between an interval's ends


def named_reason(reason: str | None, first: str, second: str) -> str:
    """A pairwise judge's reason with its answer labels ("A", "answer B", "the first
    answer") replaced by the names of what the judge saw in that order (``first`` was
    shown as A), so a person reads "production", "candidate", never a letter that the
    page's headers could contradict."""
    if not reason:
        return ""
    names = {"A": first, "B": second, "first": first, "second": second}
    text = _ANSWER_LABEL.sub(lambda m: f"the {names[m.group(1)]}", reason)
    text = _ORDINAL.sub(lambda m: f"the {names[m.group(1)]}", text)
    mentions_b = bool(_BARE_B.search(text))
    text = _BARE_B.sub(second, text)
    text = (_BARE_A if mentions_b else _BARE_A_LABEL).sub(first, text)
    return text[:1].upper() + text[1:]


def verdict_words(ci: tuple[float, float] | None, candidate: str = "the candidate") -> str:
    """The verdict in plain words with its numbers: "significantly worse: the 95% interval
    0.00-0.07 is below 0.50" (an en dash, not a hyphen), "no clear difference at this size:
    0.37-0.63", or "significantly better: ... above 0.50" (a tie counts half a win)."""
    if ci is None:
        return "nothing judged"
    low, high = ci
    if high < 0.5:
        return f"{candidate} is significantly worse: the 95% interval {low:.2f}{DASH}{high:.2f} is below 0.50"
    if low > 0.5:
        return f"{candidate} is significantly better: the 95% interval {low:.2f}{DASH}{high:.2f} is above 0.50"
    return f"no clear difference at this size: the 95% interval {low:.2f}{DASH}{high:.2f} includes 0.50"


class Comparison(BaseModel):
    """The outcome of ``s.compare``: counts, the win rate and its interval, every pair.

    Also its saved form: ``save(path)`` and ``load_comparison(path)``; the judge is saved as
    its rubric, behaviour and name (``Pairwise``), so a loaded comparison names it as before.
    """

    model_config = ConfigDict(extra="ignore")

    format: Literal["prompt-tester-nb/comparison"] = FORMAT
    format_version: int = FORMAT_VERSION
    judge: Pairwise
    baseline: str  # "production" or the baseline run's behaviour
    pairs: list[PairVerdict] = Field(default_factory=list)
    skipped: int = 0  # candidate rows with no answer, or no baseline answer to compare with
    # One line when the pairs' baseline answers came from other models than the candidate's
    # ("production used gpt-4o-mini on 9 rows; this run gpt-4-turbo"), else None.
    models: str | None = None
    draft_version: str | None = None  # the candidate draft's prompt version
    # pairs whose baseline answer came from another prompt version than the draft's
    other_version: int = 0

    @property
    def wins(self) -> int:
        return sum(p.verdict == "win" for p in self.pairs)

    @property
    def losses(self) -> int:
        return sum(p.verdict == "loss" for p in self.pairs)

    @property
    def ties(self) -> int:
        return sum(p.verdict == "tie" for p in self.pairs)

    @property
    def errors(self) -> int:
        return sum(p.verdict is None for p in self.pairs)

    @property
    def judged(self) -> int:
        return self.wins + self.losses + self.ties

    @property
    def win_rate(self) -> float | None:
        return (self.wins + 0.5 * self.ties) / self.judged if self.judged else None

    @property
    def ci95(self) -> tuple[float, float] | None:
        return stats.wilson(self.wins + 0.5 * self.ties, self.judged)

    @property
    def cost(self) -> float:
        return sum(p.cost for p in self.pairs)

    @property
    def baseline_name(self) -> str:
        """What the page calls the baseline: "production", or "baseline run 'x'"."""
        return "production" if self.baseline == "production" else f"baseline {self.baseline}"

    @property
    def verdict(self) -> str:
        """The verdict in plain words with its interval (``verdict_words``)."""
        return verdict_words(self.ci95)

    def reasons(self, pair: PairVerdict) -> tuple[str, str]:
        """The pair's two reasons, each with the judge's "A"/"B" named as what it saw in
        that order: (candidate shown first, baseline shown first)."""
        other = self.baseline_name
        return (
            named_reason(pair.error or pair.reason_first, "candidate", other),
            named_reason(pair.reason_second, other, "candidate"),
        )

    def summary(self) -> dict[str, Any]:
        rate = self.win_rate
        return {
            "baseline": self.baseline,
            "judge": self.judge.name,
            "pairs": len(self.pairs),
            "wins": self.wins,
            "losses": self.losses,
            "ties": self.ties,
            "errors": self.errors,
            "skipped": self.skipped,
            "draft_version": self.draft_version,
            "other_version_baselines": self.other_version,
            "win_rate": rate,
            "ci95": self.ci95,
            "rows_for_5pt": stats.rows_for_difference(rate) if rate is not None else None,
            "verdict": self.verdict,
            "cost": round(self.cost, 10),
            "models": self.models,
        }

    def to_dataframe(self):  # -> pandas.DataFrame
        import pandas as pd

        columns = [
            "context_id",
            "repeat",
            "verdict",
            "first",
            "second",
            "candidate",
            "baseline",
            "reason_first",
            "reason_second",
            "error",
        ]
        frame = pd.DataFrame(
            [{c: getattr(p, c) for c in columns} for p in self.pairs], columns=columns
        )
        # 1-based, as a person counts and as the app shows it (``PairVerdict.repeat`` is 0-based)
        frame["repeat"] = frame["repeat"] + 1
        return frame

    def __repr__(self) -> str:
        ci = self.ci95
        shown = f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "n/a"
        rate = f"{self.win_rate:.2f}" if self.win_rate is not None else "n/a"
        return (
            f"<Comparison vs {self.baseline}: {self.wins} wins, {self.losses} losses,"
            f" {self.ties} ties, {self.errors} errors; win rate {rate} {shown}>"
        )

    def version_note(self) -> str:
        """One line on pairs that compare across prompt versions ('' when none do)."""
        if not self.other_version:
            return ""
        draft = f"version {self.draft_version}" if self.draft_version else "unversioned"
        return (
            f"{self.other_version} of {len(self.pairs)} pairs have a baseline from another"
            f" prompt version than the draft's ({draft}): they compare versions, not only the"
            " change."
        )

    def _repr_html_(self) -> str:
        """The counts and win rate, then the pairs, losses first."""
        from ..display.comparisons import comparison_html

        return comparison_html(self)

    # --- the saved form -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Everything saved: the judge, the baseline, every pair, and the summary (for a
        reader of the file; recomputed from the pairs on load)."""
        return {**self.model_dump(), "summary": self.summary()}

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the comparison as JSON (gzip-compressed when the name ends in ``.gz``).
        Written atomically, owner-only; ``load_comparison(path)`` reads it back."""
        return write_text(path, [json.dumps(self.to_dict(), ensure_ascii=False, default=str)])

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Comparison:
        """A saved comparison (``save``), gzip-compressed or not."""
        with read_text(path, "a saved comparison") as fh:
            try:
                data = json.load(fh)
            except json.JSONDecodeError:
                raise ValidationError(
                    "path: is not a saved comparison (not JSON)", field="path"
                ) from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValidationError("path: is not a saved comparison", field="path")
        if int(data.get("format_version") or 0) > FORMAT_VERSION:
            raise ValidationError(
                "path: was saved by a newer prompt-tester-nb; upgrade to read it", field="path"
            )
        try:
            return cls.model_validate(data)
        except pydantic.ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"])
            raise ValidationError(
                f"path: is not a saved comparison ({where}: {problem['msg']})", field="path"
            ) from None


def load_comparison(path: str | os.PathLike[str]) -> Comparison:
    """A comparison saved with ``cmp.save(path)``."""
    return Comparison.load(path)


def compare(
    scope: EnvironmentScope,
    candidate: Any,
    baseline: Any = None,
    judge: Pairwise | None = None,
    *,
    retry: RetryPolicy,
    concurrency: int = 16,
    cache: Any = None,
    progress: Callable[[int, int], Any] | None = None,
    source: Any = "production",
    offline: bool = False,
) -> Comparison:
    """Judge ``candidate`` (a replay run) against ``baseline`` (None: production's answers;
    or another run of the same logs) with the pairwise ``judge``, both orders.

    Against production, ``source`` says whose logged answers are the baseline: production
    calls only by default, so a row of a log the Tester made is skipped unless ``"all"`` (or
    ``"prompt-tester"``) is asked for. ``offline=True`` (with ``cache``) asks no judge: a
    verdict the cache lacks is that pair's error (``engine.cache.OFFLINE_MISS``)."""
    source = log_source(source)
    require(
        isinstance(judge, Pairwise), "judge", "must be pt.scorers.pairwise(rubric, behaviour=…)"
    )
    judge = cast(Pairwise, judge)  # checked just above
    require(hasattr(candidate, "rows"), "candidate", "must be a replay run (s.replay(…))")
    if baseline is not None:
        require(
            hasattr(baseline, "rows"), "baseline", "must be a replay run, or None for production"
        )
    whole_number(concurrency, "concurrency", 1, 64)
    require(
        not offline or cache is not None, "cache", "an offline comparison needs an answers file"
    )
    answers: dict[tuple[str, int], str] = {}
    baseline_models: dict[str, str | None] = {}
    draft_version = (getattr(candidate, "draft", None) or {}).get("version")
    draft_version = None if draft_version is None else str(draft_version)
    baseline_version = None
    if baseline is not None:
        found = (getattr(baseline, "draft", None) or {}).get("version")
        baseline_version = None if found is None else str(found)
        for row in baseline.rows:
            if row.ok:
                baseline_models.setdefault(row.context_id, row.model)
                answers.setdefault((row.context_id, row.repeat), row.new)
                answers.setdefault(
                    (row.context_id, -1), row.new
                )  # any repeat, for a 1-run baseline
    comparison = Comparison(
        judge=judge,
        baseline="production" if baseline is None else f"run {baseline.behaviour!r}",
        draft_version=draft_version,
    )
    jobs: list[tuple[PairVerdict, Any]] = []
    models: list[tuple[str | None, str | None]] = []
    for row in candidate.rows:
        if not row.ok:
            comparison.skipped += 1
            continue
        if baseline is None:
            row_source = getattr(row, "source", "production")
            other = row.production if source in ("all", row_source) else None
        else:
            other = answers.get((row.context_id, row.repeat), answers.get((row.context_id, -1)))
        if other is None:
            comparison.skipped += 1
            continue
        pair = PairVerdict(
            context_id=row.context_id, repeat=row.repeat, candidate=row.new, baseline=other
        )
        theirs = (
            getattr(row, "production_model", None)
            if baseline is None
            else baseline_models.get(row.context_id)
        )
        models.append((theirs, row.model))
        comparison.pairs.append(pair)
        # production's answer was made by the log's version; a run's by its draft's
        other_version = getattr(row, "version", None) if baseline is None else baseline_version
        if other_version is not None and str(other_version) != draft_version:
            comparison.other_version += 1
        jobs.append((pair, row.context))
    comparison.models = models_differ(
        models, baseline="production" if baseline is None else comparison.baseline
    )
    if not jobs:
        return comparison
    answer_cache = None
    cache_file = cache_path(cache)
    if cache_file is not None:
        answer_cache = AnswerCache(cache_file, offline=offline)
    panel = JudgePanel(scope, retry, answer_cache)
    panel.prepare(judge.behaviour, prompts.MARKER_PAIRWISE)
    panel.limiter = Limiter(concurrency, retry.grow_every, 0.0)
    done = 0

    def run(job: tuple[PairVerdict, Any]) -> None:
        pair, context = job
        try:
            first_reply, cost_1 = panel.ask(
                judge.behaviour, *judge.request(context, pair.candidate, pair.baseline), pair.repeat
            )
            second_reply, cost_2 = panel.ask(
                judge.behaviour, *judge.request(context, pair.baseline, pair.candidate), pair.repeat
            )
        except PromptTesterError as exc:
            pair.error = f"{type(exc).__name__}: {exc.message}"
            return
        pair.cost = cost_1 + cost_2
        pair.first, pair.reason_first = parse_winner(first_reply)
        pair.second, pair.reason_second = parse_winner(second_reply)
        if pair.first is None or pair.second is None:
            pair.error = pair.reason_first if pair.first is None else pair.reason_second
            pair.first = pair.first if pair.first in ("A", "B", "tie") else None
            return
        pair.verdict = verdict_of(pair.first, pair.second)

    try:
        with ThreadPoolExecutor(
            max_workers=concurrency, thread_name_prefix="prompt-tester-judge"
        ) as pool:
            for _ in pool.map(run, jobs):
                done += 1
                if progress is not None:
                    progress(done, len(jobs))
    finally:
        if answer_cache is not None:
            answer_cache.close()
        closer = getattr(progress, "close", None)
        if callable(closer):
            closer()
    return comparison


__all__ = [
    "Comparison",
    "PairVerdict",
    "ValidationError",
    "compare",
    "load_comparison",
    "named_reason",
    "verdict_of",
    "verdict_words",
]

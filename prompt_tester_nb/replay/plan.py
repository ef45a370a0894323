"""Planning one row: a log (or a dataset item, shaped as one: ``ItemEntry``) becomes a
``ReplayRow`` and, unless settled at once, a prepared call.

Each row is resolved by flow-prompt (through the engine's ``prepare``) before its call: the
token count it gives feeds the row's estimate, the cache key and the call itself. A row the
draft cannot be sent with is settled with the engine's ``PromptError`` kind and message (the
Tester says the same for that context); a row whose context lacks a variable the draft uses is
settled as ``unresolved`` once resolved, before any estimate or call (unless the run says
``unresolved="send"``); a row whose exact request is in the answer cache is settled from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..behaviour_spec import logged_model_label
from ..engine.cache import AnswerCache
from ..errors import PromptError, ProviderError
from ..models import DatasetItem, LogEntry
from .rows import UNRESOLVED, ReplayRow

if TYPE_CHECKING:
    from ..engine.prepared import PreparedCall, PreparedDraft


class ItemEntry(LogEntry):
    """A dataset item in the shape of the log it stands for, so the scheduler runs it as it
    runs a log: its context, its prompt version, its baseline answer as the response and its
    copied model details as the metrics (``as-logged`` reads the model there, so it runs
    even when the log is gone)."""

    item_id: str

    @classmethod
    def of(cls, item: DatasetItem, env_id: str) -> ItemEntry:
        """The item's baseline is its ``production`` answer, else its ``expected`` one; an
        item added from a frame (no log) stands under its item id as its context id."""
        baseline = item.production if item.production is not None else item.expected
        return cls(
            item_id=item.item_id,
            context_id=item.source_context_id or item.item_id,
            prompt_id=item.prompt_id,
            timestamp=0,
            env_id=env_id,
            version=item.prompt_version,
            context=item.context,
            response={} if baseline is None else {"content": baseline},
            metrics={"ai_model_details": item.model} if item.model else {},
            ideal_answer=item.expected,
        )


@dataclass(slots=True)
class Basis:
    """What a row's estimate was made of: its first attempt, prompt and sample tokens."""

    where: str | None  # None: no model call (the answer came from the cache)
    prompt_tokens: int
    sample_tokens: int
    judge_cost: float = 0.0  # the estimate of the row's judge calls
    judge_calls: int = 0
    answered: bool = False  # a judged row whose answer landed: only its verdicts are owed


def new_row(index: int, entry: LogEntry, repeat: int = 0) -> ReplayRow:
    """The row's inputs: what the replay needs of the log (the rest of it is dropped)."""
    sample = (entry.metrics or {}).get("sample_tokens_used")
    has_answer = isinstance(entry.response, dict) and entry.response.get("content") is not None
    return ReplayRow(
        index=index,
        context_id=entry.context_id,
        context=entry.context,
        production=entry.response_content if has_answer else None,
        production_sample_tokens=(
            int(sample) if isinstance(sample, int | float) and sample >= 0 else None
        ),
        repeat=repeat,
        ideal=getattr(entry, "ideal_answer", None),
        source=entry.source,
        production_model=logged_model_label((entry.metrics or {}).get("ai_model_details")),
        version=entry.version,
        item_id=entry.item_id if isinstance(entry, ItemEntry) else None,
    )


def unresolved_message(names: list[str], what: str = "log") -> str:
    """Why a row was not sent, naming the variables its context (a ``log``'s or an
    ``item``'s) lacks."""
    listed = ", ".join("{" + n + "}" for n in names)
    example = ", ".join(f"{n!r}: ..." for n in names)
    return (
        f"not sent: the {what}'s context lacks {listed}, which the draft uses; give"
        f" defaults={{{example}}} or unresolved='send' to send it anyway"
    )


def plan_row(
    prepared: PreparedDraft,
    row: ReplayRow,
    cache: AnswerCache | None,
    unresolved: str = "skip",
    defaults: dict[str, str] | None = None,
) -> tuple[PreparedCall, Basis] | None:
    """The row's prepared call and estimate basis, or None when the row is settled already.

    ``defaults`` fill the variables the log's context lacks (the log's own values win); a
    variable still missing settles the row as ``unresolved`` (no call, no cost) unless
    ``unresolved="send"``. Either way the row lists the variables in
    ``unresolved_variables``. As-logged, a log that names no model, or one whose model has no
    key, fails its row."""
    context = {**defaults, **row.context} if defaults else row.context
    row.unresolved_variables = prepared.missing(context)
    try:  # resolved first: a draft that cannot be sent gets the Tester's verdict
        call = prepared.prepare(context, row.production_model)
    except PromptError as exc:
        row.fail(exc.kind, exc.message)
        return None
    except ProviderError as exc:  # as-logged only: a behaviour's keys were checked up front
        row.fail(exc.kind or "setup", exc.message)
        row.failed_model = row.production_model
        return None
    if call.unresolved_variables and unresolved == "skip":  # resolved, never sent
        what = "log" if row.item_id is None else "item"
        row.fail(UNRESOLVED, unresolved_message(call.unresolved_variables, what))
        return None
    if cache is not None:
        hit = cache.find(prepared, call, row.repeat)
        if hit is not None:
            row.result = hit
            return None
    sample = (
        row.production_sample_tokens
        if row.production_sample_tokens is not None
        else prepared.count_sample_tokens(call.first, row.production)
    )
    row.estimated_cost = prepared.price(call.first, call.prompt_tokens, sample)
    return call, Basis(call.first, call.prompt_tokens, sample)


def judge_basis(row: ReplayRow, scorers, panel) -> tuple[int, float]:
    """(judge calls, their estimated cost) for a row, the production answer standing in for
    the new one (which is not known yet). A row answered from the cache has its answer, so a
    verdict the cache also holds is no call (a rerun of a recorded run costs nothing)."""
    if panel is None:
        return 0, 0.0
    calls, cost = 0, 0.0
    known = row.cached and row.new is not None
    stand_in = (row.new if known else row.production) or ""
    for scorer in scorers.judges:
        built = scorer.request(row, stand_in or " ")
        if not isinstance(built, tuple):  # e.g. no ideal answer: no call
            continue
        if known and panel.has_verdict(scorer.behaviour, *built, repeat=row.repeat):
            continue
        calls += 1
        try:
            cost += panel.estimate(scorer.behaviour, *built)
        except Exception:  # noqa: S112 (an estimate is best effort; the call will tell)
            continue
    return calls, cost

"""Planning one row: a log becomes a ``ReplayRow`` and, unless settled at once, a prepared call.

Each row is resolved by flow-prompt (through the engine's ``prepare``) before its call: the
token count it gives feeds the row's estimate, the cache key and the call itself. A row the
draft cannot be sent with is settled with the engine's ``PromptError`` kind and message (the
Tester says the same for that context); a row whose exact request is in the answer cache is
settled from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import PromptError
from ..models import LogEntry
from .cache import AnswerCache
from .records import ReplayRow

if TYPE_CHECKING:
    from ..engine.prepared import PreparedCall, PreparedDraft


@dataclass(slots=True)
class Basis:
    """What a row's estimate was made of: its first attempt, prompt and sample tokens."""

    where: str
    prompt_tokens: int
    sample_tokens: int


def new_row(index: int, entry: LogEntry) -> ReplayRow:
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
    )


def from_cache(prepared: PreparedDraft, cache: AnswerCache, row: ReplayRow, call) -> bool:
    """Settle the row from the cache if any attempt's exact request was answered before."""
    for where in call.order:
        if where not in prepared.models:
            continue
        try:
            key = prepared.request_key(call, where)
        except PromptError:  # this attempt's model cannot take the context
            continue
        hit = cache.get(key)
        if hit is not None:
            row.result = hit
            return True
    return False


def plan_row(
    prepared: PreparedDraft, row: ReplayRow, cache: AnswerCache | None
) -> tuple[PreparedCall, Basis] | None:
    """The row's prepared call and estimate basis, or None when the row is settled already."""
    try:
        call = prepared.prepare(row.context)
    except PromptError as exc:
        row.fail(exc.kind, exc.message)
        return None
    if cache is not None and from_cache(prepared, cache, row, call):
        return None
    sample = (
        row.production_sample_tokens
        if row.production_sample_tokens is not None
        else prepared.count_tokens(call.first, row.production)
    )
    row.estimated_cost = prepared.price(call.first, call.prompt_tokens, sample)
    return call, Basis(call.first, call.prompt_tokens, sample)

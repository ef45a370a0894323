"""Readable row labels for the grids: when a log was made and what it was about.

A raw context id (``support-reply#1796022655594``) says nothing to a person and wraps
mid-number in a narrow column; the grids show ``"Nov 01 12:03 · “Where is my order…”"``
instead (the time from the id, the longest text of the context, cut), and the detail pane
under the grid shows the id itself, selected whole by one click (``id_html``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..ids import ContextId
from ._common import esc
from .grid import cut

SUMMARY = 48  # characters of the context's text in a label


def when(context_id: str) -> str:
    """The log's time from its id (UTC, minutes), or "" when the id has no timestamp."""
    try:
        ms = ContextId.parse(context_id).timestamp
        return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%b %d %H:%M")
    except (ValueError, OverflowError, OSError):
        return ""


# the variables that usually hold what the person asked, looked at before the longest text
# (a list of labels can be longer than a short message)
ASKED = ("message", "question", "query", "input", "request", "text", "customer_message")


def context_summary(context: Any, n: int = SUMMARY) -> str:
    """What the log was about: the context's message (or question, query, ...) if it has
    one, else its longest text value, cut to ``n``."""
    if not isinstance(context, dict):
        return ""
    for name in ASKED:
        value = context.get(name)
        if isinstance(value, str) and value.strip():
            return f"“{cut(value, n)}”"
    texts = [v for v in context.values() if isinstance(v, str) and v.strip()]
    if not texts:
        return ""
    return f"“{cut(max(texts, key=len), n)}”"


def row_label(context_id: str, context: Any) -> str:
    """``"Nov 01 12:03 · “Where is my order…”"``: the grids' context cell."""
    parts = [p for p in (when(context_id), context_summary(context)) if p]
    return " · ".join(parts) or context_id


def id_html(context_id: str) -> str:
    """The raw id, selected whole by one click (to copy it), with a hint saying so."""
    return (
        f"<code class='pt-context-id' style='user-select:all;cursor:copy'"
        f" title='Click to select the id, then copy it'>{esc(context_id)}</code>"
    )

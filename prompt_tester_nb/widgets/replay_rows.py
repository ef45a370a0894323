"""The replay grid's rows: its columns, a row's cells and search text, the order once a
run ends, and a selected row's detail (its scores and reasons, its diff against production).

Kept apart from the replay tool's widget so what a row shows is found by its name and can be
read (and tested) without a running replay.
"""

from __future__ import annotations

from typing import Any

from ._common import esc
from .diff_view import word_diff_html
from .grid import Column, cut, num
from .labels import id_html, row_label
from .tester_views import scores_table_html


def replay_columns(metas: list[dict[str, Any]]) -> list[Column]:
    """The replay grid's columns: the row, its verdicts, one per scorer, the judges' reason,
    production's answer and the new one, then its metrics (on the right, where the grid
    scrolls sideways when narrow)."""
    judged = any(m.get("kind") == "judge" for m in metas)
    return [
        Column("context", width="150px"),
        Column("version", width="56px", numeric=True),
        Column("repeat", width="56px", numeric=True),
        Column("changed", width="66px"),
        Column("similarity", width="84px", numeric=True),
        *(Column(scorer_title(m["name"]), width="84px", numeric=True) for m in metas),
        *((Column("judge's reason", width="170px"),) if judged else ()),
        Column("error", width="100px"),
        Column("production's answer"),
        Column("new answer"),
        Column("latency (s)", width="64px", numeric=True),
        Column("sample tokens", width="62px", numeric=True),
        Column("cost (USD)", width="70px", numeric=True),
    ]


BASE_TITLES = {
    "context",
    "version",
    "repeat",
    "changed",
    "similarity",
    "latency (s)",
    "sample tokens",
    "cost (USD)",
    "error",
    "new answer",
    "production's answer",
    "judge's reason",
}


def scorer_title(name: str) -> str:
    """A scorer's column header: its name, unless a base column has that name."""
    return f"{name} (scorer)" if name in BASE_TITLES else name


def row_cells(row: Any, metas: list[dict[str, Any]]) -> list[str]:
    """A replay row's summary cells, in ``replay_columns``' order."""
    scores = row.scores or {}
    changed = "" if row.changed is None else ("changed" if row.changed else "same")
    latency = row.latency_ms
    judges = [m["name"] for m in metas if m.get("kind") == "judge"]
    reasons = row.reasons or {}
    reason = " · ".join(str(reasons[n]) for n in judges if reasons.get(n))
    return [
        row_label(row.context_id, row.context),
        row.version or "",
        str(row.repeat + 1),  # 1-based, as the app and the DataFrame count
        changed,
        num(row.similarity, 2),
        *(num(scores.get(m["name"]), 2) for m in metas),
        *((cut(reason, 120),) if judges else ()),
        cut(row.error, 120),
        cut(row.production, 120),
        cut(row.new),
        num(None if latency is None else latency / 1000, 2),
        num(row.sample_tokens, 0),
        num(row.price, 5),
    ]


def row_text(row: Any) -> str:
    """What the grid's search looks in: the id, the whole context, both whole answers, the
    reasons and the error (not the cut cells)."""
    return " ".join(
        str(x or "")
        for x in (
            row_label(row.context_id, row.context),  # what the context cell shows
            row.context_id,
            row.context,
            row.production,
            row.new,
            *(row.reasons or {}).values(),
            row.error,
        )
    )


def view_order(row: Any) -> tuple[Any, ...]:
    """The grid's order once a run ends: changed rows first, then errors, least similar first."""
    return (
        row.changed is not True,
        row.error is None,
        row.similarity or 0,
        row.context_id,
        row.repeat,
    )


def row_detail_html(row: Any, metas: list[dict[str, Any]]) -> str:
    """A row's scores, whether each passes, and why (a judge's reason, a check's error)."""
    head = (
        f"<div><b>{esc(row_label(row.context_id, row.context))}</b> · log"
        f" {id_html(row.context_id)} · repeat {row.repeat + 1}</div>"
    )
    table = scores_table_html(row, metas)
    ideal = (
        f"<div><b>Ideal answer</b></div><pre class='pt-pre'>{esc(row.ideal)}</pre>"
        if row.ideal
        else ""
    )
    return head + table + ideal


def row_diff_html(row: Any) -> str:
    """A row's error, or its new answer against production's, word by word."""
    if row.error:
        return f"<div class='pt-error'>{esc(row.error)}</div>"
    return (
        '<div class="pt-ok">Same answer as production.</div>'
        if (row.production or "") == (row.new or "")
        else "<b>Differences</b> (production → this replay)"
        + word_diff_html(row.production or "", row.new or "", "production's answer", "this replay")
    )

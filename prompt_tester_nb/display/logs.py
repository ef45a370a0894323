"""The ``_repr_html_`` of a test result, a log and a page of logs (``models``).

Compact HTML tables, every text escaped with ``html.escape`` (a logged context may hold
``<script>``), long texts cut to a preview. The models hold no secret, and nothing here adds
one: no cursor, token or key is ever rendered.
"""

from __future__ import annotations

import html
import json
from typing import Any

PREVIEW = 160  # characters of a text shown in a table cell
TABLE = 'class="pt-table" style="border-collapse:collapse;text-align:left"'
CELL = "padding:1px 8px;vertical-align:top;text-align:left"
PRE = "white-space:pre-wrap;word-break:break-word;margin:0;max-height:22em;overflow:auto"


def esc(value: Any) -> str:
    """The value as escaped text (None as an empty cell)."""
    return html.escape("" if value is None else str(value))


def preview(value: Any, limit: int = PREVIEW) -> str:
    """A one-line preview of a text or a JSON value, cut at ``limit`` characters, escaped."""
    if isinstance(value, str):
        text = value
    elif value is None:
        text = ""
    else:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return esc(text)


def _number(value: Any, fmt: str = "{:g}") -> str:
    return "" if value is None else esc(fmt.format(value))


def _table(header: list[str], rows: list[list[str]]) -> str:
    """Cells are already escaped HTML."""
    head = "".join(f'<th style="{CELL}">{esc(h)}</th>' for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td style="{CELL}">{cell}</td>' for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table {TABLE}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def result_html(result: Any) -> str:
    """A ``TestResult``: its metrics, notes and answer."""
    price = "" if result.price is None else esc(f"${result.price:.5f}")
    facts = _table(
        ["model", "attempt", "latency", "prompt tokens", "sample tokens", "cost", "finish"],
        [
            [
                esc(result.model),
                esc(result.attempt),
                esc(f"{result.latency_ms} ms"),
                _number(result.prompt_tokens),
                _number(result.sample_tokens),
                price,
                esc(result.finish_reason),
            ]
        ],
    )
    notes = []
    if result.unresolved_variables:
        names = ", ".join("{" + n + "}" for n in result.unresolved_variables)
        notes.append(f"<div>⚠ Not in the context, sent as written: {esc(names)}</div>")
    if result.cached:
        notes.append("<div>answered from the replay cache</div>")
    if result.context_id:
        notes.append(f"<div>logged as <code>{esc(result.context_id)}</code></div>")
    content = f'<pre style="{PRE}">{esc(result.content)}</pre>'
    return f"<div>{facts}{''.join(notes)}{content}</div>"


def log_entry_html(entry: Any) -> str:
    """A ``LogEntry``: its metrics, context, response and ideal answer."""
    row = entry.to_row()
    facts = _table(
        ["context_id", "time", "prompt", "version", "latency ms", "price", "model", "source"],
        [
            [
                f"<code>{esc(entry.context_id)}</code>",
                esc(entry.time.isoformat(timespec="seconds")),
                esc(entry.prompt_id),
                esc(entry.version),
                _number(row["latency_ms"]),
                _number(row["price"]),
                esc(row["model"]),
                esc(entry.source),
            ]
        ],
    )
    context = json.dumps(entry.context, indent=2, ensure_ascii=False, default=str)
    parts = [
        facts,
        f'<b>Context</b><pre style="{PRE}">{esc(context)}</pre>',
        f'<b>Response</b><pre style="{PRE}">{esc(entry.response_content)}</pre>',
    ]
    if entry.ideal_answer is not None:
        parts.append(f'<b>Ideal answer</b><pre style="{PRE}">{esc(entry.ideal_answer)}</pre>')
    return "<div>" + "".join(parts) + "</div>"


def log_page_html(page: Any) -> str:
    """A ``LogPage``: one line per log, texts cut to a preview."""
    rows = []
    for entry in page.items:
        row = entry.to_row()
        rows.append(
            [
                f"<code>{esc(entry.context_id)}</code>",
                esc(entry.time.isoformat(timespec="seconds")),
                esc(entry.prompt_id),
                esc(entry.version),
                preview(entry.context),
                preview(entry.response_content),
                preview(entry.ideal_answer),
                _number(row["latency_ms"]),
                _number(row["price"]),
                esc(entry.source),
            ]
        )
    table = _table(
        [
            "context_id",
            "time",
            "prompt",
            "version",
            "context",
            "response",
            "ideal answer",
            "latency ms",
            "price",
            "source",
        ],
        rows,
    )
    more = " · more on the next page (next_cursor)" if page.next_cursor else ""
    return f"<div>{table}<div>{len(page.items)} log(s){esc(more)}</div></div>"

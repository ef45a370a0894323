"""What the Datasets tab's two grids show: a dataset's row (name, version, items, description,
who changed it and when) and an item's row (its id, prompt and version, its context variables
as ``name: value`` pairs, the expected and production answers, the version that added it, by
whom and when), and a chosen item's detail.

Kept apart from the tab's widget so what a row shows is found by its name and can be read
(and tested) without a stack.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from ..models import DatasetInfo, DatasetItem
from ._common import esc
from .grid import Column, cut
from .labels import id_html
from .tester_views import TESTER_CSS, answer_box, context_html

DATASET_COLUMNS = (
    Column("name", width="170px"),
    Column("version", width="64px", numeric=True),
    Column("items", width="64px", numeric=True),
    Column("description"),
    Column("updated by", width="170px"),
    Column("updated (UTC)", width="130px", nowrap=True),
)

# Every column fits beside JupyterLab's open file browser (the grid's minimum width, 880 px,
# as the Logs grid's): the item id on one line, who added it under when (an e-mail address
# is never broken mid-word in a column this wide).
ITEM_COLUMNS = (
    Column("item", width="144px", nowrap=True),  # 16 hex digits and the padding
    Column("prompt@version", width="126px"),  # the header whole, on one line
    Column("context (variables)"),
    Column("expected answer"),
    Column("production's answer"),
    Column("added in version", width="60px", numeric=True),
    Column("added (UTC), by", width="150px"),
)


def utc_minute(value: datetime | str | None) -> str:
    """A stored time in UTC to the minute ("2026-11-01 12:51"), "" when unknown."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        when = value
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def dataset_cells(info: DatasetInfo) -> list[str]:
    """A dataset's cells, in ``DATASET_COLUMNS``' order."""
    return [
        info.name,
        str(info.version),
        str(info.item_count),
        cut(info.description, 200),
        info.updated_by or info.created_by or "",
        utc_minute(info.updated_at or info.created_at),
    ]


def prompt_label(item: DatasetItem) -> str:
    """``support-reply@3``: the prompt and the version the item was logged with."""
    return f"{item.prompt_id}@{item.prompt_version}" if item.prompt_version else item.prompt_id


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def context_cell(context: dict[str, Any], n: int = 200) -> str:
    """The context's variables as ``name: value`` pairs on one line (a value that is not
    text as JSON), cut to ``n`` characters: data to read, not a JSON object to parse."""
    if not context:
        return ""
    pairs = " · ".join(f"{k}: {' '.join(_value_text(v).split())}" for k, v in context.items())
    return cut(pairs, n)


def item_cells(item: DatasetItem) -> list[str]:
    """An item's cells, in ``ITEM_COLUMNS``' order."""
    return [
        item.item_id,
        prompt_label(item),
        context_cell(item.context),
        cut(item.expected, 120),
        cut(item.production, 120),
        str(item.added_in),
        " by ".join(p for p in (utc_minute(item.added_at), item.added_by or "") if p),
    ]


def item_text(item: DatasetItem) -> str:
    """What the items' search looks in: the ids, the whole context and both whole answers."""
    return " ".join(
        str(x or "")
        for x in (
            item.item_id,
            prompt_label(item),
            item.source_context_id,
            json.dumps(item.context, ensure_ascii=False, default=str),
            item.expected,
            item.production,
            " ".join(item.tags),
        )
    )


def item_detail_html(item: DatasetItem) -> str:
    """A chosen item as the Logs tab shows a log: its answers on the left, its context as
    key/value rows and the model that answered on the right, the log it came from a click
    away from being copied."""
    source = (
        f" · from log {id_html(item.source_context_id)}"
        if item.source_context_id
        else " · added as a row (no log)"
    )
    when = utc_minute(item.added_at)
    head = (
        f'<div class="pt-log-head"><b>item {esc(item.item_id)}</b> · prompt'
        f" <b>{esc(prompt_label(item))}</b>{source}"
        f' <span class="pt-muted">· added in version {item.added_in}'
        + (f" by {esc(item.added_by)}" if item.added_by else "")
        + (f" at {esc(when)} UTC" if when else "")
        + "</span></div>"
    )
    main = (
        "<h4>Expected answer</h4>"
        + answer_box(item.expected, "No expected answer was kept for this item.")
        + "<h4>Production's answer</h4>"
        + answer_box(item.production, "No production answer was kept.")
    )
    side = "<h4>Context</h4>" + context_html(item.context)
    if item.model:
        side += "<h4>Model (as logged)</h4>" + context_html(item.model)
    if item.tags:
        side += "<h4>Tags</h4>" + esc(", ".join(item.tags))
    return (
        TESTER_CSS + head + f'<div class="pt-log-view"><div class="pt-log-main">{main}</div>'
        f'<div class="pt-log-side">{side}</div></div>'
    )

"""The log browser: logged calls newest first in a grid, filters, pages, a detail pane,
"Test prompt", and "Add to dataset" for the rows selected."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import ipywidgets as w

from ..models import SOURCE_CHOICES, LogEntry, LogPage
from ..session import Session
from ._common import Tool, esc
from .dataset_add import AddToDataset
from .grid import Column, Grid, cut, num
from .tester_views import (
    TESTER_CSS,
    answer_box,
    context_html,
    metrics_html,
    raw_json_html,
    transcript_html,
)

ALL = "(all prompts)"
# the service's ``source=`` choices, "all" first (the default)
SOURCES = ("all", *(c for c in SOURCE_CHOICES if c != "all"))
# What a person reads first on the left (when, which prompt, what it answered), the metrics
# to sort by on the right: under the grid's minimum width it scrolls sideways to them.
COLUMNS = (
    Column("time (UTC)", width="90px"),  # the date above the time: a row is two lines anyway
    Column("prompt", width="96px"),
    Column("version", width="60px", numeric=True),
    Column("answer preview"),
    Column("source", width="84px"),  # "prompt-tester" / "production" on one line
    Column("model", width="86px"),
    Column("latency (s)", width="64px", numeric=True),
    Column("prompt tokens", width="62px", numeric=True),
    Column("sample tokens", width="62px", numeric=True),
    Column("cost (USD)", width="70px", numeric=True),
    Column("error", width="64px"),
)
# Every column fits a notebook beside JupyterLab's open file browser (about 970 px at a
# 1440 px window); narrower than this, the grid scrolls sideways. ``!important``: the Replay
# and Compare grids repeat the shared grid style later in the page, and its 1,100 px minimum
# would otherwise win over this one (same selector weight, later in the document).
MIN_WIDTH = "880px"


def _error(entry: LogEntry) -> str:
    """What the log says went wrong, if it says anything (writers put it in either part)."""
    for part in (entry.response, entry.metrics):
        if isinstance(part, dict) and part.get("error"):
            return str(part["error"])
    return ""


def log_text(entry: LogEntry) -> str:
    """What the search looks in: the prompt, the whole context, the whole answer, the error."""
    return " ".join(
        str(x or "")
        for x in (entry.context_id, entry.context, entry.response_content, _error(entry))
    )


def log_cells(entry: LogEntry) -> list[str]:
    """The log's summary cells, in ``COLUMNS``' order (numbers in the headers' units)."""
    row = entry.to_row()
    latency = row["latency_ms"]
    return [
        f"{entry.time:%Y-%m-%d %H:%M:%S}",
        entry.prompt_id,
        entry.version or "",
        cut(entry.response_content),
        entry.source or "",
        row["model"] or "",
        num(None if latency is None else latency / 1000, 2),
        num(row["prompt_tokens"], 0),
        num(row["sample_tokens"], 0),
        num(row["price"], 5),
        cut(_error(entry), 80),
    ]


class LogBrowser(Tool):
    """Browse the environment's logs. ``on_test(context_id)`` is called by "Test prompt".

    The filters (prompt, time range, source, page size) run on the server and apply as soon
    as they change; the grid sorts and searches the page in the browser."""

    def __init__(self, session: Session, on_test: Callable[[str], Any] | None = None):
        super().__init__(layout=w.Layout(width="100%"))
        self.session = session
        self.on_test = on_test
        self.page: LogPage | None = None
        self._cursors: list[str | None] = [None]
        self._by_id: dict[str, LogEntry] = {}
        self._loading = False

        self.prompt_filter = w.Dropdown(description="Prompt", options=[ALL], value=ALL)
        self.since = w.DatetimePicker(description="Since")
        self.until = w.DatetimePicker(description="Until")
        self.source_filter = w.Dropdown(description="Source", options=SOURCES, value="all")
        self.source_filter.add_class("pt-log-source")
        self.page_size = w.Dropdown(description="Per page", options=[25, 50, 100], value=50)
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.prev_button = w.Button(description="Newer", icon="chevron-left", disabled=True)
        self.next_button = w.Button(description="Older", icon="chevron-right", disabled=True)
        self.page_label = w.HTML()
        self.page_label.add_class("pt-log-page")
        self.grid = Grid(
            COLUMNS,
            css_class="pt-log-grid",
            empty="No logs match these filters",
            min_width=MIN_WIDTH,
            search=True,
            multi=True,  # Ctrl/Cmd-click: several logs for Add to dataset
        )
        # the logs the search matched on every page seen since its text last changed
        self._matched: set[str] = set()
        self._pages_searched: set[int] = set()
        self._needle = ""
        self.grid.search_label_fn = self._search_label
        self.table = self.grid.table  # the ITable: ``table.selected_rows`` is the browser's
        self.detail = w.HTML()
        self.test_button = w.Button(
            description="Test prompt", icon="flask", button_style="primary", disabled=True
        )

        self.test_button.add_class("pt-test-prompt")
        # the selected logs into a dataset (the app tells the Datasets tab through on_added)
        self.add_to_dataset = AddToDataset(
            session, lambda: self.grid.selected_keys, css_class="pt-logs"
        )
        self.grid.on_selection(lambda _keys: self.add_to_dataset.refresh_button_state())
        self.detail.add_class("pt-log-detail")
        self.refresh_button.on_click(self.guarded(lambda _: self.refresh()))
        self.next_button.on_click(self.guarded(lambda _: self.next_page()))
        self.prev_button.on_click(self.guarded(lambda _: self.previous_page()))
        self.test_button.on_click(self.guarded(lambda _: self.test_selected()))
        self.grid.on_select(self.guarded(self._on_select))
        filters = [self.prompt_filter, self.since, self.until, self.source_filter, self.page_size]
        for control in filters:
            control.observe(self.guarded(self._on_filter), names="value")

        nav = w.HBox([self.refresh_button, self.prev_button, self.next_button, self.page_label])
        self.children = [
            w.HBox(filters, layout=w.Layout(flex_flow="row wrap")),
            nav,
            self.messages,
            self.grid,
            w.HBox([self.test_button, self.add_to_dataset]),
            self.detail,
            self.output,
        ]
        self.guarded(self._load_prompts)()
        self.guarded(self.refresh)()

    def __repr__(self) -> str:
        count = len(self.page.items) if self.page else 0
        return f"<LogBrowser env={self.session.env.env_name!r} showing {count} logs>"

    # --- Python equivalents of the clicks --------------------------------------------------
    def refresh(self) -> LogPage:
        """Back to the first page with the current filters."""
        self._cursors = [None]
        return self._load()

    def next_page(self) -> LogPage:
        if not self.page or not self.page.next_cursor:
            return self.page or self._load()
        self._cursors.append(self.page.next_cursor)
        return self._load()

    def previous_page(self) -> LogPage:
        if len(self._cursors) > 1:
            self._cursors.pop()
        return self._load()

    def select(self, context_id: str) -> LogEntry:
        """Select a log (fetching it if it is not on this page) and show its detail."""
        if context_id not in self._by_id:
            entry = self.session.log(context_id)
            self._by_id = {context_id: entry, **self._by_id}
            self._set_rows(list(self._by_id.values()))
        self.grid.select(context_id)
        return self._by_id[context_id]

    @property
    def selected(self) -> LogEntry | None:
        """The log selected (the first, when several are: its detail is shown)."""
        key = self.grid.selected_key
        return self._by_id.get(key) if key else None

    @property
    def selected_logs(self) -> list[LogEntry]:
        """Every log selected (Ctrl/Cmd-click adds one), what Add to dataset takes."""
        return [self._by_id[k] for k in self.grid.selected_keys if k in self._by_id]

    def select_many(self, context_ids: list[str]) -> list[LogEntry]:
        """Select these logs of the page shown (as Ctrl/Cmd-clicks on their rows)."""
        self.grid.select_keys(context_ids)
        return self.selected_logs

    def test_selected(self) -> Any:
        entry = self.selected
        if entry is None:
            self.messages.error("Select a log first")
            return None
        return self.on_test(entry.context_id) if self.on_test else None

    # --- internals -------------------------------------------------------------------------
    def _load_prompts(self) -> None:
        self.prompt_filter.options = [ALL, *self.session.prompts()]

    def _filters(self) -> dict[str, Any]:
        prompt = self.prompt_filter.value
        return {
            "prompt_id": None if prompt == ALL else prompt,
            "since": self.since.value if isinstance(self.since.value, datetime) else None,
            "until": self.until.value if isinstance(self.until.value, datetime) else None,
            "source": self.source_filter.value,  # production, the Tester's own calls, or all
            "limit": int(self.page_size.value),
        }

    def _on_filter(self, _change: dict[str, Any]) -> None:
        if not self._loading:  # a filter set while a page loads applies with that load
            self.refresh()

    def _load(self) -> LogPage:
        self._loading = True
        try:
            with self.busy(
                self.refresh_button, self.prev_button, self.next_button, label="Loading logs…"
            ):
                page = self.session.logs(cursor=self._cursors[-1], **self._filters())
        finally:
            self._loading = False
        self.page = page
        self._by_id = {e.context_id: e for e in page.items}
        self.grid.select(None)
        self._set_rows(page.items)
        self.detail.value = ""
        self.test_button.disabled = True
        self.prev_button.disabled = len(self._cursors) <= 1
        self.next_button.disabled = not page.next_cursor
        number = len(self._cursors)
        more = " · more: Older" if page.next_cursor else " · last page"
        self.page_label.value = (
            f"<span class='pt-muted'>Page {number} · {len(page.items)} logs{more}</span>"
        )
        if page.items:
            self.messages.clear()
        else:
            self.messages.info("No logs match these filters")
        return page

    def _set_rows(self, entries: list[LogEntry]) -> None:
        """The grid's rows, each searched in its whole context and answer (not the preview)."""
        self.grid.set_rows(
            [(e.context_id, log_cells(e)) for e in entries],
            texts=[log_text(e) for e in entries],
        )

    def _search_label(self, matching: int, given: int) -> str:
        """How many logs of this page match, how many so far over the pages seen with this
        search, and whether more logs exist (the server pages: Older reads the next)."""
        needle = self.grid.search.value.strip().casefold()
        if not needle:
            self._needle, self._matched, self._pages_searched = "", set(), set()
            return ""
        if needle != self._needle:
            self._needle, self._matched, self._pages_searched = needle, set(), set()
        self._matched.update(self.grid.row_keys)
        self._pages_searched.add(len(self._cursors))
        pages = len(self._pages_searched)
        more = (
            "more logs exist: <b>Older</b> searches the next page"
            if self.page is not None and self.page.next_cursor
            else "no more logs"
        )
        return (
            f"<span class='pt-muted'>{matching} of {given} logs on this page match ·"
            f" {len(self._matched)} matched so far ({pages} page(s) searched) · {more}</span>"
        )

    def _on_select(self, key: Any) -> None:
        entry = self._by_id.get(key) if key else None
        self.test_button.disabled = entry is None
        self.detail.value = self._detail_html(entry) if entry else ""

    @staticmethod
    def _detail_html(entry: LogEntry) -> str:
        """The selected log as the Tester shows a logged call (the same views): the request
        as a chat transcript and the answer on the left; the metrics with their units and
        the context as key/value rows on the right; each part's raw JSON one click away."""
        messages = (entry.request or {}).get("messages")
        error = _error(entry)
        head = (
            f'<div class="pt-log-head"><b>{esc(entry.prompt_id)}</b>'
            f" · version {esc(entry.version or '?')} · {entry.time:%Y-%m-%d %H:%M:%S} UTC"
            + (f" · {esc(entry.source)}" if entry.source else "")
            + f' <span class="pt-muted">· {esc(entry.context_id)}</span></div>'
        )
        count = len(messages) if isinstance(messages, list) else 0
        main = (
            f"<h4>Request · {count} message(s) sent to the model</h4>"
            + transcript_html(messages)
            + "<h4>Response</h4>"
            + answer_box(entry.response_content, "The log holds no answer.")
            + (f'<div class="pt-error">Error: {esc(error)}</div>' if error else "")
            + (
                "<h4>Ideal answer</h4>" + answer_box(entry.ideal_answer, "")
                if entry.ideal_answer
                else ""
            )
        )
        side = (
            "<h4>Metrics</h4>"
            + metrics_html(entry, None, with_test=False)
            + "<h4>Context</h4>"
            + context_html(entry.context)
        )
        raw = raw_json_html(
            {
                "context_id": entry.context_id,
                "context": entry.context,
                "request": entry.request,
                "response": entry.response,
                "metrics": entry.metrics,
            },
            "Raw JSON (context, request, response, metrics)",
        )
        return (
            TESTER_CSS + head + f'<div class="pt-log-view"><div class="pt-log-main">{main}</div>'
            f'<div class="pt-log-side">{side}</div></div>' + raw
        )

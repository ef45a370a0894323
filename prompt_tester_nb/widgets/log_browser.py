"""The log browser: logged calls newest first, filters, pages, a detail pane, "Test prompt"."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import ipywidgets as w

from ..models import LogEntry, LogPage
from ..session import Session
from ._common import Tool, esc, pre

ALL = "(all prompts)"


def _row(entry: LogEntry) -> str:
    m = entry.metrics or {}
    latency = f"{float(m['latency']) / 1000:5.1f}s" if m.get("latency") is not None else "    -"
    price = f"${float(m['price_of_call']):.4f}" if m.get("price_of_call") is not None else "      -"
    preview = " ".join(entry.response_content.split())[:60]
    return (
        f"{entry.time:%Y-%m-%d %H:%M:%S}  {entry.prompt_id[:22]:<22} v{(entry.version or '?'):<4}"
        f" {latency} {price}  {preview}"
    )


HEADER = f"{'time (UTC)':<19}  {'prompt':<22} {'ver':<5} {'lat':>5} {'cost':>7}  response"


class LogBrowser(Tool):
    """Browse the environment's logs. ``on_test(context_id)`` is called by "Test prompt"."""

    def __init__(self, session: Session, on_test: Callable[[str], Any] | None = None):
        super().__init__(layout=w.Layout(width="100%"))
        self.session = session
        self.on_test = on_test
        self.page: LogPage | None = None
        self._cursors: list[str | None] = [None]
        self._by_id: dict[str, LogEntry] = {}

        self.prompt_filter = w.Dropdown(description="Prompt", options=[ALL], value=ALL)
        self.since = w.DatetimePicker(description="Since")
        self.until = w.DatetimePicker(description="Until")
        self.page_size = w.Dropdown(description="Per page", options=[25, 50, 100], value=50)
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.prev_button = w.Button(description="Newer", icon="chevron-left", disabled=True)
        self.next_button = w.Button(description="Older", icon="chevron-right", disabled=True)
        self.page_label = w.HTML()
        self.table = w.Select(options=[], rows=14, layout=w.Layout(width="100%"))
        self.table.add_class("pt-mono")
        self.table.add_class("pt-log-table")
        self.header = w.HTML(f'<pre class="pt-mono pt-muted" style="margin:0">{esc(HEADER)}</pre>')
        self.detail = w.HTML()
        self.test_button = w.Button(
            description="Test prompt", icon="flask", button_style="primary", disabled=True
        )

        self.test_button.add_class("pt-test-prompt")
        self.detail.add_class("pt-log-detail")
        self.refresh_button.on_click(self.guarded(lambda _: self.refresh()))
        self.next_button.on_click(self.guarded(lambda _: self.next_page()))
        self.prev_button.on_click(self.guarded(lambda _: self.previous_page()))
        self.test_button.on_click(self.guarded(lambda _: self.test_selected()))
        self.table.observe(self.guarded(self._on_select), names="value")

        filters = w.HBox([self.prompt_filter, self.since, self.until, self.page_size])
        nav = w.HBox([self.refresh_button, self.prev_button, self.next_button, self.page_label])
        self.children = [
            filters,
            nav,
            self.messages,
            self.header,
            self.table,
            w.HBox([self.test_button]),
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
            self._by_id[context_id] = entry
            self.table.options = [(_row(entry), entry.context_id), *self.table.options]
        self.table.value = context_id
        return self._by_id[context_id]

    @property
    def selected(self) -> LogEntry | None:
        return self._by_id.get(self.table.value) if self.table.value else None

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
            "limit": int(self.page_size.value),
        }

    def _load(self) -> LogPage:
        with self.busy(
            self.refresh_button, self.prev_button, self.next_button, label="Loading logs…"
        ):
            page = self.session.logs(cursor=self._cursors[-1], **self._filters())
        self.page = page
        self._by_id = {e.context_id: e for e in page.items}
        self.table.options = [(_row(e), e.context_id) for e in page.items]
        self.table.value = None
        self.detail.value = ""
        self.test_button.disabled = True
        self.prev_button.disabled = len(self._cursors) <= 1
        self.next_button.disabled = not page.next_cursor
        number = len(self._cursors)
        more = "" if page.next_cursor else " (last page)"
        self.page_label.value = f"Page {number} · {len(page.items)} logs{more}"
        if page.items:
            self.messages.clear()
        else:
            self.messages.info("No logs match these filters")
        return page

    def _on_select(self, change: dict[str, Any]) -> None:
        entry = self._by_id.get(change["new"]) if change["new"] else None
        self.test_button.disabled = entry is None
        self.detail.value = self._detail_html(entry) if entry else ""

    @staticmethod
    def _detail_html(entry: LogEntry) -> str:
        messages = (entry.request or {}).get("messages")
        parts = [
            f"<b>{esc(entry.context_id)}</b> · prompt <b>{esc(entry.prompt_id)}</b>"
            f" version {esc(entry.version or '?')} · {entry.time:%Y-%m-%d %H:%M:%S} UTC"
            + (f" · source {esc(entry.source)}" if entry.source else ""),
            "<b>Context</b>" + pre(entry.context),
            "<b>Request messages</b>" + (pre(messages) if messages else " <i>not logged</i>"),
            "<b>Response</b>" + pre(entry.response_content or "(empty)"),
            "<b>Metrics</b>" + (pre(entry.metrics) if entry.metrics else " <i>not logged</i>"),
        ]
        return "<br>".join(parts)

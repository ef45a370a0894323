"""One grid for the Logs, Replay and Compare tabs: itables' ``ITable`` widget, one page at a time.

Why this shape:

- ``ITable`` (itables' anywidget: DataTables in the browser, its JavaScript shipped in the
  wheel, no CDN) sorts, searches and selects in the browser, and its ``selected_rows`` trait
  reaches Python. It holds every row it is given in the browser and trims a table over
  ``maxBytes`` (then only the rows still shown can be selected), so the grid is given one
  *page* of short summary cells, ``update()``-d as the page changes; the full texts stay in
  Python and show in the tab's detail pane. What bounds the browser's share is the page:
  ``MAX_PAGE`` rows of cells cut to ``PREVIEW`` characters, under 1 MB of JSON. itables
  weighs a pandas frame by its arrays' ``nbytes`` (8 bytes a text cell with Python-backed
  strings, the real bytes with pyarrow-backed ones), so ``MAX_BYTES`` is 1 MB: whichever way
  it weighs, a page is never trimmed (``trimmed`` says if one ever were).
- The browser's own paging is off: the pager is Python's (``page_size`` rows), or the
  caller's (the Logs tab pages the server with cursors).
- Column widths come from CSS, not from DataTables measuring the cells (``autoWidth`` off,
  no ``scrollX``/``scrollY``): a grid drawn on a tab that is not shown has nothing to measure
  and would keep zero-width columns.
- Cells are strings: numbers formatted here with their unit in the header, "" when missing,
  so DataTables still detects numeric columns and sorts them as numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as w
import pandas as pd
from itables.widget import ITable

# A page of summary cells weighs ~0.5 KB a row (at most 12 cells of PREVIEW characters:
# under 1 MB for MAX_PAGE rows), and a trimmed page could not select every row.
MAX_BYTES = 1024 * 1024
MAX_PAGE = 500
PREVIEW = 160  # characters of an answer shown in a cell (the full text is in the detail)

# Fixed layout: the columns get the widths given (numbers narrow, texts the rest) whatever
# the cells hold, and nothing is measured, so a grid drawn on a hidden tab looks the same.
# Under MIN_WIDTH the grid scrolls sideways rather than squeezing the texts.
MIN_WIDTH = "1100px"
GRID_STYLE = f"""
<style>
.pt-grid {{ width: 100%; max-height: 480px; overflow: auto;
  border: 1px solid var(--jp-border-color2, #ddd); }}
.pt-grid table.dataTable {{ width: 100% !important; min-width: {MIN_WIDTH}; margin: 0 !important;
  table-layout: fixed; font-size: 12.5px; }}
.pt-grid table.dataTable tbody td {{ white-space: normal; overflow-wrap: break-word;
  word-break: normal; vertical-align: top; padding: 4px 6px; }}
.pt-grid table.dataTable thead th {{ position: sticky; top: 0; z-index: 1; white-space: normal;
  overflow-wrap: normal; word-break: normal; vertical-align: bottom; padding: 4px 16px 4px 6px;
  background: var(--jp-layout-color1, #fff); }}
.pt-grid table.dataTable thead th span.dt-column-order {{ right: 2px; }}
.pt-grid table.dataTable tbody td.pt-nowrap {{ white-space: nowrap; }}
.pt-grid table.dataTable tbody tr {{ cursor: pointer; }}
.pt-grid .dt-container .dt-layout-row:first-child {{ margin: 2px 6px; }}
.pt-grid .dt-container .dt-info {{ color: var(--jp-ui-font-color2, #777); margin-left: 1.5em; }}
.pt-grid .dt-container .dt-layout-start {{ gap: 0.5em; }}
</style>
"""


@dataclass(frozen=True)
class Column:
    """A grid column: its header (with the unit, e.g. "latency (s)"), its CSS width (None:
    a share of what the fixed-width columns leave), and whether it holds numbers."""

    title: str
    width: str | None = None
    numeric: bool = False
    nowrap: bool = False  # one line (a timestamp), not wrapped at its hyphens


def cut(text: Any, n: int = PREVIEW) -> str:
    """``text`` on one line, cut at a word boundary to at most ``n`` characters."""
    flat = " ".join(("" if text is None else str(text)).split())
    if len(flat) <= n:
        return flat
    head = flat[: n - 1]
    space = head.rfind(" ")
    return (head[:space] if space > n // 2 else head) + "…"


def num(value: Any, digits: int) -> str:
    """A number with ``digits`` decimals, "" when missing (so the column still sorts)."""
    if value is None:
        return ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    if number != number:  # NaN
        return ""
    return f"{number:.{digits}f}"


class Grid(w.VBox):
    """A page of rows in an ``ITable``, the key of each row kept in Python.

    ``set_rows([(key, [cell, ...]), ...])`` replaces the rows, ``extend(...)`` adds some (a
    replay's rows as they land); ``selected_key`` is the chosen row's key (from a click in the
    browser or ``select(key)``), and ``on_select(fn)`` calls ``fn(key or None)`` when it
    changes. With ``page_size`` the grid pages in Python (Previous / Next and "rows 1-50 of
    120"); without, it shows every row it is given (the caller pages).

    With ``multi`` a Ctrl/Cmd-click adds a row to the selection and a Shift-click a range (a
    plain click still selects one row, as without): ``selected_keys`` are the rows of the page
    selected (``select_keys(keys)`` from Python), ``selected_key`` the first of them, and
    ``on_selection(fn)`` calls ``fn(keys)`` when they change (what "Add to dataset" and
    "Remove selected items" act on).
    """

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        css_class: str,
        page_size: int | None = None,
        empty: str = "No rows",
        note: str = "",
        min_width: str = MIN_WIDTH,
        search: bool = False,
        multi: bool = False,
    ):
        super().__init__(layout=w.Layout(width="100%"))
        if page_size is not None and not 0 < page_size <= MAX_PAGE:
            raise ValueError(f"page_size: 1 to {MAX_PAGE}")
        self.columns = list(columns)
        self.page_size = page_size
        self.empty = empty
        self.note = note  # said after the page's counts, e.g. the order of the rows
        self.page = 0
        self._keys: list[Any] = []
        self._cells: list[list[str]] = []
        # Every row given, and each row's full text for the search (the cells are previews)
        self._all: list[tuple[Any, list[str], str]] = []
        self.full_search = search
        # what the search says beside its box: (matching, given) -> HTML; the tab may say
        # more (the Logs tab: matches over the pages seen, and whether more logs exist)
        self.search_label_fn: Callable[[int, int], str] | None = None
        self.multi = multi
        self._selected: Any = None
        self._selection: list[Any] = []  # every selected row's key, in the page's order
        self._listeners: list[Callable[[Any], Any]] = []
        self._selection_listeners: list[Callable[[list[Any]], Any]] = []
        self._quiet = False

        self.table = ITable(self._frame([]), **self._options())
        self.table.add_class("pt-grid")
        self.table.add_class(css_class)
        self.prev_button = w.Button(description="Previous", icon="chevron-left", disabled=True)
        self.next_button = w.Button(description="Next", icon="chevron-right", disabled=True)
        self.page_label = w.HTML()
        self.prev_button.add_class(f"{css_class}-prev")
        self.next_button.add_class(f"{css_class}-next")
        self.page_label.add_class(f"{css_class}-page")
        self.pager = w.HBox([self.prev_button, self.next_button, self.page_label])
        self.pager.add_class(f"{css_class}-pager")
        self.prev_button.on_click(lambda _: self.show_page(self.page - 1))
        self.next_button.on_click(lambda _: self.show_page(self.page + 1))
        self.table.observe(self._on_selected_rows, names="selected_rows")
        # two classes outrank GRID_STYLE's one, which every grid on the page repeats later
        own = f"<style>.pt-grid.{css_class} table.dataTable {{ min-width: {min_width}; }}</style>"
        # The search over every row's full text (answers and context, not the cut cells of
        # one page): shown instead of DataTables' own box when ``search`` is asked for.
        self.search = w.Text(
            placeholder="Search the full text of every row loaded",
            continuous_update=False,
            layout=w.Layout(width="360px"),
        )
        self.search.add_class(f"{css_class}-search")
        self.search_label = w.HTML()
        self.search_label.add_class(f"{css_class}-search-label")
        self.search.observe(lambda _: self._filter(), names="value")
        children: list[w.Widget] = [w.HTML(GRID_STYLE + own)]
        if search:
            children.append(w.HBox([self.search, self.search_label]))
        children.append(self.table)
        if page_size is not None:
            children.append(self.pager)
        self.children = children
        self._show()

    # --- rows --------------------------------------------------------------------------------
    def set_rows(
        self,
        rows: Sequence[tuple[Any, Sequence[str]]],
        page: int = 0,
        texts: Sequence[str] | None = None,
    ) -> None:
        """Replace the rows (in the order given) and show ``page``; the selection is kept
        when its row is still on the page shown, else cleared. ``texts`` (one a row) is
        what the search looks in (the full answers and context); by default the cells."""
        texts = list(texts) if texts is not None else [" ".join(c) for _, c in rows]
        self._all = [
            (key, list(cells), text.casefold())
            for (key, cells), text in zip(rows, texts, strict=True)
        ]
        self._keys, self._cells = self._matching()
        self._label_search()
        self.show_page(page)

    def extend(
        self, rows: Sequence[tuple[Any, Sequence[str]]], texts: Sequence[str] | None = None
    ) -> None:
        """Add rows at the end; the browser is sent the page again only if they land on it."""
        first = len(self._keys)
        texts = list(texts) if texts is not None else [" ".join(c) for _, c in rows]
        needle = self.search.value.strip().casefold()
        for (key, cells), text in zip(rows, texts, strict=True):
            self._all.append((key, list(cells), text.casefold()))
            if needle in text.casefold():
                self._keys.append(key)
                self._cells.append(list(cells))
        self._label_search()
        _, stop = self._bounds()
        if first < stop or self.page_size is None:
            self._show()
        else:
            self._label()

    @property
    def total(self) -> int:
        """Rows given, whether or not the search shows them."""
        return len(self._all)

    def _matching(self) -> tuple[list[Any], list[list[str]]]:
        needle = self.search.value.strip().casefold()
        kept = [(k, c) for k, c, t in self._all if needle in t]
        return [k for k, _ in kept], [c for _, c in kept]

    def _filter(self) -> None:
        self._keys, self._cells = self._matching()
        self._label_search()
        self.show_page(0)

    def _label_search(self) -> None:
        if self.search_label_fn is not None:
            self.search_label.value = self.search_label_fn(len(self._keys), len(self._all))
            return
        if not self.search.value.strip():
            self.search_label.value = ""
            return
        self.search_label.value = (
            f"<span class='pt-muted'>{len(self._keys)} of {len(self._all)} row(s) match</span>"
        )

    @property
    def row_keys(self) -> list[Any]:
        """Every row's key, in the grid's order (all pages)."""
        return list(self._keys)

    @property
    def page_keys(self) -> list[Any]:
        """The keys of the rows the browser holds now (the page shown)."""
        start, stop = self._bounds()
        return self._keys[start:stop]

    @property
    def page_rows(self) -> list[dict[str, str]]:
        """The page shown, as ``{header: cell}`` (what the browser draws)."""
        start, stop = self._bounds()
        titles = [c.title for c in self.columns]
        return [dict(zip(titles, cells, strict=True)) for cells in self._cells[start:stop]]

    @property
    def pages(self) -> int:
        if self.page_size is None:
            return 1
        return max(1, -(-len(self._keys) // self.page_size))

    @property
    def trimmed(self) -> bool:
        """Whether itables trimmed the page (it never should: see ``MAX_BYTES``)."""
        return bool(self.table._dt_args.get("filtered_row_count"))

    def show_page(self, page: int) -> None:
        """Show page ``page`` (from 0, clamped)."""
        self.page = min(max(page, 0), self.pages - 1)
        self._show()

    # --- selection ---------------------------------------------------------------------------
    @property
    def selected_key(self) -> Any:
        """The key of the row selected in the grid, or None."""
        return self._selected

    def select(self, key: Any) -> None:
        """Select the row of ``key`` (turning to its page); None clears the selection."""
        if key is None:
            self.table.selected_rows = []
            return
        index = self._keys.index(key)  # ValueError: not a row of this grid
        if self.page_size is not None and index // self.page_size != self.page:
            self.page = index // self.page_size
            self._show(selected=key)
        else:
            start, _ = self._bounds()
            self.table.selected_rows = [index - start]

    def on_select(self, fn: Callable[[Any], Any]) -> None:
        """Call ``fn(key)`` (None when nothing is) each time the selection changes."""
        self._listeners.append(fn)

    @property
    def selected_keys(self) -> list[Any]:
        """The keys of every row selected (the page's order); one at most without ``multi``."""
        return list(self._selection)

    def select_keys(self, keys: Sequence[Any]) -> None:
        """Select the rows of ``keys`` that are on the page shown (a Ctrl-click on each)."""
        page_keys = self.page_keys
        missing = [k for k in keys if k not in page_keys]
        if missing:
            raise ValueError(f"not a row of this page: {missing[0]!r}")
        rows = sorted(page_keys.index(k) for k in dict.fromkeys(keys))
        if not self.multi:
            rows = rows[:1]
        self.table.selected_rows = rows

    def on_selection(self, fn: Callable[[list[Any]], Any]) -> None:
        """Call ``fn(keys)`` (every selected row's key, [] when none) when they change."""
        self._selection_listeners.append(fn)

    # --- internals ---------------------------------------------------------------------------
    def _bounds(self) -> tuple[int, int]:
        if self.page_size is None:
            return 0, len(self._keys)
        start = self.page * self.page_size
        return start, min(start + self.page_size, len(self._keys))

    def _frame(self, cells: list[list[str]]) -> pd.DataFrame:
        return pd.DataFrame(cells, columns=[c.title for c in self.columns], dtype="string")

    def _options(self) -> dict[str, Any]:
        defs: list[dict[str, Any]] = [
            {"targets": i, "width": c.width} for i, c in enumerate(self.columns) if c.width
        ]
        numeric = [i for i, c in enumerate(self.columns) if c.numeric]
        if numeric:
            defs.append({"targets": numeric, "className": "dt-right"})
        nowrap = [i for i, c in enumerate(self.columns) if c.nowrap]
        if nowrap:
            defs.append({"targets": nowrap, "className": "pt-nowrap"})
        return {
            # "os": a click selects one row, Ctrl/Cmd-click adds one, Shift-click a range
            "select": {"style": "os" if self.multi else "single", "info": False},
            "paging": False,
            "autoWidth": False,
            "order": [],
            # both on the left: a grid wider than the tab scrolls, and they stay in view
            "layout": {
                # with the full-text search (Python's), DataTables' one-page box is left out
                "topStart": ["info"] if self.full_search else ["search", "info"],
                "topEnd": None,
                "bottomStart": None,
                "bottomEnd": None,
            },
            "language": {
                "info": "Rows: _TOTAL_",
                "infoEmpty": "",
                "infoFiltered": "(of _MAX_, by the search)",
                "emptyTable": self.empty,
                "zeroRecords": "No row on this page matches",
                "search": "Search:",
            },
            "columnDefs": defs,
            "classes": "display compact",
            "style": "width:100%;table-layout:fixed;margin:0",
            "maxBytes": MAX_BYTES,
            "showIndex": False,
            # a click on a header sorts by it (not only on its small arrow)
            "text_in_header_can_be_selected": False,
        }

    def _show(self, selected: Any = None) -> None:
        """Send the page to the browser, keeping the selection if its row is on it."""
        start, stop = self._bounds()
        keep = [selected] if selected is not None else self._selection
        page_keys = self._keys[start:stop]
        rows = sorted(page_keys.index(k) for k in keep if k in page_keys)
        self._quiet = True
        try:
            with self.table.hold_sync():
                frame = self._frame(self._cells[start:stop])
                self.table.update(frame, selected_rows=rows, **self._options())
        finally:
            self._quiet = False
        self._set_selection([page_keys[r] for r in rows])
        self._label()

    def _label(self) -> None:
        total = len(self._keys)
        if self.page_size is not None:
            start, stop = self._bounds()
            self.prev_button.disabled = self.page == 0
            self.next_button.disabled = self.page >= self.pages - 1
            note = f" · {self.note}" if self.note else ""
            self.page_label.value = (
                f"<span class='pt-muted'>rows {start + 1}\u2013{stop} of {total}{note}</span>"
                if total
                else ""
            )

    def _on_selected_rows(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        rows = sorted(change["new"] or [])
        start, stop = self._bounds()
        page_keys = self._keys[start:stop]
        self._set_selection([page_keys[r] for r in rows if 0 <= r < len(page_keys)])

    def _set_selection(self, keys: list[Any]) -> None:
        """Tell the listeners: ``on_select``'s of the first key, ``on_selection``'s of all."""
        changed = keys != self._selection
        self._selection = keys
        key = keys[0] if keys else None
        if key != self._selected:
            self._selected = key
            for fn in list(self._listeners):
                fn(key)
        if changed:
            for listener in list(self._selection_listeners):
                listener(list(keys))

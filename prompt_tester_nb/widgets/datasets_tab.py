"""The Datasets tab: the environment's datasets in a grid, the chosen one's items in another
(at its latest version or any earlier one), a new dataset, selected items removed, a
dataset deleted after a confirmation.

Thin over ``session.datasets``: every rule (names, versions, what a removal makes, who may)
is the service's, and what it refuses is said in its words. Logs come in through "Add to
dataset" on the Logs tab and a replay's grid (``dataset_add``).
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from ..errors import ValidationError
from ..models import Dataset, DatasetInfo, DatasetItem
from ..session import Session
from ._common import Tool, confirm_row, esc
from .dataset_rows import (
    DATASET_COLUMNS,
    ITEM_COLUMNS,
    dataset_cells,
    item_cells,
    item_detail_html,
    item_text,
    utc_minute,
)
from .grid import Grid

ITEMS_PAGE = 100  # items in the grid at a time (the whole version is in ``dataset``)
INTRO = (
    "<span class='pt-muted'>A <b>dataset</b> is a named set of cases the team keeps: each item"
    " holds a log's context variables, the prompt and version it was logged with, production's"
    " answer and an expected answer. Every change makes a new version; an earlier version reads"
    " exactly as it was. Add logs with <b>Add to dataset</b> under the Logs tab's grid or a"
    " replay's.</span>"
)
NO_DATASET = "Choose a dataset above to see its items and versions"


class DatasetBrowser(Tool):
    """Browse, create, trim and delete the environment's datasets.

    From Python: ``refresh()``, ``open_dataset(name, version=None)``, ``create(name, description)``,
    ``select_items(item_ids)``, ``remove_selected()``, ``delete(confirm=False)``, ``replay()``
    (in the app: the Replay tab, set to run the Tester's draft on the version shown);
    ``dataset`` is the one shown (a ``Dataset`` at the version shown), ``selected_items`` the
    items chosen in its grid."""

    def __init__(self, session: Session):
        super().__init__(layout=w.Layout(width="100%"))
        self.session = session
        self.infos: list[DatasetInfo] = []
        self.dataset: Dataset | None = None
        self._items: dict[str, DatasetItem] = {}
        self._quiet = False  # the version picker set from Python, not by the user

        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.new_button = w.Button(description="New dataset", icon="plus")
        self.new_button.add_class("pt-datasets-new")
        self.new_name = w.Text(description="Name", placeholder="e.g. refund-replies")
        self.new_name.add_class("pt-datasets-new-name")
        self.new_description = w.Text(
            description="Description",
            placeholder="what these cases are for",
            layout=w.Layout(width="420px"),
        )
        self.new_description.add_class("pt-datasets-new-description")
        self.create_button = w.Button(description="Create", icon="check", button_style="primary")
        self.create_button.add_class("pt-datasets-create")
        self.create_cancel = w.Button(description="Cancel")
        self.new_form = w.HBox(
            [self.new_name, self.new_description, self.create_button, self.create_cancel],
            layout=w.Layout(display="none", flex_flow="row wrap"),
        )
        self.new_form.add_class("pt-datasets-new-form")

        self.grid = Grid(
            DATASET_COLUMNS,
            css_class="pt-datasets-grid",
            empty="No dataset yet: New dataset, or Add to dataset from the Logs tab",
            min_width="880px",
        )
        self.header = w.HTML()
        self.header.add_class("pt-dataset-header")
        self.version = w.Dropdown(description="Version", options=[], layout=w.Layout(width="220px"))
        self.version.add_class("pt-dataset-version")
        self.version_note = w.HTML()
        self.delete_button = w.Button(
            description="Delete dataset", icon="trash", button_style="danger", disabled=True
        )
        self.delete_button.add_class("pt-dataset-delete")
        # the next step: the Tester's draft over this version, in the Replay tab (the app's)
        self.on_replay: list[Any] = []  # callables(name, version)
        self.replay_button = w.Button(
            description="Replay the Tester's draft on it",
            icon="play",
            button_style="success",
            layout=w.Layout(width="auto", display="none"),
        )
        self.replay_button.add_class("pt-dataset-replay")
        row = confirm_row("pt-dataset", "Yes, delete it", flex_flow="row wrap")
        self.confirm_label, self.confirm_yes, self.confirm_no = row.label, row.yes, row.cancel
        self.confirm_box = row.box
        self.items_grid = Grid(
            ITEM_COLUMNS,
            css_class="pt-dataset-items-grid",
            page_size=ITEMS_PAGE,
            empty=NO_DATASET,
            min_width="880px",
            search=True,
            multi=True,
        )
        self.items_table = self.items_grid.table
        self.remove_button = w.Button(
            description="Remove selected items",
            icon="minus-square",
            disabled=True,
            layout=w.Layout(width="auto"),  # the whole label
        )
        self.remove_button.add_class("pt-dataset-remove")
        self.selection_note = w.HTML()
        self.detail = w.HTML()
        self.detail.add_class("pt-dataset-item-detail")

        # the chosen dataset's part, shown once one is chosen (a hint says how until then)
        self.choose_hint = w.HTML(f"<span class='pt-muted'>{NO_DATASET}.</span>")
        self.dataset_view = w.VBox(
            [
                self.header,
                w.HBox(
                    [self.version, self.version_note, self.replay_button, self.delete_button],
                    layout=w.Layout(flex_flow="row wrap", align_items="center"),
                ),
                self.confirm_box,
                self.items_grid,
                w.HBox(
                    [self.remove_button, self.selection_note],
                    layout=w.Layout(align_items="center"),
                ),
                self.detail,
            ],
            layout=w.Layout(width="100%"),
        )
        self.dataset_view.add_class("pt-dataset-view")

        self.refresh_button.on_click(self.guarded(lambda _: self.refresh()))
        self.new_button.on_click(self.guarded(lambda _: self._show_new_form(True)))
        self.create_cancel.on_click(self.guarded(lambda _: self._show_new_form(False)))
        self.create_button.on_click(
            self.guarded(lambda _: self.create(self.new_name.value, self.new_description.value))
        )
        self.delete_button.on_click(self.guarded(lambda _: self.delete()))
        self.confirm_yes.on_click(self.guarded(lambda _: self.delete(confirm=True)))
        self.confirm_no.on_click(self.guarded(lambda _: self._hide_confirm()))
        self.remove_button.on_click(self.guarded(lambda _: self.remove_selected()))
        self.replay_button.on_click(self.guarded(lambda _: self.replay()))
        self.grid.on_select(self.guarded(self._on_dataset))
        self.version.observe(self.guarded(self._on_version), names="value")
        self.items_grid.on_selection(self.guarded(self._on_items))

        self.children = [
            w.HTML(INTRO),
            w.HBox([self.refresh_button, self.new_button]),
            self.new_form,
            self.messages,
            self.grid,
            self.choose_hint,
            self.dataset_view,
            self.output,
        ]
        self._show_dataset(None)
        self.guarded(self.refresh)()

    def __repr__(self) -> str:
        shown = f" showing {self.dataset!r}" if self.dataset is not None else ""
        return (
            f"<DatasetBrowser env={self.session.env.env_name!r} {len(self.infos)} datasets{shown}>"
        )

    # --- Python equivalents of the clicks ------------------------------------------------------
    def refresh(self) -> list[DatasetInfo]:
        """List the datasets again. The one shown follows: read at its new latest version if
        its latest was shown and someone changed it since, else kept as it is (a version
        never changes, so it is not read again; the picker gains the new versions)."""
        ds, was_latest = self.dataset, self._at_latest()
        self._relist()
        if ds is None:
            return self.infos
        info = next((d for d in self.infos if d.name == ds.name), None)
        if info is None:
            self._show_dataset(None)  # deleted meanwhile
        elif was_latest and info.version != ds.version:
            self.open_dataset(ds.name)
        else:
            self._show_dataset(ds, keep_selection=True)
        return self.infos

    def open_dataset(self, name: str, version: int | None = None) -> Dataset:
        """Show ``name`` at its latest version, or exactly at ``version``."""
        ref = name if version is None else f"{name}@{version}"
        ds = self.session.datasets.get(ref)
        self._show_dataset(ds)
        if name in self.grid.row_keys and self.grid.selected_key != name:
            self._quiet = True
            try:
                self.grid.select(name)
            finally:
                self._quiet = False
        return ds

    def create(self, name: str, description: str = "") -> Dataset:
        """A new, empty dataset (version 0), shown."""
        ds = self.session.datasets.create((name or "").strip(), description=description)
        self._show_new_form(False)
        self.new_name.value = self.new_description.value = ""
        self._relist()
        self.open_dataset(ds.name)
        self.messages.ok(
            f"Created {ds.name!r} (version 0, no items): select logs in the Logs tab (or a"
            " replay's rows) and press Add to dataset"
        )
        return ds

    @property
    def selected_items(self) -> list[DatasetItem]:
        """The items selected in the items grid."""
        return [self._items[k] for k in self.items_grid.selected_keys if k in self._items]

    def select_items(self, item_ids: list[str]) -> list[DatasetItem]:
        """Select these items in the grid (as Ctrl/Cmd-clicks on their rows of the page)."""
        self.items_grid.select_keys(item_ids)
        return self.selected_items

    def remove_selected(self) -> Dataset | None:
        """The selected items leave the dataset in a new version (earlier ones keep them)."""
        ds, chosen = self.dataset, self.selected_items
        if ds is None or not chosen:
            raise ValidationError("item_ids: select the items to remove first", field="item_ids")
        if not self._at_latest():
            raise ValidationError(
                "version: items are removed from the latest version; choose it first",
                field="version",
            )
        fresh = self.session.datasets.remove(ds.name, [i.item_id for i in chosen])
        self._relist()
        self._show_dataset(fresh)
        self.messages.ok(
            f"Removed {fresh.removed} item(s) from {fresh.name!r}: now version {fresh.version}"
            f" ({fresh.item_count} item(s)); earlier versions still hold them"
            if fresh.removed
            else f"Nothing removed: still version {fresh.version}"
        )
        return fresh

    def replay(self) -> Any:
        """Hand the dataset shown, at the version shown, to the Replay tab (the app's)."""
        ds = self.dataset
        if ds is None:
            raise ValidationError("name: choose a dataset to replay first", field="name")
        for listener in list(self.on_replay):
            listener(ds.name, ds.version)
        return ds

    def delete(self, confirm: bool = False) -> bool:
        """Delete the dataset shown; without ``confirm`` it asks first, beside the button."""
        ds = self.dataset
        if ds is None:
            raise ValidationError("name: choose a dataset to delete first", field="name")
        if not confirm:
            self.confirm_label.value = (
                f"Delete <b>{esc(ds.name)}</b> and all its versions for everyone in this"
                " environment? Experiments run over it stay readable."
            )
            self.confirm_box.layout.display = ""
            return False
        self.session.datasets.delete(ds.name)
        self._hide_confirm()
        self._show_dataset(None)
        self._relist()
        self.messages.ok(f"Deleted {ds.name!r}")
        return True

    # --- internals -------------------------------------------------------------------------------
    def _relist(self) -> None:
        """The datasets' grid from the service (the selection kept by name)."""
        self.infos = self.session.datasets.list()
        self._quiet = True  # the row kept selected is not a new choice
        try:
            self.grid.set_rows([(d.name, dataset_cells(d)) for d in self.infos])
        finally:
            self._quiet = False
        self.choose_hint.layout.display = "" if self.dataset is None and self.infos else "none"

    def _latest(self) -> int | None:
        ds = self.dataset
        info = next((d for d in self.infos if ds is not None and d.name == ds.name), None)
        return info.version if info is not None else (ds.version if ds is not None else None)

    def _at_latest(self) -> bool:
        return self.dataset is not None and self.dataset.version == self._latest()

    def _show_new_form(self, shown: bool) -> None:
        self.new_form.layout.display = "" if shown else "none"

    def _hide_confirm(self) -> None:
        self.confirm_box.layout.display = "none"
        self.confirm_label.value = ""

    def _on_dataset(self, name: Any) -> None:
        if self._quiet:
            return
        self.messages.clear()  # what was said was about the one chosen before
        if name is None:
            self._show_dataset(None)
        else:
            self.open_dataset(name)

    def _on_version(self, change: dict[str, Any]) -> None:
        if self._quiet or self.dataset is None or change["new"] is None:
            return
        self.open_dataset(self.dataset.name, int(change["new"]))

    def _show_dataset(self, ds: Dataset | None, keep_selection: bool = False) -> None:
        """Show ``ds`` (its header, versions, items) or, with None, that none is chosen;
        ``keep_selection``: the same dataset shown again keeps its items selected."""
        self.dataset = ds
        self._hide_confirm()
        if not keep_selection:
            self.items_grid.select(None)
            self.detail.value = ""
        self.delete_button.disabled = ds is None
        self.replay_button.layout.display = "" if self.on_replay and ds is not None else "none"
        self._quiet = True
        try:
            if ds is None:
                self.version.options = []
            else:
                latest = max(self._latest() or 0, ds.version)
                self.version.options = [
                    (f"{v} (latest)" if v == latest else str(v), v) for v in range(latest, -1, -1)
                ]
                self.version.value = ds.version
        finally:
            self._quiet = False
        self.dataset_view.layout.display = "none" if ds is None else ""
        self.choose_hint.layout.display = "" if ds is None and self.infos else "none"
        if ds is None:
            self._items = {}
            self.header.value = ""
            self.version_note.value = ""
            self.items_grid.empty = NO_DATASET
            self.items_grid.set_rows([])
            self._on_items([])
            return
        self._items = {i.item_id: i for i in ds.items}
        created = utc_minute(ds.created_at)
        self.header.value = (
            f"<div class='pt-dataset-title'><b>{esc(ds.name)}</b>"
            + (f" · {esc(ds.description)}" if ds.description else "")
            + f" <span class='pt-muted'>· created by {esc(ds.created_by or '?')}"
            + (f" at {esc(created)} UTC" if created else "")
            + "</span></div>"
        )
        latest = self._at_latest()
        self.version_note.value = (
            f"<span class='pt-muted'>{ds.item_count} item(s) at version {ds.version}"
            + ("" if latest else " · an earlier version, read as it was (changes go to the latest)")
            + "</span>"
        )
        self.items_grid.empty = (
            "No items in this version: add logs with Add to dataset (Logs tab or a replay)"
        )
        self.items_grid.set_rows(
            [(i.item_id, item_cells(i)) for i in ds.items],
            texts=[item_text(i) for i in ds.items],
        )
        self._on_items(self.items_grid.selected_keys)

    def _on_items(self, keys: list[Any]) -> None:
        chosen = [self._items[k] for k in keys if k in self._items]
        self.remove_button.disabled = not chosen or not self._at_latest()
        self.selection_note.value = (
            f"<span class='pt-muted'>{len(chosen)} item(s) selected</span>"
            if chosen
            else (
                "<span class='pt-muted'>select items (Ctrl/Cmd-click for more) to remove them"
                "</span>"
                if self._items
                else ""
            )
        )
        self.detail.value = item_detail_html(chosen[0]) if chosen else ""

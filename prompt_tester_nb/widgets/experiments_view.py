"""The Experiments tab: every run the team stored in this environment, compared item by item.

A grid of the stored experiments (``s.experiments``: who, when, dataset@version, behaviour,
rows, each scorer's mean with its 95 % interval, the win rate, cost, latency, status, the
blessed baseline marked), filtered by dataset and prompt. Choosing one shows its header and
the ways on: use it as the base, bless it (the dataset's baseline), delete it (asked first).
Two of them (the base, by default the blessed one, and the other) are compared with
``experiments.compare.compare_runs``: the summary in words, then the items in a grid with the
regressions first, and for the chosen item both answers and the word diff; the item opens in
the Tester with that experiment's answer. Under it, a dataset's history: one point per
experiment (``s.experiments.history(dataset, metric=…).plot()``).

What a cell or a summary shows is ``experiment_rows``'; this module holds the tab's flow.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from ..errors import PromptTesterError, ValidationError
from ..experiments.compare import compare_runs, item_key
from ..models import TestDraft
from ..session import Session
from ._common import Tool, confirm_row, esc
from .diff_view import word_diff_html
from .experiment_history import HistoryPanel
from .experiment_rows import (
    ITEMS_ORDER,
    PROSE,
    comparison_summary_html,
    dataset_label,
    experiment_cells,
    experiment_columns,
    experiment_detail_html,
    experiment_label,
    experiment_name,
    experiment_text,
    item_cells,
    item_columns,
    item_detail_html,
    item_text,
    scorer_names,
)
from .export import CsvOffer
from .grid import Grid
from .tester import Tester

ALL = "(all)"
PAGE = 50  # experiments on one page of the grid
ITEMS_PAGE = 25  # items of a comparison on one page
LOADED = 6  # runs kept loaded (each is read from S3 once, then reused)
EMPTY = "No experiment stored in this environment yet: a replay over a dataset stores one"


class ExperimentsView(Tool):
    """The stored experiments, their comparison and their history.

    From Python: ``refresh()``, ``experiments`` (the headers shown), ``select(id)``,
    ``choose(other=…, base=…)``, ``compare()`` (returns the ``ExperimentComparison``, also
    ``comparison``), ``select_item(item_id)``, ``open_selected(side="other")``,
    ``bless(id)``, ``delete(id, confirm=True)``, ``plot_history(metric, dataset)``,
    ``to_dataframe()`` and ``save_csv(path)`` (the comparison)."""

    def __init__(self, session: Session, tester: Tester):
        super().__init__(layout=w.Layout(width="100%"))
        self.session = session
        self.tester = tester
        self.comparison: Any = None
        self.on_open: Any = None  # the app: show the Tester tab
        self._all: list[Any] = []  # every header of the environment, oldest first
        self._shown: dict[str, Any] = {}  # experiment_id -> header, in the grid's order
        self._runs: dict[str, Any] = {}  # experiment_id -> its stored run, loaded once
        self._pair: tuple[Any, Any] | None = None  # (base, other) headers of the comparison
        self._items: dict[str, dict[str, Any]] = {}  # item_id -> its comparison row
        self._rows: dict[str, tuple[Any, Any]] = {}  # item_id -> (base's row, other's row)

        wide = {"style": {"description_width": "initial"}}
        self.dataset_filter = w.Dropdown(description="Dataset", options=[ALL], **wide)
        self.prompt_filter = w.Dropdown(description="Prompt", options=[ALL], **wide)
        self.dataset_filter.add_class("pt-experiments-dataset")
        self.prompt_filter.add_class("pt-experiments-prompt")
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.refresh_button.add_class("pt-experiments-refresh")
        self.grid = Grid(
            experiment_columns([]),
            css_class="pt-experiments-grid",
            page_size=PAGE,
            empty=EMPTY,
            note="newest first",
            min_width="1150px",
            search=True,
        )
        self.table = self.grid.table
        self.detail = w.HTML()
        self.detail.add_class("pt-experiment-detail")
        auto = {"layout": w.Layout(width="auto", min_width="110px", flex="0 0 auto")}
        self.base_button = w.Button(description="Use as base", icon="anchor", disabled=True, **auto)
        self.base_button.add_class("pt-experiment-use-base")
        self.bless_button = w.Button(
            description="Bless as baseline",
            icon="star",
            button_style="warning",
            disabled=True,
            **auto,
        )
        self.bless_button.add_class("pt-experiment-bless")
        self.bless_note = w.HTML(
            f"<span class='pt-muted'>(blessing needs the organisation role"
            f" <b>{esc(self.bless_role)}</b>)</span>"
        )
        self.delete_button = w.Button(
            description="Delete", icon="trash", button_style="danger", disabled=True, **auto
        )
        self.delete_button.add_class("pt-experiment-delete")
        row = confirm_row("pt-experiment", "Yes, delete it")
        self.confirm_label, self.confirm_button, self.cancel_button = row.label, row.yes, row.cancel
        self.confirm_box = row.box
        self._asked: str | None = None  # the experiment the delete question is about

        picker = {"layout": w.Layout(width="480px"), **wide}
        self.base = w.Dropdown(description="Base", options=[], **picker)
        self.base.add_class("pt-experiment-base")
        self.other = w.Dropdown(description="Other", options=[], **picker)
        self.other.add_class("pt-experiment-other")
        self.compare_button = w.Button(
            description="Compare", icon="balance-scale", button_style="success"
        )
        self.compare_button.add_class("pt-experiment-compare")
        self.summary_view = w.HTML()
        self.summary_view.add_class("pt-experiment-summary")
        self.items = Grid(
            item_columns([]),
            css_class="pt-experiment-items-grid",
            page_size=ITEMS_PAGE,
            empty="No comparison yet: choose a base and another experiment, then Compare",
            note=ITEMS_ORDER,
            min_width="960px",  # its columns fit the tab beside JupyterLab's side bar
            search=True,
        )
        self.open_button = w.Button(
            description="Open other's answer in Tester",
            icon="flask",
            button_style="primary",
            disabled=True,
            layout=w.Layout(width="auto"),
        )
        self.open_button.add_class("pt-experiment-open")
        self.open_base_button = w.Button(
            description="Open base's answer in Tester",
            icon="flask",
            disabled=True,
            layout=w.Layout(width="auto"),
        )
        self.open_base_button.add_class("pt-experiment-open-base")
        self.export = CsvOffer(
            "experiment-comparison", "app.experiments", self.to_dataframe, "pt-experiment"
        )
        self.item_detail = w.HTML()
        self.item_detail.add_class("pt-experiment-item")
        self.item_diff = w.HTML()
        self.item_diff.add_class("pt-experiment-diff")

        self.history_panel = HistoryPanel()
        # the panel's parts, where a test or a user reaches them
        self.metric, self.plot_button = self.history_panel.metric, self.history_panel.plot_button
        self.history_note, self.history = self.history_panel.note, self.history_panel.output

        self._filtering = True
        self.dataset_filter.observe(self.guarded(lambda _: self._on_filter()), names="value")
        self.prompt_filter.observe(self.guarded(lambda _: self._on_filter()), names="value")
        self.refresh_button.on_click(self.guarded(lambda _: self.refresh()))
        self.grid.on_select(self.guarded(self._on_experiment))
        self.base_button.on_click(self.guarded(lambda _: self._use_as_base()))
        self.bless_button.on_click(self.guarded(lambda _: self.bless()))
        self.delete_button.on_click(self.guarded(lambda _: self.delete()))
        self.confirm_button.on_click(self.guarded(lambda _: self.delete(self._asked, True)))
        self.cancel_button.on_click(self.guarded(lambda _: self.cancel_delete()))
        self.compare_button.on_click(self.guarded(lambda _: self.compare()))
        self.items.on_select(self.guarded(self._on_item))
        self.open_button.on_click(self.guarded(lambda _: self.open_selected("other")))
        self.open_base_button.on_click(self.guarded(lambda _: self.open_selected("base")))
        self.export.wire(self.guarded)
        self.plot_button.on_click(self.guarded(lambda _: self.plot_history()))

        def heading(text: str, hint: str) -> w.HTML:
            return w.HTML(
                f"<h4 style='margin:10px 0 2px'>{text}</h4>"
                + PROSE.format(f"<span class='pt-muted'>{hint}</span>")
            )

        self.children = [
            w.HTML(
                PROSE.format(
                    "<span class='pt-muted'>Every run over a dataset is stored here for the team"
                    " (a replay in the <b>Replay</b> tab, <code>s.replay(..., dataset=…)</code> or"
                    " <code>run.store()</code> in Python). Choose one to see it, bless it as its"
                    " dataset's baseline or delete it; compare two item by item below.</span>"
                )
            ),
            w.HBox(
                [self.dataset_filter, self.prompt_filter, self.refresh_button],
                layout=w.Layout(flex_flow="row wrap"),
            ),
            self.messages,
            self.grid,
            self.detail,
            w.HBox(
                [
                    self.base_button,
                    self.bless_button,
                    self.bless_note,
                    self.delete_button,
                    self.confirm_box,
                ],
                layout=w.Layout(flex_flow="row wrap", align_items="center"),
            ),
            heading(
                "Compare two experiments",
                "Items are matched by dataset item (or log); an item passes when every scorer"
                " passes it on most of its repeats. The base is the dataset's blessed baseline"
                " unless you choose another.",
            ),
            w.HBox([self.base, self.other], layout=w.Layout(flex_flow="row wrap")),
            self.compare_button,
            self.summary_view,
            self.items,
            w.HBox(
                [self.open_button, self.open_base_button, *self.export.buttons],
                layout=w.Layout(flex_flow="row wrap"),
            ),
            self.export.frame_view,
            self.item_detail,
            self.item_diff,
            heading(
                "History of a dataset",
                "One point per experiment over the dataset chosen in the filter (or the"
                " chosen experiment's), oldest first; bars: the 95% interval; ★: the blessed"
                " baseline.",
            ),
            self.history_panel,
            self.output,
        ]

    def __repr__(self) -> str:
        return (
            f"<ExperimentsView env={self.session.env.env_name!r}"
            f" shown={len(self._shown)} compared={self.comparison!r}>"
        )

    @property
    def bless_role(self) -> str:
        """The organisation role that may bless (the ``PROMPT_TESTER_BLESS_ROLE`` setting)."""
        settings = getattr(getattr(self.session, "_service", None), "settings", None)
        return str(getattr(settings, "bless_role", None) or "admin")

    # --- the list -------------------------------------------------------------------------
    @property
    def experiments(self) -> list[Any]:
        """The headers the grid holds (after the filters), newest first."""
        return list(self._shown.values())

    def refresh(self) -> list[Any]:
        """Read the environment's experiments again and show them (filters kept)."""
        self._all = list(self.session.experiments.list())
        known = {e.experiment_id for e in self._all}
        self._runs = {k: v for k, v in self._runs.items() if k in known}
        datasets = sorted({e.dataset for e in self._all if e.dataset})
        prompts = sorted({e.prompt_id for e in self._all})
        self._filtering = False  # the pickers' new options are not a user's choice
        try:
            for picker, values in ((self.dataset_filter, datasets), (self.prompt_filter, prompts)):
                current = picker.value
                picker.options = [ALL, *values]
                picker.value = current if current in values else ALL
        finally:
            self._filtering = True
        self._show_list()
        return self.experiments

    def _on_filter(self) -> None:
        if self._filtering:
            self._show_list()

    def _show_list(self) -> None:
        dataset, prompt = self.dataset_filter.value, self.prompt_filter.value
        shown = [
            e
            for e in reversed(self._all)
            if (dataset == ALL or e.dataset == dataset) and (prompt == ALL or e.prompt_id == prompt)
        ]
        self._shown = {e.experiment_id: e for e in shown}
        scorers = scorer_names(shown)
        self.grid.columns = experiment_columns(scorers)
        self.grid.set_rows(
            [(e.experiment_id, experiment_cells(e, scorers)) for e in shown],
            texts=[experiment_text(e) for e in shown],
        )
        self._update_pickers()
        self.history_panel.set_metrics(scorers)
        self._on_experiment(self.grid.selected_key)

    def _update_pickers(self) -> None:
        choices = [(experiment_label(e), e.experiment_id) for e in self._shown.values()]
        ids = [i for _, i in choices]
        base, other = self.base.value, self.other.value
        self.other.options = choices
        self.base.options = choices
        self.other.value = other if other in ids else (ids[0] if ids else None)
        default = self._default_base(self.other.value)
        self.base.value = base if base in ids and base != self.other.value else default

    def select(self, experiment_id: str) -> Any:
        """Choose an experiment of the grid (as a click does): its header, the ways on, and
        it becomes the other side of the comparison."""
        if experiment_id not in self._shown:
            raise ValidationError(
                f"experiment: {experiment_id!r} is not in the list shown (check the filters)",
                field="experiment",
            )
        self.grid.select(experiment_id)
        return self._shown[experiment_id]

    @property
    def selected(self) -> Any:
        """The header chosen in the grid, or None."""
        key = self.grid.selected_key
        return self._shown.get(key) if key else None

    def _on_experiment(self, key: Any) -> None:
        info = self._shown.get(key) if key else None
        for button in (self.base_button, self.bless_button, self.delete_button):
            button.disabled = info is None
        self._hide_confirm()
        if info is None:
            self.detail.value = ""
            return
        self.detail.value = experiment_detail_html(info)
        self.bless_button.disabled = info.blessed
        if self.other.value != info.experiment_id:
            self.choose(other=info.experiment_id)

    def _default_base(self, other_id: str | None) -> str | None:
        """The blessed experiment of the other's dataset and prompt; else the newest one
        stored before it over the same dataset and prompt; else any other."""
        other = self._find(other_id)
        if other is None:
            return None
        same = [
            e
            for e in self._shown.values()
            if e.experiment_id != other.experiment_id
            and e.dataset == other.dataset
            and e.prompt_id == other.prompt_id
        ]
        blessed = [e for e in same if e.blessed]
        if blessed:
            return blessed[0].experiment_id
        # ``_shown`` is newest first: the first older one is the newest before it
        ids = list(self._shown)
        older = [e for e in same if ids.index(e.experiment_id) > ids.index(other.experiment_id)]
        if older:
            return older[0].experiment_id
        rest = [i for i in ids if i != other.experiment_id]
        return rest[0] if rest else None

    def choose(self, other: str | None = None, base: str | None = None) -> None:
        """Choose the experiments to compare; without ``base`` the other's default base (its
        dataset's blessed one)."""
        if other is not None:
            self.other.value = self._shown_id(other, "other")
        if base is not None:
            self.base.value = self._shown_id(base, "base")
        else:
            self.base.value = self._default_base(self.other.value)

    def _shown_id(self, experiment_id: str, field: str) -> str:
        if experiment_id not in self._shown:
            raise ValidationError(
                f"{field}: {experiment_id!r} is not in the list shown (check the filters)",
                field=field,
            )
        return experiment_id

    def _use_as_base(self) -> None:
        info = self.selected
        if info is None:
            raise ValidationError("experiment: choose one in the grid first", field="experiment")
        if self.other.value == info.experiment_id:
            # the other side needs another experiment: the newest that is not this one
            rest = [i for i in self._shown if i != info.experiment_id]
            self.other.value = rest[0] if rest else None
        self.base.value = info.experiment_id
        self.messages.info(f"Base: {experiment_name(info)}; choose the other, then Compare")

    def _find(self, experiment_id: str | None) -> Any:
        if not experiment_id:
            return None
        found = self._shown.get(experiment_id)
        if found is None:
            found = next((e for e in self._all if e.experiment_id == experiment_id), None)
        return found

    # --- bless and delete -------------------------------------------------------------------
    def bless(self, experiment_id: str | None = None) -> Any:
        """Make the experiment (the chosen one by default) its dataset's baseline for its
        prompt; the one blessed before stops being it. Needs the role ``bless_role``."""
        info = self._find(experiment_id) if experiment_id else self.selected
        if info is None:
            raise ValidationError("experiment: choose one in the grid first", field="experiment")
        blessed = self.session.experiments.bless(info.experiment_id)
        self.refresh()
        self.messages.ok(
            f"Blessed “{experiment_name(blessed)}”: the baseline of {dataset_label(blessed)}"
            f" for prompt {blessed.prompt_id}; comparisons start from it"
        )
        return blessed

    def delete(self, experiment_id: str | None = None, confirm: bool = False) -> bool:
        """Delete the experiment (the chosen one by default), its rows and its comparison
        (audited). Without ``confirm`` it only asks, beside the Delete button."""
        info = self._find(experiment_id) if experiment_id else self.selected
        if info is None:
            raise ValidationError("experiment: choose one in the grid first", field="experiment")
        if not confirm:
            self._asked = info.experiment_id
            self.confirm_label.value = (
                f"<span class='pt-warn'>Delete <b>{esc(experiment_name(info))}</b> and its rows"
                " for everyone in this environment? This cannot be undone.</span>"
            )
            self.confirm_box.layout.display = ""
            return False
        self._hide_confirm()
        self.session.experiments.delete(info.experiment_id)
        self._runs.pop(info.experiment_id, None)
        if self._pair is not None and info.experiment_id in {e.experiment_id for e in self._pair}:
            self._clear_comparison()
        self.refresh()
        self.messages.ok(f"Deleted “{experiment_name(info)}”")
        return True

    def cancel_delete(self) -> None:
        """Close the question; nothing is deleted (the Cancel button)."""
        self._hide_confirm()
        self.messages.info("Nothing deleted")

    def _hide_confirm(self) -> None:
        self._asked = None
        self.confirm_box.layout.display = "none"
        self.confirm_label.value = ""

    # --- the comparison ---------------------------------------------------------------------
    def run_of(self, experiment_id: str) -> Any:
        """The stored run (``s.experiments.get``), read once and kept for the next uses."""
        run = self._runs.pop(experiment_id, None)
        if run is None:
            run = self.session.experiments.get(experiment_id)
        self._runs[experiment_id] = run  # the most recently used last
        while len(self._runs) > LOADED:
            self._runs.pop(next(iter(self._runs)))
        return run

    def compare(self) -> Any:
        """Compare the chosen experiments, item by item; returns the ``ExperimentComparison``."""
        base, other = self._find(self.base.value), self._find(self.other.value)
        if other is None:
            raise ValidationError("other: choose an experiment to compare", field="other")
        if base is None:
            raise ValidationError("base: choose the experiment to compare with", field="base")
        if base.experiment_id == other.experiment_id:
            raise ValidationError("base: choose an experiment other than the other", field="base")
        with self.busy(self.compare_button, label="Reading both runs and comparing them…"):
            base_run = self.run_of(base.experiment_id)
            other_run = self.run_of(other.experiment_id)
            cmp = compare_runs(base_run, other_run, base_info=base, other_info=other)
        self.comparison, self._pair = cmp, (base, other)
        frame = cmp.to_dataframe()
        records = frame.to_dict("records")
        self._items = {str(r["item_id"]): r for r in records}
        first_rows = [_first_rows(base_run), _first_rows(other_run)]
        self._rows = {k: (first_rows[0].get(k), first_rows[1].get(k)) for k in self._items}
        scorers = list(cmp.scorers)
        self.summary_view.value = comparison_summary_html(cmp, base, other)
        self.items.select(None)
        self.items.columns = item_columns(scorers)
        self.items.set_rows(
            [(k, item_cells(r, scorers, self._label_row(k))) for k, r in self._items.items()],
            texts=[item_text(r, self._label_row(k)) for k, r in self._items.items()],
        )
        self.export.enable()
        self._on_item(None)
        s = cmp.summary()
        self.messages.ok(
            f"Compared {s['items']} item(s): {s['regressions']} regression(s),"
            f" {s['improvements']} improvement(s)"
        )
        return cmp

    def _label_row(self, item_id: str) -> Any:
        base_row, other_row = self._rows.get(item_id, (None, None))
        return other_row or base_row

    def _clear_comparison(self) -> None:
        self.comparison, self._pair = None, None
        self._items, self._rows = {}, {}
        self.summary_view.value = self.item_detail.value = self.item_diff.value = ""
        self.items.select(None)
        self.items.set_rows([])
        self.export.reset()
        self._on_item(None)

    def to_dataframe(self):  # -> pandas.DataFrame
        """The comparison, one row per item (``ExperimentComparison.to_dataframe()``)."""
        if self.comparison is None:
            raise ValidationError("compare: compare two experiments first", field="compare")
        return self.comparison.to_dataframe()

    def save_csv(self, path: Any) -> Any:
        """Write the comparison (``to_dataframe()``) to ``path`` as CSV; returns the path."""
        return self.export.save_csv(path)

    def show_dataframe(self) -> Any:
        return self.export.show_dataframe()

    @property
    def selected_item(self) -> dict[str, Any] | None:
        """The comparison's row of the item chosen in the per-item grid, or None."""
        key = self.items.selected_key
        return self._items.get(key) if key else None

    def select_item(self, item_id: str) -> dict[str, Any]:
        """Choose an item of the comparison (turning the grid to its page)."""
        if item_id not in self._items:
            raise ValidationError(f"item: {item_id!r} is not in the comparison", field="item")
        self.items.select(item_id)
        return self._items[item_id]

    def _on_item(self, key: Any) -> None:
        record = self._items.get(key) if key else None
        self.open_button.disabled = self.open_base_button.disabled = record is None
        if record is None:
            self.item_detail.value = self.item_diff.value = ""
            return
        scorers = list(self.comparison.scorers)
        self.item_detail.value = item_detail_html(record, scorers, self._label_row(key))
        before, after = record["base_answer"], record["other_answer"]
        if before is None or after is None:
            self.item_diff.value = (
                "<span class='pt-muted'>No word diff: one of the runs has no answer here</span>"
            )
        elif before == after:
            self.item_diff.value = "<div class='pt-ok'>The same answer in both runs.</div>"
        else:
            self.item_diff.value = "<b>Differences</b> (base → other)" + word_diff_html(
                before, after, "base's answer", "other's answer"
            )

    def open_selected(self, side: str = "other") -> Any:
        """Open the chosen item in the Tester with ``side``'s answer ("other" or "base"): its
        context, the draft that experiment ran, and its answer, scores and reasons as stored
        (no new call; Run there calls the model again)."""
        if side not in ("other", "base"):
            raise ValidationError("side: 'other' or 'base'", field="side")
        key = self.items.selected_key
        if key is None or self._pair is None:
            raise ValidationError("item: choose an item of the comparison first", field="item")
        info = self._pair[0] if side == "base" else self._pair[1]
        row = self._rows[key][0 if side == "base" else 1]
        if row is None:  # pragma: no cover - the grid holds only items both runs have
            raise ValidationError(f"item: not in the {side} run", field="item")
        run = self.run_of(info.experiment_id)
        record = getattr(run, "record", run)
        draft_data = dict(record.draft)
        context = dict(row.context or {})
        try:  # the item's log, when it came from one (its production answer is shown too)
            draft = self.session.open_test(row.context_id)
        except PromptTesterError:
            draft = TestDraft(prompt_data=draft_data, context_data=context)
        draft = draft.model_copy(
            update={"prompt_data": draft_data, "context_data": context or draft.context_data}
        )
        self.tester.show_replay_row(draft, row, list(record.scorers), behaviour=record.behaviour)
        if self.on_open is not None:
            self.on_open(row)
        return draft

    # --- history ----------------------------------------------------------------------------
    def plot_history(self, metric: str | None = None, dataset: str | None = None) -> Any:
        """Plot the dataset's experiments over time (``s.experiments.history``) under the
        button; returns the matplotlib Figure. The dataset: ``dataset``, else the filter's,
        else the chosen experiment's."""
        metric = metric or self.metric.value
        if not metric:
            raise ValidationError("metric: choose what to plot", field="metric")
        chosen = self.selected
        if dataset is None:
            dataset = self.dataset_filter.value if self.dataset_filter.value != ALL else None
        if dataset is None and chosen is not None:
            dataset = chosen.dataset
        if not dataset:
            raise ValidationError(
                "dataset: choose a dataset in the filter (or an experiment over a dataset)",
                field="dataset",
            )
        with self.busy(self.plot_button, label=f"Plotting the history of {dataset}…"):
            history = self.session.experiments.history(dataset, metric=metric)
            figure = self.history_panel.show(dataset, metric, history)
        self.messages.clear()
        return figure


def _first_rows(run: Any) -> dict[str, Any]:
    """Each item's first repeat's row (the answer the comparison shows), by item."""
    record = getattr(run, "record", run)
    first: dict[str, Any] = {}
    for row in sorted(record.rows, key=lambda r: r.repeat):
        first.setdefault(item_key(row), row)
    return first

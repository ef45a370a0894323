"""The replay tool: rerun the tester's draft over many logged contexts and see what changed.

What the next run selects is ``replay_options``'; what a grid row shows is ``replay_rows``';
the run's summaries in words are ``replay_summary``'; this module holds the run's flow.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as w

from ..errors import ValidationError
from ..judging.scorers import ScorerSet
from ..session import Session
from ._common import esc
from .dataset_add import AddToDataset
from .export import CSV_LINK_MAX, CsvOffer
from .grid import Grid
from .replay_options import ALL_VERSIONS, DATASET, DRAFT_VERSION, LOGS, SAME, ReplayOptions
from .replay_rows import (
    replay_columns,
    row_cells,
    row_detail_html,
    row_diff_html,
    row_text,
    view_order,
)
from .replay_summary import estimate_html, run_summary_html, scores_summary_html, stopped_label
from .scorer_form import ScorerForm
from .tester import Tester

HISTORY = 10  # finished runs kept for the Compare view
ROWS_PAGE = 200  # rows of a run in the grid at a time (the whole run is in to_dataframe())
# CSV_LINK_MAX: a bigger run's CSV is save_csv only; the others are where they were before
# the rows and the options had their modules
__all__ = [
    "ALL_VERSIONS",
    "CSV_LINK_MAX",
    "DATASET",
    "DRAFT_VERSION",
    "LOGS",
    "SAME",
    "ReplayTool",
    "row_text",
]
EMPTY = "No rows yet: press Replay"
RUNNING = "Replaying: the rows appear here as they finish…"


class ReplayTool(ReplayOptions):
    """Choose logs and scorers, run the Tester's draft on each with progress, list the rows
    in a grid as they finish (changed first once the run ends; sortable by score, similarity,
    cost, latency, error), show a row's diff, scores and reasons, open it in the Tester, and
    the summary with each scorer's mean, pass rate and 95 % interval.

    From Python: ``run()``, ``estimate()``, ``to_dataframe()``, ``save_csv(path)``,
    ``open_selected()``, ``scorers`` (the list the form describes), ``set_scorers([...])``,
    ``history`` (finished runs, newest last)."""

    def __init__(self, session: Session, tester: Tester):
        super().__init__(layout=w.Layout(width="100%"))
        self.session = session
        self.tester = tester
        self.last_run: Any = None
        self.history: list[Any] = []  # finished runs, newest last (the Compare view's choices)
        self.on_finish: list[Any] = []  # callables(run), told when a run has ended
        self.finished = threading.Event()  # set when the last started run has been shown
        self.finished.set()
        self._rows: dict[Any, Any] = {}
        self._scorer_meta: list[dict[str, Any]] = []
        self._draft: dict[str, Any] | None = None  # the Tester's draft the last run replayed
        self._landed: list[Any] = []  # rows finished but not yet sent to the grid
        self._rows_lock = threading.Lock()
        self.on_open: Callable[[Any], Any] | None = None  # the app: show the Tester tab

        self._build_options()  # what the next run selects: logs, version, limits
        self.estimate_button = w.Button(description="Estimate", icon="calculator")
        self.run_button = w.Button(description="Replay", icon="play", button_style="success")
        self.cancel_button = w.Button(description="Cancel", icon="stop", disabled=True)
        self.progress = w.IntProgress(
            value=0, min=0, max=1, description="", layout=w.Layout(width="320px")
        )
        self.progress_label = w.HTML()
        self.estimate_view = w.HTML()
        self.summary_view = w.HTML()
        self.grid = Grid(
            replay_columns([]),
            css_class="pt-replay-grid",
            page_size=ROWS_PAGE,
            empty=EMPTY,
            min_width="880px",  # beside JupyterLab's side bar every column shows
            search=True,
            multi=True,  # Ctrl/Cmd-click: several rows for Add to dataset
        )
        self.table = self.grid.table  # the ITable: ``table.selected_rows`` is the browser's
        self.open_button = w.Button(
            description="Open in Tester", icon="flask", button_style="primary", disabled=True
        )
        self.open_button.add_class("pt-replay-open")
        # the selected rows' logs into a dataset (a log's repeats are one item)
        self.add_to_dataset = AddToDataset(
            session, self._selected_context_ids, css_class="pt-replay", noun="log"
        )
        self.grid.on_selection(lambda _keys: self.add_to_dataset.refresh_button_state())
        self.export = CsvOffer("replay", "app.replay", self.to_dataframe, "pt-replay")
        self.frame_button, self.csv_button = self.export.frame_button, self.export.csv_button
        self.csv_link, self.frame_view = self.export.csv_link, self.export.frame_view
        self._drafts: dict[int, dict[str, Any]] = {}  # id(run) -> the draft it replayed
        self.run_button.add_class("pt-replay-run")
        self.diff = w.HTML()
        self.diff.add_class("pt-diff")
        self.form = ScorerForm()
        self.scores_view = w.HTML()
        self.scores_view.add_class("pt-replay-scores")
        self.summary_view.add_class("pt-replay-summary")
        self.row_scores = w.HTML()
        self.row_scores.add_class("pt-row-scores")

        self.estimate_button.on_click(self.guarded(lambda _: self.estimate()))
        self.run_button.on_click(self.guarded(lambda _: self.run(wait=False)))
        self.cancel_button.on_click(self.guarded(lambda _: self.cancel()))
        self.grid.on_select(self.guarded(self._on_row))
        self.open_button.on_click(self.guarded(lambda _: self.open_selected()))
        self.export.wire(self.guarded)
        self.source.observe(self.guarded(lambda _: self._on_source()), names="value")
        self.dataset_name.observe(
            self.guarded(lambda _: self._load_dataset_versions()), names="value"
        )

        # what the run selects: a log query, or a dataset (shown as the toggle says)
        self.logs_box = w.HBox(
            # wraps as the Logs tab's filters do, so Until is never cut at the panel's edge
            [self.prompt_filter, self.version_filter, self.since, self.until],
            layout=w.Layout(flex_flow="row wrap"),
        )
        self.dataset_box = w.HBox(
            [
                self.dataset_name,
                self.dataset_version,
                w.HTML(
                    "<span class='pt-muted'>every item of the draft's prompt runs on its"
                    " context; the run is stored as an experiment for the team</span>"
                ),
            ],
            layout=w.Layout(flex_flow="row wrap", display="none", align_items="center"),
        )
        self.dataset_box.add_class("pt-replay-dataset-box")
        self.children = [
            w.HTML(
                "<span class='pt-muted'>Reruns the <b>Tester's draft</b> with the Tester's behaviour on"
                " each chosen log's (or dataset item's) context, and compares with what production"
                " answered.</span>"
            ),
            w.HBox(
                [w.HTML("<b>Replay on</b>", layout=w.Layout(width="90px")), self.source],
                layout=w.Layout(align_items="center"),
            ),
            self.logs_box,
            self.dataset_box,
            w.HBox([self.run_name, self.run_note], layout=w.Layout(flex_flow="row wrap")),
            w.HBox([self.limit, self.concurrency, self.max_cost]),
            w.HBox([self.fill_missing, self.send_unresolved]),
            self.form,
            w.HBox(
                [
                    self.estimate_button,
                    self.run_button,
                    self.cancel_button,
                    self.progress,
                    self.progress_label,
                ]
            ),
            self.messages,
            self.estimate_view,
            self.unresolved_view,
            self.summary_view,
            self.scores_view,
            w.HBox([self.open_button, self.frame_button, self.csv_button, self.csv_link]),
            self.frame_view,  # the run as a DataFrame, once asked for
            self.grid,
            self.add_to_dataset,
            self.row_scores,
            self.diff,
            self.output,
        ]
        self.guarded(self._load_prompts)()
        self.guarded(self.load_behaviours)()
        self.guarded(self.load_datasets)()

    def __repr__(self) -> str:
        return f"<ReplayTool env={self.session.env.env_name!r} last={self.last_run!r}>"

    # --- Python equivalents --------------------------------------------------------------------
    @property
    def scorers(self) -> list[Any]:
        """The scorers the next run uses: the form's, then any set from Python."""
        return self.form.scorers

    def set_scorers(self, values: Any) -> list[Any]:
        """Run with exactly ``values`` (``pt.scorers`` objects or callables); clears the form."""
        return self.form.set_scorers(values)

    def load_behaviours(self) -> None:
        """Refresh the judges' behaviour pickers from the environment."""
        self.form.set_behaviours([b.name for b in self.session.behaviours.list() if not b.shadowed])

    def estimate(self) -> Any:
        """The number of calls and the estimated cost, without calling any model."""
        run = self.session.replay(
            self.tester.prompt_data, **self._options(), progress=False, dry_run=True
        )
        self._show_estimate(run.estimate)
        self._show_unresolved(run)
        return run.estimate

    def run(self, wait: bool = True) -> Any:
        """Start the replay; with ``wait`` return the finished ``ReplayRun``."""
        if self.last_run is not None and not self.last_run.done:
            raise ValidationError(
                "replay: a replay is already running; cancel it first", field="replay"
            )
        options = self._options()
        self.progress.value, self.progress.max = 0, 1
        draft = self.tester.prompt_data
        self.summary_view.value = self.diff.value = self.scores_view.value = ""
        self.unresolved_view.value = ""
        self.row_scores.value = ""
        self.export.reset()
        self.open_button.disabled = True
        with self._rows_lock:
            self._landed = []
            self._rows = {}
        # the scorer columns are known before any row lands
        self._scorer_meta = [s.meta() for s in ScorerSet.build(options["scorers"])]
        self.grid.select(None)
        self.grid.columns = replay_columns(self._scorer_meta)
        self.grid.empty = RUNNING
        self.grid.set_rows([])
        try:
            run = self.session.replay(
                draft,
                **options,
                progress=self._on_progress,
                on_row=self._on_landed,
                wait=False,
            )
        except Exception:
            self.grid.empty = EMPTY  # refused before it ran (said in words by the caller)
            self.grid.set_rows([])
            raise
        self._draft = draft
        self._drafts[id(run)] = draft
        self.last_run = run
        self.finished.clear()
        self._show_estimate(run.estimate)
        self.run_button.disabled, self.cancel_button.disabled = True, False
        self.messages.info("Replaying: selecting and planning the logs…")
        if wait:
            run.wait()
            self._finish(run)
        else:
            threading.Thread(
                target=self._watch, args=(run,), name="replay-watch", daemon=True
            ).start()
        return run

    def cancel(self) -> None:
        if self.last_run is not None:
            self.last_run.cancel()
            self.messages.info("Cancelling: calls in flight finish, finished rows are kept")

    def to_dataframe(self):
        if self.last_run is None:
            raise ValidationError("replay: run a replay first", field="replay")
        return self.last_run.to_dataframe()

    def save_csv(self, path: str | Path) -> Path:
        """Write the last run (``to_dataframe()``) to ``path`` as CSV; returns the path."""
        return self.export.save_csv(path)

    def show_dataframe(self) -> Any:
        """Show the last run as a DataFrame under the buttons (and return it)."""
        return self.export.show_dataframe()

    def offer_csv(self) -> str:
        """A download link for the last run as CSV (no file is written); returns the CSV."""
        return self.export.offer_csv()

    def open_selected(self) -> Any:
        """Open the selected row in the Tester: its log's context, the draft that was
        replayed, the logged answer, and the row's own answer, scores and reasons (no new
        call: Run there reruns it)."""
        row = self.selected_row
        if row is None:
            raise ValidationError("replay: select a row first", field="row")
        draft = self.open_row(row, self.last_run)
        if self.on_open is not None:
            self.on_open(row)
        return draft

    def open_row(self, row: Any, run: Any = None) -> Any:
        """Open ``row`` of ``run`` (a run of this tab's history) in the Tester, showing the
        row's answer, scores and reasons as the run recorded them."""
        replayed = self._drafts.get(id(run)) if run is not None else None
        draft = self.session.open_test(row.context_id)
        draft = draft.model_copy(
            update={
                "prompt_data": dict(replayed or self._draft or draft.prompt_data),
                "context_data": dict(row.context or draft.context_data),
            }
        )
        metas = list(getattr(run, "scorers", None) or self._scorer_meta)
        behaviour = getattr(run, "behaviour", None)
        self.tester.show_replay_row(draft, row, metas, behaviour=behaviour)
        return draft

    # --- internals -------------------------------------------------------------------------------
    def _on_source(self) -> None:
        """Show the log query's controls, or the dataset's (the limit is a log query's)."""
        on_dataset = self.source.value == DATASET
        self.logs_box.layout.display = "none" if on_dataset else ""
        self.limit.layout.display = "none" if on_dataset else ""
        self.dataset_box.layout.display = "" if on_dataset else "none"
        if on_dataset:
            self.load_datasets()

    def _show_unresolved(self, run: Any) -> None:
        """Say in words which logs were not sent for lacking a variable the draft uses."""
        from ..display.runs import unresolved_lines

        lines = unresolved_lines(run)
        self.unresolved_view.value = (
            "<span class='pt-warn'>Not sent: "
            + "; ".join(esc(line) for line in lines)
            + ". Choose the draft's version, or fill the variable (Fill missing; in Python"
            " <code>defaults={...}</code>).</span>"
            if lines
            else ""
        )

    def _on_progress(self, done: int, total: int) -> None:
        """Live counts while the run goes: calls done of those planned so far, and the
        estimate as it grows (the run plans logs as it reads them)."""
        self.progress.max = max(total, 1)
        self.progress.value = done
        self.progress_label.value = f"{done} / {total}"
        run = self.last_run
        if run is not None and not run.done:
            self._show_estimate(run.estimate)
            self.messages.info(f"Replaying: {done} of {total} call(s) done…")

    def _on_landed(self, row: Any) -> None:
        """A row finished (the engine's thread): the grid gets the rows in batches that grow
        with the grid, so a long run sends each row a bounded number of times."""
        with self._rows_lock:
            self._landed.append(row)
            if len(self._landed) < max(1, len(self._rows) // 10):
                return
            batch, self._landed = self._landed, []
            for r in batch:
                self._rows[(r.context_id, r.repeat)] = r
        with self.output:
            self.grid.extend(
                [((r.context_id, r.repeat), row_cells(r, self._scorer_meta)) for r in batch],
                texts=[row_text(r) for r in batch],
            )

    def _watch(self, run: Any) -> None:
        run.wait()
        with self.output:
            self._finish(run)

    def _finish(self, run: Any) -> None:
        try:
            self._show_run(run)
        finally:
            self.run_button.disabled, self.cancel_button.disabled = False, True
            self.finished.set()
        if run.error is None:
            self.history = [*self.history, run][-HISTORY:]
            kept = {id(r) for r in self.history}
            self._drafts = {k: v for k, v in self._drafts.items() if k in kept}
            for listener in list(self.on_finish):
                listener(run)

    def _show_run(self, run: Any) -> None:
        if run.error is not None:  # the selection failed before any row (wait=False keeps it)
            message = getattr(run.error, "message", None) or str(run.error)
            self.messages.error(f"Replay failed: {message}")
            return
        s = run.summary()
        stopped = stopped_label(s)
        self.summary_view.value = run_summary_html(s)
        self._show_estimate(run.estimate)  # complete now that every log was read
        self._show_unresolved(run)
        self._scorer_meta = list(run.scorers or [])
        self.scores_view.value = self.scores_html(run.scorers or [], s.get("scores") or {})
        ordered = sorted(run.rows, key=view_order)
        with self._rows_lock:
            self._landed = []
            self._rows = {(r.context_id, r.repeat): r for r in ordered}
        self.grid.columns = replay_columns(self._scorer_meta)
        self.grid.empty = EMPTY if run.rows else "No log matched the selection"
        self.grid.set_rows(
            [(k, row_cells(r, self._scorer_meta)) for k, r in self._rows.items()],
            texts=[row_text(r) for r in self._rows.values()],
        )
        self.open_button.disabled = self.grid.selected_key is None
        self.export.enable(run.finished_at)
        self.messages.ok(
            f"Replay {stopped}: {s['succeeded']} of {len(run.rows)} answered" + _stored(run)
        )

    @staticmethod
    def scores_html(metas: list[dict[str, Any]], scores: dict[str, dict[str, Any]]) -> str:
        """The per-scorer summary: mean, pass rate and the 95 % intervals, n, the spread."""
        return scores_summary_html(metas, scores)

    def _on_row(self, key: Any) -> None:
        row = self._rows.get(key) if key else None
        self.open_button.disabled = row is None
        self.row_scores.value = "" if row is None else self.row_scores_html(row)
        self.diff.value = "" if row is None else row_diff_html(row)

    @property
    def selected_row(self) -> Any:
        """The replay row chosen in the grid (None when none is)."""
        key = self.grid.selected_key
        return self._rows.get(key) if key else None

    def select_rows(self, keys: list[tuple[str, int]]) -> list[Any]:
        """Select several rows of the page shown: ``(context_id, repeat)`` each."""
        self.grid.select_keys(keys)
        return [self._rows[k] for k in self.grid.selected_keys if k in self._rows]

    def _selected_context_ids(self) -> list[str]:
        """The logs of the rows selected, each once (its repeats are one log)."""
        return list(dict.fromkeys(k[0] for k in self.grid.selected_keys))

    def select_row(self, context_id: str, repeat: int = 0) -> Any:
        """Select a row of the last run (``repeat`` 0-based, as ``ReplayRow.repeat``)."""
        key = (context_id, repeat)
        if key not in self._rows:
            raise ValidationError(f"row: no row {context_id!r} in the last run", field="row")
        self.grid.select(key)
        return self._rows[key]

    def row_scores_html(self, row: Any) -> str:
        """A row's scores, whether each passes, and why (a judge's reason, a check's error)."""
        return row_detail_html(row, self._scorer_meta)

    def _show_estimate(self, estimate: Any) -> None:
        planning = self.last_run is not None and not self.last_run.done
        self.estimate_view.value = estimate_html(estimate, planning=planning)


def _stored(run: Any) -> str:
    """What became of a run over a dataset: the experiment it was stored as, or why not."""
    experiment = getattr(run, "experiment_id", None)
    if experiment:
        label = f" ({run.record.name!r})" if getattr(run.record, "name", None) else ""
        return f" · stored as experiment {experiment}{label} for the team"
    error = getattr(run, "store_error", None)
    if error is not None:
        said = getattr(error, "message", None) or type(error).__name__
        return f" · not stored as an experiment: {said} (app.replay.last_run.store() tries again)"
    return ""

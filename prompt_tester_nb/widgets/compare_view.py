"""The Compare view: is the candidate run better than the baseline (production or an earlier
run), judged pairwise in both orders? Counts, the win rate with its 95 % interval, and the
pairs in a grid, losses, then ties, then wins, then errors, a page of ``PAGE`` at a time;
the grid sits right under the summary and selecting a pair shows both full texts and both
reasons under it, the word diff between them, and the way on: Open in Tester (the candidate's
row, its answer shown), the comparison as a DataFrame or CSV, and, when the candidate won
(the interval above 0.5), "Publish as version N" (``publish_offer``).

The judge sees each pair twice and speaks of "A" (the answer shown first) and "B"; the page
never shows those letters: each reason names "candidate" and "production" (or the baseline
run) according to the order that verdict used (``judging.compare.named_reason``)."""

from __future__ import annotations

import threading
from typing import Any

import ipywidgets as w

from ..errors import PromptTesterError, ValidationError
from ..judging import scorers as sc
from ..judging.compare import named_reason
from ..session import Session
from ._common import Tool, esc
from .diff_view import word_diff_html
from .export import CsvOffer
from .grid import Column, Grid, cut
from .labels import id_html, row_label
from .publish_offer import PublishOffer
from .replay_tool import ReplayTool
from .scorer_form import JUDGE

PRODUCTION = "production"
ORDER = {"loss": 0, "tie": 1, "win": 2, None: 3}  # losses, then ties, then wins, then errors
ORDER_TEXT = "losses, then ties, then wins, then errors"
VERDICT = {"win": "✓ win", "loss": "✗ loss", "tie": "= tie", None: "⚠ error"}
PAGE = 25  # pairs on one page of the grid (all of them are in the DataFrame)


def columns(baseline: str = PRODUCTION) -> tuple[Column, ...]:
    """The grid's columns; ``baseline`` names the other answer ("production", or "baseline")."""
    return (
        Column("verdict", width="70px"),
        Column("context", width="180px"),
        Column("repeat", width="60px", numeric=True),
        Column("candidate's answer"),
        Column(f"{baseline}'s answer"),
        Column("judge's reason (candidate shown first)", width="170px"),
        Column(f"judge's reason ({baseline} shown first)", width="170px"),
    )


COLUMNS = columns()


def pair_cells(p: Any, context: Any = None, baseline: str = PRODUCTION) -> list[str]:
    """A pair's summary cells, in ``columns``' order (the full texts are in the detail);
    the reasons name the candidate and the baseline, never "A" and "B"."""
    return [
        VERDICT[p.verdict],
        row_label(p.context_id, context),
        str(p.repeat + 1),
        cut(p.candidate, 120),
        cut(p.baseline, 120),
        cut(named_reason(p.error or p.reason_first, "candidate", baseline), 100),
        cut(named_reason(p.reason_second, baseline, "candidate"), 100),
    ]


def pair_order(p: Any) -> tuple[int, str, int]:
    """The one order of the view's table and picker: the verdict, then context and repeat."""
    return (ORDER.get(p.verdict, len(ORDER)), p.context_id, p.repeat)


def _text(value: Any) -> str:
    """A full answer, wrapped at word boundaries (not a monospaced block)."""
    return (
        "<div class='pt-pre' style='font-family:inherit;white-space:pre-wrap;line-height:1.45;"
        f"overflow-wrap:break-word;word-break:normal'>{esc(value)}</div>"
    )


def run_label(number: int, run: Any) -> str:
    s = run.summary()
    when = (run.finished_at or "")[11:19]
    return f"#{number} · {run.behaviour} · {s['succeeded']}/{s['calls']} answered" + (
        f" · {when}" if when else ""
    )


class CompareView(Tool):
    """Choose the candidate (a run of the Replay tab, the last by default) and the baseline
    (production, or an earlier run), a rubric and a judge behaviour; ``run()`` returns the
    ``Comparison`` (also ``comparison``)."""

    def __init__(self, session: Session, replay: ReplayTool):
        super().__init__(layout=w.Layout(width="100%"))
        self.session = session
        self.replay = replay
        self.comparison: Any = None
        self.finished = threading.Event()
        self.finished.set()
        self._pairs: dict[tuple[str, int], Any] = {}
        self._sorted: list[Any] = []  # the pairs in the view's order (``pair_order``)
        self._runs: list[tuple[int, Any]] = []  # (number, run) of the Replay tab's history
        self._next = 1

        wide = {"style": {"description_width": "initial"}}
        self.candidate = w.Dropdown(
            description="Candidate", options=[], layout=w.Layout(width="380px"), **wide
        )
        self.baseline = w.Dropdown(
            description="Baseline", options=[("production's answers", PRODUCTION)], **wide
        )
        self.rubric = w.Textarea(
            description="Rubric",
            value="Which answer better resolves the customer's request, accurately and politely?",
            rows=2,
            layout=w.Layout(width="70%"),
            **wide,
        )
        self.judge_behaviour = w.Dropdown(description="Judged by", options=[], **wide)
        self.concurrency = w.IntSlider(
            description="Concurrency",
            value=8,
            min=1,
            max=64,
            style={"description_width": "initial"},
        )
        self.run_button = w.Button(
            description="Compare", icon="balance-scale", button_style="success"
        )
        self.run_button.add_class("pt-compare-run")
        self.progress = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="320px"))
        self.progress_label = w.HTML()
        self.summary_view = w.HTML()
        self.summary_view.add_class("pt-compare-summary")
        self.grid = Grid(
            COLUMNS,
            css_class="pt-compare-grid",
            page_size=PAGE,
            empty="No pairs yet: press Compare",
            note=ORDER_TEXT,
            min_width="880px",  # its columns fit a notebook beside JupyterLab's side bar
            search=True,
        )
        self.table = self.grid.table  # the ITable
        self.prev_button, self.next_button = self.grid.prev_button, self.grid.next_button
        self.page_label, self.pager = self.grid.page_label, self.grid.pager
        self.pair_detail = w.HTML()
        self.pair_detail.add_class("pt-compare-detail")
        self.pair_diff = w.HTML()
        self.pair_diff.add_class("pt-compare-diff")
        self.open_button = w.Button(
            description="Open in Tester", icon="flask", button_style="primary", disabled=True
        )
        self.open_button.add_class("pt-compare-open")
        self.export = CsvOffer("comparison", "app.compare", self.to_dataframe, "pt-compare")
        self.frame_button, self.csv_button = self.export.frame_button, self.export.csv_button
        self._candidate_run: Any = None
        self._contexts: dict[tuple[str, int], Any] = {}
        self.on_open: Any = None  # the app: show the Tester tab
        self.publish_offer = PublishOffer(session, self.guarded, self.messages)
        self.open_button.on_click(self.guarded(lambda _: self.open_selected()))
        self.export.wire(self.guarded)

        self.run_button.on_click(self.guarded(lambda _: self.run(wait=False)))
        self.grid.on_select(self.guarded(self._on_pair))
        replay.on_finish.append(lambda _run: self.refresh_runs())

        self.children = [
            w.HTML(
                "<span class='pt-muted'>Asks a pairwise judge which answer is better, twice per"
                " log with the order swapped: a win or a loss counts only when both orders agree,"
                " anything else is a tie. Runs come from the <b>Replay</b> tab.</span>"
            ),
            w.HBox([self.candidate, self.baseline]),
            w.HBox([self.rubric, self.judge_behaviour]),
            w.HBox([self.concurrency, self.run_button, self.progress, self.progress_label]),
            self.messages,
            self.summary_view,
            # the grid (with its pager) right under the summary, in view without scrolling;
            # the chosen pair's full texts and reasons under it
            self.grid,
            # the chosen pair's way on (the Tester) and the whole comparison's exports
            w.HBox([self.open_button, *self.export.buttons]),
            self.publish_offer,  # after a passing comparison only
            self.export.frame_view,
            self.pair_detail,
            self.pair_diff,
            self.output,
        ]
        self.guarded(self.load_behaviours)()
        self.refresh_runs()

    def __repr__(self) -> str:
        return f"<CompareView env={self.session.env.env_name!r} last={self.comparison!r}>"

    # --- Python --------------------------------------------------------------------------
    @property
    def judge(self) -> sc.Pairwise:
        rubric = self.rubric.value.strip()
        if not rubric:
            raise ValidationError("rubric: say what makes one answer better", field="rubric")
        return sc.pairwise(rubric, behaviour=self.judge_behaviour.value or JUDGE)

    def run(self, wait: bool = True) -> Any:
        """Compare the chosen runs; with ``wait`` return the ``Comparison`` (else None, and
        ``finished`` is set once it is shown)."""
        if not self.finished.is_set():
            raise ValidationError("compare: a comparison is already running", field="compare")
        if self.candidate.value is None:
            raise ValidationError(
                "candidate: run a replay in the Replay tab first", field="candidate"
            )
        if self.baseline.value == self.candidate.value:
            raise ValidationError(
                "baseline: choose a run other than the candidate", field="baseline"
            )
        runs = dict(self._runs)
        candidate = runs[self.candidate.value]
        baseline = None if self.baseline.value == PRODUCTION else runs[self.baseline.value]
        judge = self.judge
        self._candidate_run = candidate
        self._contexts = {(r.context_id, r.repeat): r.context for r in candidate.rows}
        self.finished.clear()
        self.run_button.disabled = True
        self.summary_view.value = self.pair_detail.value = self.pair_diff.value = ""
        self.export.reset()
        self.publish_offer.offer(None, None)
        self.open_button.disabled = True
        self._pairs, self._sorted = {}, []
        self.grid.select(None)
        self.grid.set_rows([])
        self.progress.value, self.progress.max = 0, 1
        self.messages.info("Judging both orders…")
        args = (candidate, baseline, judge, int(self.concurrency.value))
        if wait:
            return self._compare(*args)
        threading.Thread(
            target=self._in_thread, args=args, name="compare-watch", daemon=True
        ).start()
        return None

    def refresh_runs(self) -> None:
        """The candidate and baseline choices from the Replay tab's history (newest first)."""
        history = self.replay.history
        kept = [(n, r) for n, r in self._runs if any(r is h for h in history)]
        added = False
        for run in history:
            if not any(run is r for _, r in kept):
                kept.append((self._next, run))
                self._next += 1
                added = True
        self._runs = kept
        choices = [(run_label(n, r), n) for n, r in kept[::-1]]
        numbers = [n for _, n in choices]
        current_candidate, current_baseline = self.candidate.value, self.baseline.value
        self.candidate.options = choices
        # a new run becomes the candidate; otherwise the user's choice stays
        if choices:
            keep = not added and current_candidate in numbers
            self.candidate.value = current_candidate if keep else choices[0][1]
        self.baseline.options = [("production's answers", PRODUCTION), *choices]
        self.baseline.value = current_baseline if current_baseline in numbers else PRODUCTION

    def choose(self, candidate: Any = None, baseline: Any = None) -> None:
        """Choose runs from Python: ``candidate`` a run of the Replay tab's history (None:
        the last), ``baseline`` another run or None for production."""
        self.refresh_runs()

        def number(run: Any, field: str) -> int:
            for n, r in self._runs:
                if r is run:
                    return n
            raise ValidationError(f"{field}: not a run of the Replay tab's history", field=field)

        if candidate is not None:
            self.candidate.value = number(candidate, "candidate")
        self.baseline.value = PRODUCTION if baseline is None else number(baseline, "baseline")

    def load_behaviours(self) -> None:
        names = [b.name for b in self.session.behaviours.list() if not b.shadowed]
        current = self.judge_behaviour.value
        self.judge_behaviour.options = names
        if current in names:
            self.judge_behaviour.value = current
        elif names:
            self.judge_behaviour.value = JUDGE if JUDGE in names else names[0]

    def to_dataframe(self):
        if self.comparison is None:
            raise ValidationError("compare: run a comparison first", field="compare")
        return self.comparison.to_dataframe()

    def show_dataframe(self) -> Any:
        """Show the comparison as a DataFrame under the buttons (and return it)."""
        return self.export.show_dataframe()

    def offer_csv(self) -> str:
        """A download link for the comparison as CSV; returns the CSV."""
        return self.export.offer_csv()

    def save_csv(self, path: Any) -> Any:
        """Write the comparison (``to_dataframe()``) to ``path`` as CSV; returns the path."""
        return self.export.save_csv(path)

    def open_selected(self) -> Any:
        """Open the selected pair's candidate row in the Tester: its context, the draft
        that was replayed, and the candidate's answer with its scores (no new call)."""
        pair = self.selected_pair
        if pair is None:
            raise ValidationError("compare: select a pair first", field="pair")
        run = self._candidate_run
        row = next(
            (r for r in run.rows if (r.context_id, r.repeat) == (pair.context_id, pair.repeat)),
            None,
        )
        if row is None:  # pragma: no cover - every pair comes from a candidate row
            raise ValidationError("pair: its row is not in the candidate run", field="pair")
        draft = self.replay.open_row(row, run)
        if self.on_open is not None:
            self.on_open(row)
        return draft

    @property
    def selected_pair(self) -> Any:
        key = self.grid.selected_key
        return self._pairs.get(key) if key else None

    def select_pair(self, context_id: str, repeat: int = 0) -> Any:
        """Select a pair (``repeat`` 0-based), turning the grid to its page."""
        key = (context_id, repeat)
        if key not in self._pairs:
            raise ValidationError(f"pair: no pair {context_id!r} here", field="pair")
        self.grid.select(key)
        return self._pairs[key]

    @property
    def page(self) -> int:
        """The grid's page, from 0."""
        return self.grid.page

    @property
    def pages(self) -> int:
        return self.grid.pages

    def show_page(self, page: int) -> None:
        """Show page ``page`` (from 0, clamped) of the grid, ``PAGE`` pairs in the view's
        order; Previous and Next are disabled at the ends."""
        self.grid.show_page(page)

    # --- internals -------------------------------------------------------------------------
    def _in_thread(self, *args: Any) -> None:
        with self.output:
            try:
                self._compare(*args)
            except PromptTesterError as exc:
                self.messages.error(exc.message)
            except Exception as exc:
                self.messages.error(f"Unexpected {type(exc).__name__}: see the details below")
                raise

    def _compare(self, candidate: Any, baseline: Any, judge: Any, concurrency: int) -> Any:
        try:
            comparison = self.session.compare(
                candidate,
                baseline,
                judge=judge,
                concurrency=concurrency,
                progress=self._on_progress,
            )
            self.comparison = comparison
            self._show(comparison)
            return comparison
        finally:
            self.run_button.disabled = False
            self.finished.set()

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.max = max(total, 1)
        self.progress.value = done
        self.progress_label.value = f"{done} / {total}"

    def _show(self, c: Any) -> None:
        rate = c.win_rate
        shown = "n/a" if rate is None else f"{rate:.2f}"
        verdict = c.verdict
        self.summary_view.value = (
            f"<div style='font-size:1.1em'><b>{esc(verdict[:1].upper() + verdict[1:])}</b></div>"
            f"<b>Candidate vs {esc(c.baseline)}</b> · judge <code>{esc(c.judge.name)}</code> by"
            f" <i>{esc(c.judge.behaviour)}</i>, both orders · <b>{c.wins}</b> wins,"
            f" <b>{c.losses}</b> losses, <b>{c.ties}</b> ties, {c.errors} errors,"
            f" {c.skipped} skipped · win rate <b>{shown}</b> (a tie counts half; 0.50 is no"
            f" difference) · judge cost ${c.cost:.5f}"
        ) + (
            f'<div class="pt-warn pt-models-differ">⚠ Different models: {esc(c.models)}</div>'
            if getattr(c, "models", None)
            else ""
        )
        if c.other_version:  # production's answers of another version than the draft's
            self.summary_view.value += f"<br><span class='pt-warn'>{esc(c.version_note())}</span>"
        baseline = "production" if c.baseline == PRODUCTION else "baseline"
        self._baseline_word = baseline
        pairs = sorted(c.pairs, key=pair_order)
        self._sorted = pairs
        self._pairs = {(p.context_id, p.repeat): p for p in pairs}
        self.grid.columns = list(columns(baseline))
        self.grid.empty = "No pair to judge (no answered row had a baseline)"
        rows, texts = [], []
        for p in pairs:
            key = (p.context_id, p.repeat)
            context = self._contexts.get(key)
            rows.append((key, pair_cells(p, context, baseline)))
            texts.append(
                " ".join(
                    str(x or "")
                    for x in (
                        row_label(p.context_id, context),
                        p.context_id,
                        context,
                        p.candidate,
                        p.baseline,
                        *c.reasons(p),
                    )
                )
            )
        self.grid.set_rows(rows, texts=texts)
        self.export.enable()
        self.publish_offer.offer(c, self._candidate_run)
        self.messages.ok(f"Compared {len(c.pairs)} pair(s): see the grid, {ORDER_TEXT}")

    def _on_pair(self, key: Any) -> None:
        p = self._pairs.get(key) if key else None
        self.open_button.disabled = p is None
        if p is None:
            self.pair_detail.value = self.pair_diff.value = ""
            return
        baseline = getattr(self, "_baseline_word", PRODUCTION)
        first, second = self.comparison.reasons(p)
        said = {"A": "candidate", "B": baseline, "tie": "a tie", None: "?"}
        said_second = {"A": baseline, "B": "candidate", "tie": "a tie", None: "?"}
        reasons = (
            f"<div><b>Candidate shown first</b>: the judge chose"
            f" {esc(said.get(p.first, '?'))} · {esc(first)}</div>"
            f"<div><b>{esc(baseline.capitalize())} shown first</b>: the judge chose"
            f" {esc(said_second.get(p.second, '?'))} · {esc(second)}</div>"
        )
        error = f"<div class='pt-error'>⚠ {esc(p.error)}</div>" if p.error else ""
        label = row_label(p.context_id, self._contexts.get(key))
        self.pair_detail.value = (
            f"<div><b>{esc(label)}</b> · log {id_html(p.context_id)} · repeat {p.repeat + 1} ·"
            f" <b>{esc(VERDICT[p.verdict])}</b></div>{error}{reasons}"
            "<table style='width:100%;table-layout:fixed'><tr>"
            f"<td style='vertical-align:top'><b>Candidate's answer</b>{_text(p.candidate)}</td>"
            f"<td style='vertical-align:top'><b>{esc(baseline.capitalize())}'s answer</b>"
            f"{_text(p.baseline)}</td></tr></table>"
        )
        self.pair_diff.value = (
            "<div class='pt-ok'>The two answers are the same.</div>"
            if p.candidate == p.baseline
            else f"<b>Differences</b> ({esc(baseline)} → candidate)"
            + word_diff_html(p.baseline, p.candidate, f"{baseline}'s answer", "the candidate")
        )

"""The Compare view: is the candidate run better than the baseline (production or an earlier
run), judged pairwise in both orders? Counts, the win rate with its 95 % interval, and the
pairs in a grid, losses, then ties, then wins, then errors, a page of ``PAGE`` at a time;
the grid sits right under the summary and selecting a pair shows both full texts and both
reasons under it."""

from __future__ import annotations

import threading
from typing import Any

import ipywidgets as w

from ..errors import PromptTesterError, ValidationError
from ..judging import scorers as sc
from ..session import Session
from ._common import Tool, esc
from .grid import Column, Grid, cut
from .replay_tool import ReplayTool
from .scorer_form import JUDGE

PRODUCTION = "production"
ORDER = {"loss": 0, "tie": 1, "win": 2, None: 3}  # losses, then ties, then wins, then errors
ORDER_TEXT = "losses, then ties, then wins, then errors"
VERDICT = {"win": "✓ win", "loss": "✗ loss", "tie": "= tie", None: "⚠ error"}
PAGE = 25  # pairs on one page of the grid (all of them are in the DataFrame)
COLUMNS = (
    Column("verdict", width="70px"),
    Column("context", width="180px"),
    Column("repeat", width="60px", numeric=True),
    Column("A: candidate"),
    Column("B: baseline"),
    Column("reason (A shown first)", width="150px"),
    Column("reason (B shown first)", width="150px"),
)


def pair_cells(p: Any) -> list[str]:
    """A pair's summary cells, in ``COLUMNS``' order (the full texts are in the detail)."""
    return [
        VERDICT[p.verdict],
        p.context_id,
        str(p.repeat + 1),
        cut(p.candidate, 120),
        cut(p.baseline, 120),
        cut(p.error or p.reason_first, 100),
        cut(p.reason_second, 100),
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
        self.candidate = w.Dropdown(description="Candidate (A)", options=[], **wide)
        self.baseline = w.Dropdown(
            description="Baseline (B)", options=[("production's answers", PRODUCTION)], **wide
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
        )
        self.table = self.grid.table  # the ITable
        self.prev_button, self.next_button = self.grid.prev_button, self.grid.next_button
        self.page_label, self.pager = self.grid.page_label, self.grid.pager
        self.pair_detail = w.HTML()
        self.pair_detail.add_class("pt-compare-detail")

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
            self.pair_detail,
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
        self.finished.clear()
        self.run_button.disabled = True
        self.summary_view.value = self.pair_detail.value = ""
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
        ci, rate = c.ci95, c.win_rate
        interval = "" if ci is None else f" (95% Wilson interval {ci[0]:.2f} to {ci[1]:.2f})"
        shown = "n/a" if rate is None else f"{rate:.2f}"
        if ci is None:
            verdict = "nothing judged"
        elif ci[1] < 0.5:
            verdict = "the candidate loses beyond its interval"
        elif ci[0] > 0.5:
            verdict = "the candidate wins beyond its interval"
        else:
            verdict = "no clear difference at this size"
        self.summary_view.value = (
            f"<b>Candidate vs {esc(c.baseline)}</b> · judge <code>{esc(c.judge.name)}</code> by"
            f" <i>{esc(c.judge.behaviour)}</i>, both orders · <b>{c.wins}</b> wins,"
            f" <b>{c.losses}</b> losses, <b>{c.ties}</b> ties, {c.errors} errors,"
            f" {c.skipped} skipped · win rate <b>{shown}</b>{esc(interval)} (a tie counts"
            f" half) · {esc(verdict)} · judge cost ${c.cost:.5f}"
        ) + (
            f'<div class="pt-warn pt-models-differ">⚠ Different models: {esc(c.models)}</div>'
            if getattr(c, "models", None)
            else ""
        )
        if c.other_version:  # production's answers of another version than the draft's
            self.summary_view.value += f"<br><span class='pt-warn'>{esc(c.version_note())}</span>"
        pairs = sorted(c.pairs, key=pair_order)
        self._sorted = pairs
        self._pairs = {(p.context_id, p.repeat): p for p in pairs}
        self.grid.empty = "No pair to judge (no answered row had a baseline)"
        self.grid.set_rows([((p.context_id, p.repeat), pair_cells(p)) for p in pairs])
        self.messages.ok(f"Compared {len(c.pairs)} pair(s): see the grid, {ORDER_TEXT}")

    def _on_pair(self, key: Any) -> None:
        p = self._pairs.get(key) if key else None
        if p is None:
            self.pair_detail.value = ""
            return
        reasons = (
            f"<div><b>A shown first</b>: judge said {esc(p.first or '?')} ·"
            f" {esc(p.reason_first or '')}</div>"
            f"<div><b>B shown first</b>: judge said {esc(p.second or '?')} ·"
            f" {esc(p.reason_second or '')}</div>"
        )
        error = f"<div class='pt-error'>⚠ {esc(p.error)}</div>" if p.error else ""
        self.pair_detail.value = (
            f"<div><b>{esc(p.context_id)}</b> · repeat {p.repeat + 1} ·"
            f" <b>{esc(VERDICT[p.verdict])}</b></div>{error}{reasons}"
            "<table style='width:100%;table-layout:fixed'><tr>"
            f"<td style='vertical-align:top'><b>A: candidate</b>{_text(p.candidate)}</td>"
            f"<td style='vertical-align:top'><b>B: baseline</b>{_text(p.baseline)}</td>"
            "</tr></table>"
        )

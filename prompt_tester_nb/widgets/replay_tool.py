"""The replay tool: rerun the tester's draft over many logged contexts and see what changed."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import ipywidgets as w

from ..errors import ValidationError
from ..session import Session
from ._common import Tool, esc
from .scorer_form import ScorerForm
from .tester import Tester

SAME = "(the draft's prompt)"
HISTORY = 10  # finished runs kept for the Compare view


class ReplayTool(Tool):
    """Choose logs and scorers, run the Tester's draft on each with progress, list the rows
    (changed first) with their scores, show a row's diff, scores and reasons, and the summary
    with each scorer's mean, pass rate and 95 % interval.

    From Python: ``run()``, ``estimate()``, ``to_dataframe()``, ``scorers`` (the list the form
    describes), ``set_scorers([...])``, ``history`` (finished runs, newest last)."""

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

        self.prompt_filter = w.Dropdown(description="Logs of", options=[SAME], value=SAME)
        self.since = w.DatetimePicker(description="Since")
        self.until = w.DatetimePicker(description="Until")
        self.limit = w.BoundedIntText(description="Last", value=50, min=1, max=10_000)
        self.concurrency = w.IntSlider(description="Concurrency", value=16, min=1, max=64)
        self.max_cost = w.BoundedFloatText(
            description="Max cost $", value=0.0, min=0.0, max=10_000.0, step=0.01
        )
        self.estimate_button = w.Button(description="Estimate", icon="calculator")
        self.run_button = w.Button(description="Replay", icon="play", button_style="success")
        self.cancel_button = w.Button(description="Cancel", icon="stop", disabled=True)
        self.progress = w.IntProgress(
            value=0, min=0, max=1, description="", layout=w.Layout(width="320px")
        )
        self.progress_label = w.HTML()
        self.estimate_view = w.HTML()
        self.summary_view = w.HTML()
        self.rows_view = w.Select(options=[], rows=12, layout=w.Layout(width="100%"))
        self.rows_view.add_class("pt-mono")
        self.rows_view.add_class("pt-replay-rows")
        self.limit.add_class("pt-replay-limit")
        self.run_button.add_class("pt-replay-run")
        self.diff = w.HTML()
        self.diff.add_class("pt-diff")
        self.form = ScorerForm()
        self.scores_view = w.HTML()
        self.scores_view.add_class("pt-replay-scores")
        self.rows_header = w.HTML()
        self.rows_header.add_class("pt-replay-header")
        self.rows_header.add_class("pt-mono")
        self.summary_view.add_class("pt-replay-summary")
        self.row_scores = w.HTML()
        self.row_scores.add_class("pt-row-scores")

        self.estimate_button.on_click(self.guarded(lambda _: self.estimate()))
        self.run_button.on_click(self.guarded(lambda _: self.run(wait=False)))
        self.cancel_button.on_click(self.guarded(lambda _: self.cancel()))
        self.rows_view.observe(self.guarded(self._on_row), names="value")

        self.children = [
            w.HTML(
                "<span class='pt-muted'>Reruns the <b>Tester's draft</b> with the Tester's behaviour on"
                " each chosen log's context, and compares with what production answered.</span>"
            ),
            w.HBox([self.prompt_filter, self.since, self.until]),
            w.HBox([self.limit, self.concurrency, self.max_cost]),
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
            self.summary_view,
            self.scores_view,
            self.rows_header,
            self.rows_view,
            self.row_scores,
            self.diff,
            self.output,
        ]
        self.guarded(self._load_prompts)()
        self.guarded(self.load_behaviours)()

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
        self.form.set_behaviours([b.name for b in self.session.behaviours.list()])

    def estimate(self) -> Any:
        """The number of calls and the estimated cost, without calling any model."""
        run = self.session.replay(
            self.tester.prompt_data, **self._options(), progress=False, dry_run=True
        )
        self._show_estimate(run.estimate)
        return run.estimate

    def run(self, wait: bool = True) -> Any:
        """Start the replay; with ``wait`` return the finished ``ReplayRun``."""
        if self.last_run is not None and not self.last_run.done:
            raise ValidationError(
                "replay: a replay is already running; cancel it first", field="replay"
            )
        options = self._options()
        self.progress.value, self.progress.max = 0, 1
        self.summary_view.value = self.diff.value = self.scores_view.value = ""
        self.rows_header.value = self.row_scores.value = ""
        self.rows_view.options = []
        run = self.session.replay(
            self.tester.prompt_data, **options, progress=self._on_progress, wait=False
        )
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

    # --- internals -------------------------------------------------------------------------------
    def _load_prompts(self) -> None:
        self.prompt_filter.options = [SAME, *self.session.prompts()]

    def _options(self) -> dict[str, Any]:
        if not self.tester.behaviour:
            raise ValidationError("behaviour: choose a behaviour in the Tester", field="behaviour")
        prompt = self.prompt_filter.value
        return {
            "behaviour": self.tester.behaviour,
            "prompt_id": None if prompt == SAME else prompt,
            "since": self.since.value if isinstance(self.since.value, datetime) else None,
            "until": self.until.value if isinstance(self.until.value, datetime) else None,
            "limit": int(self.limit.value),
            "concurrency": int(self.concurrency.value),
            "max_cost": float(self.max_cost.value) or None,
            "scorers": self.scorers,
            "repeats": self.form.repeat_count,
        }

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
            for listener in list(self.on_finish):
                listener(run)

    def _show_run(self, run: Any) -> None:
        if run.error is not None:  # the selection failed before any row (wait=False keeps it)
            message = getattr(run.error, "message", None) or str(run.error)
            self.messages.error(f"Replay failed: {message}")
            return
        s = run.summary()
        stopped = {"max_cost": "stopped at the cost cap", "cancelled": "cancelled"}.get(
            s.get("stopped_reason") or "", "done"
        )
        errors = (
            ", ".join(f"{k}: {v}" for k, v in (s.get("errors_by_kind") or {}).items()) or "none"
        )
        p50, p95 = s.get("latency_p50_ms"), s.get("latency_p95_ms")
        repeats = f" · {s['repeats']} repeats" if (s.get("repeats") or 1) > 1 else ""
        judged = f" · {s['judge_calls']} judge call(s)" if s.get("judge_calls") else ""
        self.summary_view.value = (
            f"<b>{esc(stopped)}</b> · {s['succeeded']} answered, {s['failed']} failed,"
            f" {s.get('not_run', 0)} not run · <b>{s['changed']}</b> changed"
            f" ({(s.get('share_changed') or 0) * 100:.0f}%) · cost ${s['total_cost']:.5f}"
            f" · latency p50 {esc(p50)} ms, p95 {esc(p95)} ms · errors {esc(errors)}"
            f"{esc(repeats)}{esc(judged)}"
        )
        self._show_estimate(run.estimate)  # complete now that every log was read
        self._scorer_meta = list(run.scorers or [])
        self.scores_view.value = self.scores_html(run.scorers or [], s.get("scores") or {})
        ordered = sorted(
            run.rows,
            key=lambda r: (
                r.changed is not True,
                r.error is None,
                r.similarity or 0,
                r.context_id,
                r.repeat,
            ),
        )
        self._rows = {(r.context_id, r.repeat): r for r in ordered}
        self.rows_header.value = f"<pre class='pt-muted pt-rows-header' style='margin:0;font:inherit'>{esc(self._header())}</pre>"
        self.rows_view.options = [(self._label(r), (r.context_id, r.repeat)) for r in ordered]
        self.messages.ok(f"Replay {stopped}: {s['succeeded']} of {len(run.rows)} answered")

    @staticmethod
    def scores_html(metas: list[dict[str, Any]], scores: dict[str, dict[str, Any]]) -> str:
        """The per-scorer summary: mean, pass rate and the 95 % intervals, n, the spread."""
        if not metas:
            return ""

        def ci(value: Any) -> str:
            return (
                ""
                if not value
                else f" <span class='pt-muted'>[{value[0]:.2f}, {value[1]:.2f}]</span>"
            )

        def num(value: Any, digits: int = 2) -> str:
            return "—" if value is None else f"{value:.{digits}f}"

        rows = []
        for meta in metas:
            d = scores.get(meta["name"]) or {}
            rate = d.get("pass_rate")
            rows.append(
                "<tr>"
                f"<td><code>{esc(meta['name'])}</code></td><td>{esc(meta.get('kind'))}</td>"
                f"<td>{d.get('n', 0)}</td><td>{d.get('unscored', 0)}</td>"
                f"<td>{num(d.get('mean'))}{ci(d.get('mean_ci95'))}</td>"
                f"<td>{'—' if rate is None else f'{rate * 100:.0f}%'}{ci(d.get('ci95'))}"
                f" <span class='pt-muted'>(≥ {float(meta.get('threshold', 1)):.2f})</span></td>"
                f"<td>{num(d.get('repeat_sd'), 3)}</td>"
                f"<td>{esc(d.get('more_rows_for_5pt', '—'))}</td>"
                "</tr>"
            )
        return (
            "<table class='pt-table pt-score-summary'><thead><tr><th>scorer</th><th>kind</th>"
            "<th>n</th><th>unscored</th><th>mean [95% bootstrap]</th>"
            "<th>pass rate [95% Wilson]</th><th>SD over repeats</th>"
            "<th>more rows for ±5 pts</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
        )

    def _widths(self) -> list[int]:
        return [max(len(m["name"]), 4) for m in self._scorer_meta]

    def _header(self) -> str:
        cells = " ".join(
            f"{m['name']:>{n}}" for m, n in zip(self._scorer_meta, self._widths(), strict=True)
        )
        return f"  {'context':<34} {'rep':>3} {'sim':>4} {cells}  answer"

    def _label(self, row: Any) -> str:
        rep = f"{row.repeat + 1:>3}"
        if row.error:
            return f"✗ {row.context_id:<34} {rep} {row.error[:60]}"
        mark = "≠" if row.changed else "="
        scores = row.scores or {}
        cells = " ".join(
            f"{_cell(scores.get(m['name'])):>{n}}"
            for m, n in zip(self._scorer_meta, self._widths(), strict=True)
        )
        return (
            f"{mark} {row.context_id:<34} {rep} {row.similarity or 0:4.2f} {cells}"
            f"  {(row.new or '')[:50]}"
        )

    def _on_row(self, change: dict[str, Any]) -> None:
        row = self._rows.get(change["new"]) if change["new"] else None
        self.row_scores.value = "" if row is None else self.row_scores_html(row)
        if row is None:
            self.diff.value = ""
        elif row.error:
            self.diff.value = f"<div class='pt-error'>{esc(row.error)}</div>"
        else:
            self.diff.value = Tester.diff_html(row.production or "", row.new or "")

    @property
    def selected_row(self) -> Any:
        """The replay row chosen in the list (None when none is)."""
        return self._rows.get(self.rows_view.value) if self.rows_view.value else None

    def row_scores_html(self, row: Any) -> str:
        """A row's scores, whether each passes, and why (a judge's reason, a check's error)."""
        scores, reasons = row.scores or {}, row.reasons or {}
        lines = []
        for meta in self._scorer_meta:
            name = meta["name"]
            value = scores.get(name)
            if value is None:
                verdict = "<span class='pt-warn'>unscored</span>"
            elif value >= float(meta.get("threshold", 1.0)) - 1e-12:
                verdict = "<span class='pt-ok'>pass</span>"
            else:
                verdict = "<span class='pt-error'>fail</span>"
            lines.append(
                f"<tr><td><code>{esc(name)}</code></td><td>{_cell(value)}</td><td>{verdict}</td>"
                f"<td>{esc(reasons.get(name) or '')}</td></tr>"
            )
        head = f"<div><b>{esc(row.context_id)}</b> · repeat {row.repeat + 1}</div>"
        table = (
            "<table class='pt-table'><thead><tr><th>scorer</th><th>score</th><th></th>"
            "<th>reason</th></tr></thead><tbody>" + "".join(lines) + "</tbody></table>"
            if lines
            else ""
        )
        ideal = (
            f"<div><b>Ideal answer</b></div><pre class='pt-pre'>{esc(row.ideal)}</pre>"
            if row.ideal
            else ""
        )
        return head + table + ideal

    def _show_estimate(self, estimate: Any) -> None:
        if not estimate.rows and self.last_run is not None and not self.last_run.done:
            # the run has not planned a log yet: say so rather than "0 calls · $0"
            self.estimate_view.value = "<span class='pt-muted'>estimating as logs are read…</span>"
            return
        self.estimate_view.value = (
            f"<span class='pt-muted'>{estimate.calls} model call(s) for {estimate.rows} log(s)"
            f" ({estimate.cached} from the cache) · estimated cost ${estimate.estimated_cost:.5f}</span>"
        )


def _cell(value: Any) -> str:
    return "—" if value is None else f"{value:.2f}"

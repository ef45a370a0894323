"""The replay tool: rerun the tester's draft over many logged contexts and see what changed."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import ipywidgets as w

from ..errors import ValidationError
from ..session import Session
from ._common import Tool, esc
from .tester import Tester

SAME = "(the draft's prompt)"


class ReplayTool(Tool):
    """Choose logs, run the Tester's draft on each with progress, list the rows (changed
    first), show a row's diff and the summary. ``run()`` / ``to_dataframe()`` from Python."""

    def __init__(self, session: Session, tester: Tester):
        super().__init__(layout=w.Layout(width="100%"))
        self.session = session
        self.tester = tester
        self.last_run: Any = None
        self._rows: dict[str, Any] = {}

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
        self.diff = w.HTML()
        self.diff.add_class("pt-diff")

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
            self.rows_view,
            self.diff,
            self.output,
        ]
        self.guarded(self._load_prompts)()

    def __repr__(self) -> str:
        return f"<ReplayTool env={self.session.env.env_name!r} last={self.last_run!r}>"

    # --- Python equivalents --------------------------------------------------------------------
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
        self.progress.value, self.progress.max = 0, 1
        self.summary_view.value = self.diff.value = ""
        self.rows_view.options = []
        run = self.session.replay(
            self.tester.prompt_data, **self._options(), progress=self._on_progress, wait=False
        )
        self.last_run = run
        self._show_estimate(run.estimate)
        self.run_button.disabled, self.cancel_button.disabled = True, False
        self.messages.info(f"Replaying {run.estimate.calls} call(s)…")
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
        }

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.max = max(total, 1)
        self.progress.value = done
        self.progress_label.value = f"{done} / {total}"

    def _watch(self, run: Any) -> None:
        run.wait()
        with self.output:
            self._finish(run)

    def _finish(self, run: Any) -> None:
        self.run_button.disabled, self.cancel_button.disabled = False, True
        s = run.summary()
        stopped = {"max_cost": "stopped at the cost cap", "cancelled": "cancelled"}.get(
            s.get("stopped_reason") or "", "done"
        )
        errors = (
            ", ".join(f"{k}: {v}" for k, v in (s.get("errors_by_kind") or {}).items()) or "none"
        )
        p50, p95 = s.get("latency_p50_ms"), s.get("latency_p95_ms")
        self.summary_view.value = (
            f"<b>{esc(stopped)}</b> · {s['succeeded']} answered, {s['failed']} failed,"
            f" {s.get('not_run', 0)} not run · <b>{s['changed']}</b> changed"
            f" ({(s.get('share_changed') or 0) * 100:.0f}%) · cost ${s['total_cost']:.5f}"
            f" · latency p50 {esc(p50)} ms, p95 {esc(p95)} ms · errors {esc(errors)}"
        )
        ordered = sorted(
            run.rows, key=lambda r: (r.changed is not True, r.error is None, r.similarity or 0)
        )
        self._rows = {r.context_id: r for r in ordered}
        self.rows_view.options = [(self._label(r), r.context_id) for r in ordered]
        self.messages.ok(f"Replay {stopped}: {s['succeeded']} of {len(run.rows)} answered")

    @staticmethod
    def _label(row: Any) -> str:
        if row.error:
            return f"✗ {row.context_id:<34} {row.error[:60]}"
        mark = "≠" if row.changed else "="
        return (
            f"{mark} {row.context_id:<34} similarity {row.similarity:.2f}  {(row.new or '')[:50]}"
        )

    def _on_row(self, change: dict[str, Any]) -> None:
        row = self._rows.get(change["new"]) if change["new"] else None
        if row is None:
            self.diff.value = ""
        elif row.error:
            self.diff.value = f"<div class='pt-error'>{esc(row.error)}</div>"
        else:
            self.diff.value = Tester.diff_html(row.production or "", row.new or "")

    def _show_estimate(self, estimate: Any) -> None:
        self.estimate_view.value = (
            f"<span class='pt-muted'>{estimate.calls} model call(s) for {estimate.rows} log(s)"
            f" ({estimate.cached} from the cache) · estimated cost ${estimate.estimated_cost:.5f}</span>"
        )

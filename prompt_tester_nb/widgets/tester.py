"""The tester: edit the prompt's chats and the context, pick version and behaviour, run, compare.

Its parts live beside it, each named for what it holds: the chats as rows or raw JSON
(``chats_editor``), the "Save as ideal answer" confirmation (``ideal_answer``), the prompt
version the chats hold and switching it (``version_switch``); the HTML it shows is
``tester_views``'.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import ipywidgets as w

from ..behaviour_spec import AS_LOGGED, logged_model_label
from ..errors import PromptTesterError, ValidationError
from ..models import LogEntry, TestDraft, TestResult
from ..session import Session
from ._common import Messages, esc, pretty
from .chats_editor import ROLES, ChatRow, ChatsEditor
from .context_form import ContextForm
from .diff_view import word_diff_html
from .ideal_answer import ANYWAY_LABEL, IdealAnswer
from .labels import row_label
from .tester_views import (
    TESTER_CSS,
    answer_box,
    error_html,
    metrics_html,
    request_html,
    scores_table_html,
)
from .version_switch import VersionSwitch

_AS_LOGGED_LABEL = "as-logged (log's model)"
__all__ = ["ANYWAY_LABEL", "ROLES", "ChatRow", "Tester"]  # where they were before the split


class Tester(ChatsEditor, IdealAnswer, VersionSwitch):
    """The prompt tester. ``prompt_data``, ``context_data``, ``behaviour`` and ``run()`` are
    the Python equivalents of editing and clicking; editing the chats (``ChatsEditor``),
    saving the ideal answer (``IdealAnswer``) and switching versions (``VersionSwitch``) are
    its mixins."""

    __test__ = False  # not a pytest class

    def __init__(self, session: Session):
        super().__init__(layout=w.Layout(width="100%"))
        self.session = session
        self.source_log: LogEntry | None = None
        self.last_result: TestResult | None = None
        self._meta: dict[str, Any] = {}
        self._loading = False
        # What the last run sent (so the confirmation compares the answer's own inputs, not
        # what the boxes hold now), the chats as the log opened, and the pending save.
        self._last_run: tuple[dict[str, Any], dict[str, Any]] | None = None
        self._opened_chats: list[dict[str, Any]] | None = None
        self._ideal_pending: dict[str, Any] | None = None
        self._loaded_chats: list[dict[str, Any]] | None = None  # as the version last loaded
        self._pending_version: str | None = None  # asked for while the chats are edited

        self.title = w.HTML(
            '<span class="pt-muted">Open a log with "Test prompt", or set a prompt below.</span>'
        )
        self.version = w.Dropdown(description="Version", options=[], layout=w.Layout(width="220px"))
        self.behaviour_picker = w.Dropdown(description="Behaviour", options=[])
        self.run_button = w.Button(description="Run", icon="play", button_style="success")
        self.busy_indicator = w.HTML()
        self.rows = w.VBox()
        self.add_chat_button = w.Button(description="Add chat", icon="plus")
        self.raw = w.Textarea(rows=14, layout=w.Layout(width="100%"), continuous_update=False)
        self.raw.add_class("pt-mono")
        self.raw_message = Messages()
        self.prompt_tabs = w.Tab(
            children=[
                w.VBox([self.rows, self.add_chat_button]),
                w.VBox([self.raw, self.raw_message]),
            ]
        )
        self.prompt_tabs.set_title(0, "Chats")
        self.prompt_tabs.set_title(1, "Raw JSON")
        self.context = w.Textarea(
            rows=10, layout=w.Layout(width="100%"), value="{}", continuous_update=False
        )
        self.context.add_class("pt-mono")
        self.context.add_class("pt-context")
        self.context_message = Messages()
        # The context as key/value fields; the raw JSON (``self.context``) one click away.
        self.context_form = ContextForm(self.context, self.guarded(self._check_context))
        self.context_form.add_class("pt-context-form")
        self.request_view = w.HTML()  # the logged request as a chat transcript
        self.request_view.add_class("pt-request-view")
        self.result = w.HTML()
        self.comparison = w.HTML()
        # a replay row opened here: its scores and reasons, as the replay recorded them
        self.replay_view = w.HTML()
        self.replay_view.add_class("pt-tester-replay-row")
        self._answer_title = "This test"
        self._title: tuple[Any, Any, str] | None = None
        self.diff = w.HTML()
        self.diff.add_class("pt-diff")
        self._build_ideal_answer()  # the Save button and its confirmation box
        self._build_version_switch()  # asked when the version changes while edited
        # Stable hooks for browser tests and user CSS.
        for widget, name in (
            (self.title, "pt-tester-title"),
            (self.run_button, "pt-run"),
            (self.result, "pt-result"),
            (self.comparison, "pt-comparison"),
            (self.version, "pt-version"),
        ):
            widget.add_class(name)

        self.run_button.on_click(self.guarded(lambda _: self.run()))
        self.add_chat_button.on_click(self.guarded(lambda _: self.add_chat()))
        self.raw.observe(self.guarded(self._on_raw), names="value")
        self.context.observe(self.guarded(lambda _: self._check_context()), names="value")
        self.prompt_tabs.observe(self.guarded(self._on_tab), names="selected_index")

        self.children = [
            w.HTML(TESTER_CSS),
            self.title,
            w.HBox([self.version, self.behaviour_picker, self.run_button, self.busy_indicator]),
            self.version_confirm,
            self.messages,
            w.HTML("<b>Prompt</b>"),
            self.prompt_tabs,
            w.HTML("<b>Context</b> (variable → value; lists and objects as JSON)"),
            self.context_form,
            self.context_message,
            self.request_view,
            self.result,
            self.comparison,
            self.replay_view,
            w.HBox([self.save_ideal_button, self.ideal_status]),
            self.ideal_box,
            self.diff,
            self.output,
        ]
        self.guarded(self.load_behaviours)()

    def __repr__(self) -> str:
        prompt = self._meta.get("prompt_id", "-")
        return f"<Tester prompt={prompt!r} behaviour={self.behaviour_picker.value!r}>"

    # --- prompt data ------------------------------------------------------------------------
    @property
    def prompt_data(self) -> dict[str, Any]:
        """The draft as edited (flow-prompt's service_dump shape)."""
        return {**copy.deepcopy(self._meta), "chats": [row.to_chat() for row in self.rows.children]}

    @prompt_data.setter
    def prompt_data(self, data: dict[str, Any]) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("chats"), list):
            raise ValidationError(
                "prompt_data: must be an object with a list of chats", field="prompt_data"
            )
        self._meta = {k: copy.deepcopy(v) for k, v in data.items() if k != "chats"}
        self.rows.children = [
            ChatRow(dict(c) if isinstance(c, dict) else {"content": str(c)}, self)
            for c in data["chats"]
        ]
        self._sync_raw()

    @property
    def context_data(self) -> dict[str, Any]:
        if self.context_form.problem:
            raise ValidationError(
                f"context_data: {self.context_form.problem}", field="context_data"
            )
        try:
            value = json.loads(self.context.value or "{}")
        except json.JSONDecodeError as exc:
            raise ValidationError(
                f"context_data: is not valid JSON ({exc.msg} at line {exc.lineno})",
                field="context_data",
            ) from None
        if not isinstance(value, dict):
            raise ValidationError(
                "context_data: must be a JSON object of variable -> value", field="context_data"
            )
        return value

    @context_data.setter
    def context_data(self, data: dict[str, Any]) -> None:
        self.context.value = pretty(data)

    @property
    def behaviour(self) -> str | None:
        return self.behaviour_picker.value

    @behaviour.setter
    def behaviour(self, name: str) -> None:
        if name not in self._behaviour_values():
            self.load_behaviours()
        if name not in self._behaviour_values():
            raise ValidationError(f"behaviour: no behaviour named {name!r}", field="behaviour")
        self.behaviour_picker.value = name

    def _logged_model(self) -> str | None:
        log = self.source_log
        return logged_model_label((log.metrics or {}).get("ai_model_details")) if log else None

    def _preselect_behaviour(self) -> None:
        """``as-logged`` for a log that names its model; else what was chosen, unless that
        was ``as-logged`` (which this log cannot run): then ``default``."""
        values = self._behaviour_values()
        if self._logged_model() and AS_LOGGED in values:
            self.behaviour_picker.value = AS_LOGGED
        elif self.behaviour_picker.value == AS_LOGGED:
            stored = [v for v in values if v != AS_LOGGED]
            if stored:
                self.behaviour_picker.value = "default" if "default" in stored else stored[0]

    def _behaviour_values(self) -> list[str]:
        return [o[1] if isinstance(o, tuple) else o for o in self.behaviour_picker.options]

    # --- loading -------------------------------------------------------------------------------
    def load_behaviours(self) -> None:
        """The stored behaviours after ``as-logged`` (each log on the model that served it,
        chosen when a log is opened; a stored one of that name is shadowed, not listed)."""
        stored = [b.name for b in self.session.behaviours.list() if b.name != AS_LOGGED]
        names = [AS_LOGGED, *stored]
        current = self.behaviour_picker.value
        self.behaviour_picker.options = [(_AS_LOGGED_LABEL, AS_LOGGED), *((n, n) for n in stored)]
        if current in names:
            self.behaviour_picker.value = current
        elif self._logged_model() or not stored:
            self.behaviour_picker.value = AS_LOGGED
        else:
            self.behaviour_picker.value = "default" if "default" in stored else stored[0]

    def open_log(
        self, context_id: str, prompt_id: str | None = None, version: str | None = None
    ) -> TestDraft:
        """Load a log's context and the prompt version it used (or the one named)."""
        with self.busy(self.run_button, label="Opening the log…"):
            draft = self.session.open_test(context_id, prompt_id, version)
        self.load_draft(draft)
        return draft

    def load_draft(self, draft: TestDraft) -> None:
        """The draft in the editor; a draft from a log that names its model runs
        ``as-logged`` (that model) unless the user picks another behaviour."""
        self.source_log = draft.log
        self._preselect_behaviour()
        self._loading = True
        try:
            self.prompt_data = draft.prompt_data
            self.context_data = draft.context_data
            prompt_id = draft.prompt_data.get("prompt_id")
            versions = self.session.prompt_versions(prompt_id) if prompt_id else []
            current = str(draft.prompt_data.get("version") or "")
            options = versions if current in versions or not current else [current, *versions]
            self.version.options = options
            self.version.value = current if current in options else None
        finally:
            self._loading = False
        self._opened_chats = [row.to_chat() for row in self.rows.children]
        self._loaded_chats = list(self._opened_chats)
        self._hide_version_confirm()
        source = {
            "log": " (from the log: that version is no longer in the history)",
            "latest": " (latest)",
        }.get(draft.prompt_source, "")
        self._set_title(
            draft.prompt_data.get("prompt_id"), draft.prompt_data.get("version"), source
        )
        self.diff.value = self.replay_view.value = ""
        self._answer_title = "This test"
        self.last_result = None
        self._last_run = None
        self.result.value = metrics_html(self.source_log, None)
        self.request_view.value = request_html(self.source_log)
        self._close_ideal_box()
        self.messages.clear()
        self.context_message.clear()
        self.ideal_status.clear()
        self._show_comparison()

    def show_replay_row(
        self,
        draft: TestDraft,
        row: Any,
        metas: list[dict[str, Any]],
        behaviour: str | None = None,
    ) -> None:
        """Open a replay row: its log, the draft that was replayed, and the row's own answer,
        metrics, scores and reasons as the replay recorded them. No model is called; Run
        reruns the draft (the user's choice)."""
        self.load_draft(draft)
        # the "edited" mark compares with the stored version, which the replayed draft may
        # have changed
        self._compare_with_stored(
            draft.prompt_data.get("prompt_id"), draft.prompt_data.get("version")
        )
        if behaviour and behaviour in self._behaviour_values():
            self.behaviour_picker.value = behaviour
        label = row_label(row.context_id, row.context)
        repeat = f" (repeat {row.repeat + 1})" if row.repeat else ""
        self._answer_title = f"Replayed answer{repeat}"
        table = scores_table_html(row, metas)
        head = (
            f"<b>Replay row</b> {esc(label)}{esc(repeat)}"
            + (f" · behaviour <i>{esc(behaviour)}</i>" if behaviour else "")
            + " <span class='pt-muted'>· as the replay recorded it; Run calls the model"
            " again</span>"
        )
        if row.result is None:
            error = row.error or "no answer"
            self.replay_view.value = (
                f"<div>{head}</div><div class='pt-error'>⚠ This row failed: {esc(error)}</div>"
                + table
            )
            self.messages.info(f"Opened replay row {label}: it has no answer ({error})")
            return
        self.last_result = row.result
        self._last_run = (copy.deepcopy(draft.prompt_data), copy.deepcopy(draft.context_data))
        self._show(row.result)
        self.replay_view.value = f"<div>{head}</div>" + table
        self.messages.info(
            f"Opened replay row {label}{repeat} with the replayed draft: its answer, scores"
            " and reasons are the replay's (Run calls the model again)"
        )

    # --- running ---------------------------------------------------------------------------------
    def run(self) -> TestResult:
        """Run the draft with the context and the chosen behaviour; shows and returns the result."""
        if not self.behaviour:
            raise ValidationError(
                "behaviour: choose a behaviour (create one in Behaviours)", field="behaviour"
            )
        prompt, context = self.prompt_data, self.context_data
        self.comparison.value = self.diff.value = self.replay_view.value = ""
        self._answer_title = "This test"
        self.result.value = metrics_html(self.source_log, None) if self.source_log else ""
        self.last_result = None
        self._last_run = None
        self._close_ideal_box()  # a pending save was about the previous answer
        self.ideal_status.clear()
        self._update_save_ideal()
        self.busy_indicator.value = '<span class="pt-muted">⏳ running…</span>'
        self.run_button.description = "Running…"
        try:
            with self.busy(self.run_button, label=f"Running with behaviour {self.behaviour!r}…"):
                log_id = self.source_log.context_id if self.source_log else None
                result = self.session.test(prompt, context, self.behaviour, context_id=log_id)
        except PromptTesterError as exc:
            self.result.value = error_html(exc)
            raise
        finally:
            self.busy_indicator.value = ""
            self.run_button.description = "Run"
        self.last_result = result
        self._last_run = (copy.deepcopy(prompt), copy.deepcopy(context))
        self.messages.ok(
            f"Answered by {result.model} ({result.attempt}) in {result.latency_ms / 1000:.2f} s"
        )
        self._show(result)
        return result

    def _show(self, result: TestResult) -> None:
        warn = ""
        if result.unresolved_variables:
            names = ", ".join(f"{{{n}}}" for n in result.unresolved_variables)
            warn = f'<div class="pt-warn">⚠ Not in the context, sent to the model as written: {esc(names)}</div>'
        shown = "this replay row" if self._answer_title != "This test" else "this test"
        self.result.value = warn + metrics_html(self.source_log, result, test_name=shown)
        self._show_comparison()
        if self.source_log:
            logged = self.source_log.response_content
            self.diff.value = self.diff_html(logged, result.content or "")

    def _show_comparison(self) -> None:
        """This test's answer, the logged (production) answer and the log's ideal answer,
        side by side; the Save button follows what can be saved."""
        result = self.last_result
        log = self.source_log
        columns = [
            "<b>Logged answer (production)</b>"
            + answer_box(log.response_content if log else None, "no log opened"),
            f"<b>{esc(self._answer_title)}</b>"
            + answer_box((result.content or "") if result is not None else None, "not run yet"),
        ]
        if log is not None:
            columns.append("<b>Ideal answer</b>" + answer_box(log.ideal_answer, "none set"))
        cells = "".join(f"<div>{c}</div>" for c in columns)
        self.comparison.value = f'<div class="pt-answers">{cells}</div>'
        self._update_save_ideal()

    @staticmethod
    def diff_html(before: str, after: str) -> str:
        """The logged answer against this test's, word by word, inline (``diff_view``)."""
        if before == after:
            return '<div class="pt-ok">Same answer as the logged call.</div>'
        return "<b>Differences</b> (logged → this test)" + word_diff_html(before, after)

    # --- observers ---------------------------------------------------------------------------------
    def _check_context(self) -> None:
        """Check the context as it is typed (fields or raw JSON): while a field holds invalid
        JSON or the raw box is not a JSON object, Run is disabled and says why (a click would
        only raise the same error); once it is valid, both clear."""
        running = self.run_button.description != "Run"  # ``busy`` restores the state itself
        try:
            value = self.context_data
        except ValidationError as exc:
            self.context_message.error(exc.message)
            if not running:
                self.run_button.disabled = True
            self.run_button.tooltip = f"Fix the context first: {exc.message}"
            return
        if not running:
            self.run_button.disabled = False
        self.run_button.tooltip = ""
        self.context_message.info(f"{len(value)} variable(s)")

"""The tester: edit the prompt's chats and the context, pick version and behaviour, run, compare."""

from __future__ import annotations

import copy
import json
from typing import Any

import ipywidgets as w

from ..behaviour_spec import AS_LOGGED, logged_model_label
from ..errors import PromptTesterError, ValidationError
from ..models import LogEntry, PromptData, TestDraft, TestOrigin, TestResult
from ..service import MAX_IDEAL_ANSWER
from ..service.logs import IDEAL_SCOPE, ideal_differences
from ..session import Session
from ..validation import parse
from ._common import Messages, Tool, esc, pretty
from .context_form import ContextForm
from .diff_view import word_diff_html
from .labels import row_label
from .tester_views import (
    TESTER_CSS,
    answer_box,
    metrics_html,
    request_html,
    scores_table_html,
)

_AS_LOGGED_LABEL = "as-logged (log's model)"

ROLES = ["system", "user", "assistant", "tool", "function"]

ANYWAY_LABEL = "Save it as the log's ideal answer anyway"


class ChatRow(w.HBox):
    """One chat: role, content, and buttons to move or remove it. Other fields are kept."""

    def __init__(self, chat: dict[str, Any], owner: Tester):
        super().__init__(layout=w.Layout(width="100%", align_items="flex-start"))
        self.add_class("pt-chat")
        self.extra = {k: v for k, v in chat.items() if k not in ("role", "content")}
        role = chat.get("role") or "user"
        self.role = w.Dropdown(
            options=ROLES if role in ROLES else [*ROLES, role],
            value=role,
            layout=w.Layout(width="110px"),
        )
        text = chat.get("content") or ""
        # tall enough to read the whole chat (about 100 characters a line), up to 12 lines
        lines = sum(max(1, -(-len(line) // 100)) for line in text.splitlines() or [""])
        self.content = w.Textarea(
            value=text, rows=min(12, max(3, lines)), layout=w.Layout(width="100%")
        )
        self.content.add_class("pt-mono")
        self.content.observe(lambda _: owner._refresh_title(), names="value")
        self.role.observe(lambda _: owner._refresh_title(), names="value")
        self.up = w.Button(icon="arrow-up", tooltip="Move up", layout=w.Layout(width="34px"))
        self.down = w.Button(icon="arrow-down", tooltip="Move down", layout=w.Layout(width="34px"))
        self.remove = w.Button(
            icon="trash", tooltip="Remove this chat", layout=w.Layout(width="34px")
        )
        self.up.on_click(lambda _: owner.move_chat(self, -1))
        self.down.on_click(lambda _: owner.move_chat(self, 1))
        self.remove.on_click(lambda _: owner.remove_chat(self))
        label = " ".join(k for k in ("is_multiple", "while_fits", "required") if self.extra.get(k))
        self.flags = w.HTML(
            f'<span class="pt-muted">{esc(label)}</span>', layout=w.Layout(width="90px")
        )
        self.children = [
            self.role,
            self.content,
            w.VBox([self.up, self.down, self.remove]),
            self.flags,
        ]

    def to_chat(self) -> dict[str, Any]:
        return {**self.extra, "role": self.role.value, "content": self.content.value}


class Tester(Tool):
    """The prompt tester. ``prompt_data``, ``context_data``, ``behaviour`` and ``run()`` are
    the Python equivalents of editing and clicking."""

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
        self.save_ideal_button = w.Button(
            description="Save as ideal answer",
            icon="star",
            tooltip="Keep this test's answer as the log's ideal answer (through flow-prompt)",
            disabled=True,
            layout=w.Layout(width="auto", min_width="190px"),  # the whole label, never cut
        )
        self.ideal_status = Messages()
        # Asked when the version dropdown changes while the chats are edited.
        self.version_notice = w.HTML()
        self.version_switch = w.Button(
            description="Switch and drop my edits",
            icon="exchange",
            layout=w.Layout(width="auto", min_width="220px"),  # the whole label, never cut
        )
        self.version_keep = w.Button(
            description="Keep my edits",
            icon="undo",
            layout=w.Layout(width="auto", min_width="140px"),
        )
        self.version_confirm = w.HBox(
            [self.version_notice, self.version_switch, self.version_keep],
            layout=w.Layout(display="none"),
        )
        self.version_confirm.add_class("pt-version-confirm")
        # The confirmation a save goes through: the text to keep (editable), what differs
        # from the log, an explicit "anyway" when something does, Confirm / Cancel.
        self.ideal_notice = w.HTML()
        self.ideal_text = w.Textarea(rows=6, layout=w.Layout(width="100%"))
        self.ideal_text.add_class("pt-mono")
        self.ideal_anyway = w.Checkbox(
            value=False, description=ANYWAY_LABEL, indent=False, layout=w.Layout(width="auto")
        )
        self.ideal_reason = Messages()
        self.ideal_confirm = w.Button(
            description="Confirm", icon="check", button_style="primary", disabled=True
        )
        self.ideal_cancel = w.Button(description="Cancel", icon="times")
        self.ideal_box = w.VBox(
            [
                self.ideal_notice,
                self.ideal_text,
                self.ideal_anyway,
                w.HBox([self.ideal_confirm, self.ideal_cancel, self.ideal_reason]),
            ],
            layout=w.Layout(width="100%", display="none"),
        )
        # Stable hooks for browser tests and user CSS.
        for widget, name in (
            (self.title, "pt-tester-title"),
            (self.run_button, "pt-run"),
            (self.result, "pt-result"),
            (self.comparison, "pt-comparison"),
            (self.save_ideal_button, "pt-save-ideal"),
            (self.ideal_status, "pt-ideal-status"),
            (self.ideal_box, "pt-ideal-confirm-box"),
            (self.ideal_notice, "pt-ideal-notice"),
            (self.ideal_text, "pt-ideal-text"),
            (self.ideal_anyway, "pt-ideal-anyway"),
            (self.ideal_confirm, "pt-ideal-confirm"),
            (self.ideal_cancel, "pt-ideal-cancel"),
            (self.ideal_reason, "pt-ideal-reason"),
            (self.version, "pt-version"),
            (self.version_switch, "pt-version-switch"),
            (self.version_keep, "pt-version-keep"),
        ):
            widget.add_class(name)

        self.run_button.on_click(self.guarded(lambda _: self.run()))
        self.add_chat_button.on_click(self.guarded(lambda _: self.add_chat()))
        self.save_ideal_button.on_click(self.guarded(lambda _: self.review_ideal_answer()))
        self.ideal_confirm.on_click(self.guarded(lambda _: self.confirm_ideal_answer()))
        self.ideal_cancel.on_click(self.guarded(lambda _: self.cancel_ideal_answer()))
        self.ideal_text.observe(self.guarded(lambda _: self._update_ideal_confirm()), names="value")
        self.ideal_anyway.observe(
            self.guarded(lambda _: self._update_ideal_confirm()), names="value"
        )
        self.version.observe(self.guarded(self._on_version), names="value")
        self.version_switch.on_click(self.guarded(lambda _: self._switch_version()))
        self.version_keep.on_click(self.guarded(lambda _: self._hide_version_confirm()))
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

    # --- editing the chats -------------------------------------------------------------------
    def add_chat(self, role: str = "user", content: str = "") -> ChatRow:
        row = ChatRow({"role": role, "content": content}, self)
        self.rows.children = [*self.rows.children, row]
        self._refresh_title()
        return row

    def move_chat(self, row: ChatRow, offset: int) -> None:
        rows = list(self.rows.children)
        i = rows.index(row)
        j = min(max(i + offset, 0), len(rows) - 1)
        rows[i], rows[j] = rows[j], rows[i]
        self.rows.children = rows
        self._refresh_title()

    def remove_chat(self, row: ChatRow) -> None:
        self.rows.children = [r for r in self.rows.children if r is not row]
        self._refresh_title()

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
        prompt_id, version = draft.prompt_data.get("prompt_id"), draft.prompt_data.get("version")
        if prompt_id and version:
            try:
                stored = self.session.prompt(prompt_id, str(version)).data.get("chats")
            except PromptTesterError:
                stored = None
            if isinstance(stored, list):
                self._loaded_chats = [
                    {
                        **{k: v for k, v in c.items() if k not in ("role", "content")},
                        "role": c.get("role") or "user",
                        "content": c.get("content") or "",
                    }
                    for c in stored
                    if isinstance(c, dict)
                ]
                self._refresh_title()
        if behaviour and behaviour in (self.behaviour_picker.options or ()):
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

    def chats_edited(self) -> bool:
        """Whether the chats differ from the version last loaded (so switching would drop
        the user's edits)."""
        return (
            self._loaded_chats is not None
            and [row.to_chat() for row in self.rows.children] != self._loaded_chats
        )

    def load_version(self, version: str, discard_edits: bool = False) -> None:
        """Replace the chats with another stored version of the same prompt (context kept).

        Edited chats are not dropped silently: without ``discard_edits=True`` an edited
        draft is refused (the dropdown asks instead)."""
        prompt_id = self._meta.get("prompt_id")
        if not prompt_id:
            raise ValidationError("version: load a prompt first", field="version")
        if self.chats_edited() and not discard_edits:
            raise ValidationError(
                f"version: the chats of version {self._meta.get('version')} are edited; switching"
                " to another version drops the edits (pass discard_edits=True to do so)",
                field="version",
            )
        self.prompt_data = self.session.prompt(prompt_id, version).data
        self._loaded_chats = [row.to_chat() for row in self.rows.children]
        self._hide_version_confirm()
        self._loading = True
        try:
            if version in (self.version.options or ()):
                self.version.value = version
        finally:
            self._loading = False
        self._set_title(prompt_id, version)
        self.messages.info(f"Loaded version {version} of {prompt_id}; the context is unchanged")

    def _set_title(self, prompt_id: Any, version: Any, note: str = "") -> None:
        """The title: the prompt and the version the chats hold, and the log they came from."""
        self._title = (prompt_id, version, note)
        self._refresh_title()

    def _refresh_title(self) -> None:
        """The title again, with an "edited" mark while the chats differ from the version
        loaded (so a draft that is no longer the stored version says so)."""
        if self._title is None or self._loading:
            return
        prompt_id, version, note = self._title
        log = self.source_log
        where = f" · from log <code>{esc(log.context_id)}</code>" if log else ""
        edited = (
            " <span class='pt-warn pt-edited' title='The chats differ from the stored"
            " version'>· edited</span>"
            if self.chats_edited()
            else ""
        )
        self.title.value = (
            f"<b>{esc(prompt_id)}</b> version {esc(version)}{esc(note)}{edited}{where}"
        )

    def _ask_version_switch(self, version: str) -> None:
        """The dropdown asked for ``version`` while the chats are edited: put the dropdown
        back and ask whether to drop the edits."""
        self._pending_version = version
        self._loading = True
        try:
            self.version.value = str(self._meta.get("version") or "") or None
        finally:
            self._loading = False
        self.version_notice.value = (
            f"<span class='pt-warn'>⚠ You edited the chats of version"
            f" {esc(self._meta.get('version'))}. Switching to version {esc(version)} drops"
            " those edits.</span>"
        )
        self.version_confirm.layout.display = None

    def _switch_version(self) -> None:
        """'Switch and drop my edits': load the version the user picked, edits dropped."""
        if self._pending_version:
            self.load_version(self._pending_version, discard_edits=True)

    def _hide_version_confirm(self) -> None:
        self._pending_version = None
        self.version_confirm.layout.display = "none"

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
            self.result.value = self._error_html(exc)
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

    def _error_html(self, exc: PromptTesterError) -> str:
        attempts = getattr(exc, "attempts", None) or []
        items = "".join(
            f"<li>{esc(a.get('attempt'))} {esc(a.get('model'))}: {esc(a.get('error'))}</li>"
            for a in attempts
        )
        return f'<div class="pt-error">⚠ {esc(exc.message)}</div>' + (
            f"<ul>{items}</ul>" if items and len(attempts) > 1 else ""
        )

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

    def _update_save_ideal(self) -> None:
        result = self.last_result
        self.save_ideal_button.disabled = not (
            self.source_log is not None
            and result is not None
            and bool((result.content or "").strip())
        )

    def ideal_differences(self) -> list[str]:
        """How the last run differs from the opened log (the service's rule, as
        ``set_ideal_answer(from_test=...)`` applies it): its context, its prompt version, its
        chats against those opened. Empty when the answer is about the log's own inputs."""
        log = self.source_log
        if log is None or self._last_run is None:
            return []
        prompt, context = self._last_run
        test = TestOrigin.model_construct(
            context=context, version=prompt.get("version"), chats=prompt.get("chats")
        )
        return list(ideal_differences(log, test, self._opened_chats).values())

    def review_ideal_answer(self) -> None:
        """Open the confirmation (the "Save as ideal answer" button's action): the last
        answer in an editable box, what differs from the log, Confirm / Cancel."""
        if self.source_log is None:
            raise ValidationError("ideal_answer: open a log first", field="ideal_answer")
        if self.last_result is None or not (self.last_result.content or "").strip():
            raise ValidationError("ideal_answer: run the test first", field="ideal_answer")
        differences = self.ideal_differences()
        context_id = self.source_log.context_id
        self._ideal_pending = {"context_id": context_id, "differs": bool(differences)}
        notice = (
            f"<b>Save as the ideal answer of <code>{esc(context_id)}</code></b>"
            f"<div>{esc(IDEAL_SCOPE)} Edit the text below before you confirm.</div>"
        )
        if differences:
            items = "".join(f"<li>{esc(d)}</li>" for d in differences)
            notice += (
                '<div class="pt-warn">⚠ This answer came from a test that differs from the log:'
                f"<ul>{items}</ul>Tick “{esc(ANYWAY_LABEL)}” to save it all the same.</div>"
            )
        self.ideal_notice.value = notice
        self.ideal_text.value = self.last_result.content or ""
        self.ideal_anyway.value = False
        self.ideal_anyway.layout.display = None if differences else "none"
        self.ideal_status.clear()
        self.ideal_box.layout.display = None
        self._update_ideal_confirm()

    def _update_ideal_confirm(self) -> None:
        """Confirm is enabled only when there is text to save and, if the test differs from
        the log, the explicit "anyway" is ticked; otherwise the reason is shown."""
        pending = self._ideal_pending
        reason = ""
        if pending is None:
            reason = "Nothing to save"
        elif not self.ideal_text.value.strip():
            reason = "The ideal answer is empty: type the text to save"
        elif len(self.ideal_text.value) > MAX_IDEAL_ANSWER:
            reason = f"The ideal answer is too long (at most {MAX_IDEAL_ANSWER:,} characters)"
        elif pending["differs"] and not self.ideal_anyway.value:
            reason = f"The test differs from the log: tick “{ANYWAY_LABEL}” to save it"
        self.ideal_confirm.disabled = bool(reason)
        if reason and pending is not None:
            self.ideal_reason.info(reason)
        else:
            self.ideal_reason.clear()

    def confirm_ideal_answer(self) -> LogEntry:
        """Save the box's (edited) text as the log's ideal answer (the Confirm button)."""
        pending = self._ideal_pending
        if pending is None:
            raise ValidationError(
                "ideal_answer: click “Save as ideal answer” first", field="ideal_answer"
            )
        self._update_ideal_confirm()
        if self.ideal_confirm.disabled:
            raise ValidationError(f"ideal_answer: {self.ideal_reason.text}", field="ideal_answer")
        return self._save_ideal(pending["context_id"], self.ideal_text.value)

    def cancel_ideal_answer(self) -> None:
        """Close the confirmation; nothing is saved (the Cancel button)."""
        self._close_ideal_box()
        self.ideal_status.info("Not saved")

    def save_ideal_answer(
        self, text: str | None = None, *, anyway: bool = False
    ) -> LogEntry | None:
        """The Python side of "Save as ideal answer".

        Without ``text`` this opens the same confirmation as the button (and returns None):
        confirm there, or call ``confirm_ideal_answer()``. With ``text`` it saves that text as
        the opened log's ideal answer and returns the log; when the last run's context, prompt
        version or chats differ from the log's, it refuses unless ``anyway=True``.
        """
        if text is None:
            self.review_ideal_answer()
            return None
        if self.source_log is None:
            raise ValidationError("ideal_answer: open a log first", field="ideal_answer")
        differences = self.ideal_differences()
        if differences and not anyway:
            raise ValidationError(
                "ideal_answer: " + " ".join(differences) + f" {IDEAL_SCOPE} Pass anyway=True"
                " to save it as the log's ideal answer all the same.",
                field="ideal_answer",
            )
        return self._save_ideal(self.source_log.context_id, text)

    def _save_ideal(self, context_id: str, text: str) -> LogEntry:
        try:
            with self.busy(
                self.save_ideal_button, self.ideal_confirm, label="Saving the ideal answer…"
            ):
                entry = self.session.set_ideal_answer(context_id, text)
        except PromptTesterError as exc:
            self.ideal_status.error(exc.message)
            raise
        self.source_log = entry
        self._close_ideal_box()
        self.messages.clear()
        self.ideal_status.ok(f"Saved as the ideal answer of {context_id}")
        self._show_comparison()
        return entry

    def _close_ideal_box(self) -> None:
        self._ideal_pending = None
        self.ideal_box.layout.display = "none"
        self.ideal_confirm.disabled = True
        self.ideal_reason.clear()

    @staticmethod
    def diff_html(before: str, after: str) -> str:
        """The logged answer against this test's, word by word, inline (``diff_view``)."""
        if before == after:
            return '<div class="pt-ok">Same answer as the logged call.</div>'
        return "<b>Differences</b> (logged → this test)" + word_diff_html(before, after)

    # --- observers ---------------------------------------------------------------------------------
    def _sync_raw(self) -> None:
        self._loading, was = True, self._loading
        try:
            self.raw.value = pretty(self.prompt_data)
            self.raw_message.clear()
        finally:
            self._loading = was

    def _on_tab(self, change: dict[str, Any]) -> None:
        if change["new"] == 1:
            self._sync_raw()

    def _on_raw(self, change: dict[str, Any]) -> None:
        if self._loading:
            return
        try:
            data = json.loads(change["new"])
        except json.JSONDecodeError as exc:
            self.raw_message.error(
                f"Not valid JSON: {exc.msg} at line {exc.lineno}; the chats keep their last valid state"
            )
            return
        try:
            parse(PromptData, data, "prompt_data")
        except ValidationError as exc:
            self.raw_message.error(exc.message)
            return
        self._loading = True
        try:
            self.prompt_data = data
        finally:
            self._loading = False
        self.raw_message.ok("Applied to the chats")

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

    def _on_version(self, change: dict[str, Any]) -> None:
        if self._loading or not change["new"] or change["new"] == self._meta.get("version"):
            return
        if self.chats_edited():
            self._ask_version_switch(change["new"])
            return
        self.load_version(change["new"])

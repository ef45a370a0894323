"""The tester's "Save as ideal answer": the confirmation box a save goes through.

A test's answer becomes the opened log's ideal answer only through this box: the text to keep
(editable), how the test differs from the log, an explicit "anyway" when it does, Confirm /
Cancel. It is a mixin of ``Tester`` (kept apart so the tester's module stays readable): its
widgets and methods are the Tester's own attributes, as the tests and the app use them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..errors import PromptTesterError, ValidationError
from ..models import LogEntry, TestOrigin, TestResult
from ..service import MAX_IDEAL_ANSWER
from ..service.logs import IDEAL_SCOPE, ideal_differences
from ..session import Session
from ._common import Messages, Tool, esc

ANYWAY_LABEL = "Save it as the log's ideal answer anyway"


class IdealAnswer(Tool):
    """The ideal-answer part of ``Tester``: the Save button, the confirmation box and the
    Python equivalents (``review_ideal_answer``, ``confirm_ideal_answer``,
    ``cancel_ideal_answer``, ``save_ideal_answer``, ``ideal_differences``)."""

    # Set by ``Tester``: the session, the opened log, the last answer and what it was run on.
    session: Session
    source_log: LogEntry | None
    last_result: TestResult | None
    _last_run: tuple[dict[str, Any], dict[str, Any]] | None
    _opened_chats: list[dict[str, Any]] | None
    _ideal_pending: dict[str, Any] | None

    if TYPE_CHECKING:  # the Tester's (declared for the type checker only)

        def _show_comparison(self) -> None: ...  # the answers side by side

    def _build_ideal_answer(self) -> None:
        """The Save button, its status line and the (hidden) confirmation box, wired."""
        self.save_ideal_button = w.Button(
            description="Save as ideal answer",
            icon="star",
            tooltip="Keep this test's answer as the log's ideal answer (through flow-prompt)",
            disabled=True,
            layout=w.Layout(width="auto", min_width="190px"),  # the whole label, never cut
        )
        self.ideal_status = Messages()
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
        for widget, name in (
            (self.save_ideal_button, "pt-save-ideal"),
            (self.ideal_status, "pt-ideal-status"),
            (self.ideal_box, "pt-ideal-confirm-box"),
            (self.ideal_notice, "pt-ideal-notice"),
            (self.ideal_text, "pt-ideal-text"),
            (self.ideal_anyway, "pt-ideal-anyway"),
            (self.ideal_confirm, "pt-ideal-confirm"),
            (self.ideal_cancel, "pt-ideal-cancel"),
            (self.ideal_reason, "pt-ideal-reason"),
        ):
            widget.add_class(name)
        self.save_ideal_button.on_click(self.guarded(lambda _: self.review_ideal_answer()))
        self.ideal_confirm.on_click(self.guarded(lambda _: self.confirm_ideal_answer()))
        self.ideal_cancel.on_click(self.guarded(lambda _: self.cancel_ideal_answer()))
        self.ideal_text.observe(self.guarded(lambda _: self._update_ideal_confirm()), names="value")
        self.ideal_anyway.observe(
            self.guarded(lambda _: self._update_ideal_confirm()), names="value"
        )

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

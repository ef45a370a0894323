""" "Publish as version N" after a passing comparison, with a confirmation first.

A comparison passes when its win rate's 95 % interval lies above 0.5 (the candidate beat
what it was compared with, by more than chance): the same rule ``s.publish`` applies to a
stored experiment with no gate. The offer turns that into the gate's ``Verdict`` (the
candidate draft's SHA-256 and prompt id), so ``s.publish`` checks it like any other. Before
anything is sent it asks for a confirmation that says what publishing does: every flow-prompt
client of the prompt may start using the new version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as w

from ..errors import ValidationError
from ..fingerprint import draft_sha256
from ..gating import Policy, Verdict
from ..session import Session
from ._common import Messages, esc

WIN_RATE_BAR = 0.5


def comparison_verdict(comparison: Any, run: Any) -> Verdict | None:
    """The gate's verdict of a comparison of ``run`` (the candidate), or None when it did
    not pass or the run has no draft."""
    draft = getattr(run, "draft", None)
    interval = getattr(comparison, "ci95", None)
    if not isinstance(draft, dict) or not draft.get("prompt_id") or interval is None:
        return None
    low = interval[0]
    if low <= WIN_RATE_BAR:
        return None
    return Verdict(
        passed=True,
        policies=[
            Policy(
                name="min_win_rate",
                figure=low,
                threshold=WIN_RATE_BAR,
                passed=True,
                detail=str(getattr(comparison, "verdict", "")),
            )
        ],
        experiment_id=getattr(run, "experiment_id", None),
        prompt_id=str(draft["prompt_id"]),
        draft_sha256=draft_sha256(draft),
    )


def next_version(versions: list[str]) -> str:
    """The number the platform gives a new text: one more than the highest so far."""
    return str(max((int(v) for v in versions if v.isdigit()), default=0) + 1)


class PublishOffer(w.VBox):
    """Hidden until ``offer`` is given a passing comparison; then "Publish as version N",
    which asks for a confirmation (and a message) before ``publish`` sends anything."""

    def __init__(self, session: Session, guarded: Callable[..., Any], messages: Messages) -> None:
        super().__init__(layout=w.Layout(display="none"))
        self.session = session
        self.messages = messages
        self.button = w.Button(description="Publish", icon="upload", button_style="warning")
        self.button.add_class("pt-publish")
        self.warning = w.HTML()
        self.warning.add_class("pt-publish-confirm")
        self.message = w.Text(
            description="Message",
            placeholder="why this version (kept with it)",
            layout=w.Layout(width="60%"),
        )
        self.confirm_button = w.Button(description="Yes, publish", button_style="danger")
        self.confirm_button.add_class("pt-publish-yes")
        self.cancel_button = w.Button(description="Cancel")
        self.confirm_box = w.VBox(
            [self.warning, self.message, w.HBox([self.confirm_button, self.cancel_button])],
            layout=w.Layout(display="none"),
        )
        self.children = [self.button, self.confirm_box]
        self.verdict: Verdict | None = None
        self.draft: dict[str, Any] | None = None
        self.version: str | None = None  # the version offered
        self.published: str | None = None  # the version the platform answered
        self.button.on_click(guarded(lambda _: self.ask()))
        self.confirm_button.on_click(guarded(lambda _: self.publish()))
        self.cancel_button.on_click(guarded(lambda _: self.cancel()))

    def offer(self, comparison: Any, run: Any) -> bool:
        """Show "Publish as version N" when the comparison passed; hide it otherwise."""
        self.cancel()
        self.published = None
        self.verdict = comparison_verdict(comparison, run)
        if self.verdict is None:
            self.draft = self.version = None
            self.layout.display = "none"
            return False
        self.draft = dict(run.draft)
        prompt_id = self.verdict.prompt_id or ""
        self.version = next_version(self.session.prompt_versions(prompt_id))
        self.button.description = f"Publish as version {self.version}"
        self.button.disabled = False
        self.layout.display = None
        return True

    def ask(self) -> None:
        """The confirmation: what publishing does, before anything is sent."""
        if self.verdict is None:
            return
        prompt_id = esc(self.verdict.prompt_id)
        self.warning.value = (
            f"<div class='pt-warn'>Publish this draft as version <b>{esc(self.version)}</b> of"
            f" <b>{prompt_id}</b>? Every flow-prompt client of <b>{prompt_id}</b> may start"
            " using it: flow-prompt asks the platform for the latest version of a prompt."
            " A text published before is not published again (the platform keeps its latest"
            " version).</div>"
        )
        self.confirm_box.layout.display = None

    def cancel(self) -> None:
        self.confirm_box.layout.display = "none"

    def publish(self) -> str:
        """Publish the candidate's draft with the comparison's verdict; the version."""
        if self.verdict is None or self.draft is None:
            raise ValidationError("publish: no passing comparison to publish", field="publish")
        version = self.session.publish(
            self.draft, gate=self.verdict, message=self.message.value.strip()
        )
        self.published = version
        self.cancel()
        self.button.disabled = True
        self.button.description = f"Published as version {version}"
        prompt_id = self.verdict.prompt_id
        self.messages.ok(
            f"Published version {version} of {prompt_id}"
            + ("" if version == self.version else " (the platform's latest: this text was seen)")
        )
        return version

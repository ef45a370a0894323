"""The tester's prompt versions: which stored version the chats hold, and switching.

The title names that version and marks the chats "edited" while they differ from it.

Switching versions replaces the chats, so edited chats are never dropped silently: the
version dropdown asks first ("Switch and drop my edits" / "Keep my edits") and
``load_version`` refuses without ``discard_edits=True``. It is a mixin of ``Tester`` (kept
apart so the tester's module stays readable): its widgets and methods are the Tester's own
attributes, as the tests and the app use them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..errors import PromptTesterError, ValidationError
from ..models import LogEntry
from ..session import Session
from ._common import Tool, esc


class VersionSwitch(Tool):
    """The version part of ``Tester``: ``chats_edited()``, ``load_version()`` and the
    confirmation the version dropdown shows while the chats are edited."""

    # Set by ``Tester``: the session, the draft's other fields, its chats and version picker.
    session: Session
    _meta: dict[str, Any]
    _loading: bool
    _loaded_chats: list[dict[str, Any]] | None  # the chats as the version last loaded
    _pending_version: str | None  # asked for while the chats are edited
    rows: w.VBox
    version: w.Dropdown
    title: w.HTML
    source_log: LogEntry | None
    _title: tuple[Any, Any, str] | None

    if TYPE_CHECKING:  # the Tester's (declared for the type checker only)

        @property
        def prompt_data(self) -> dict[str, Any]: ...  # the draft as edited

        @prompt_data.setter
        def prompt_data(self, data: dict[str, Any]) -> None: ...

    def _build_version_switch(self) -> None:
        """The (hidden) confirmation under the version dropdown, wired to it."""
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
        for widget, name in (
            (self.version_switch, "pt-version-switch"),
            (self.version_keep, "pt-version-keep"),
        ):
            widget.add_class(name)
        self.version.observe(self.guarded(self._on_version), names="value")
        self.version_switch.on_click(self.guarded(lambda _: self._switch_version()))
        self.version_keep.on_click(self.guarded(lambda _: self._hide_version_confirm()))

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

    def _on_version(self, change: dict[str, Any]) -> None:
        if self._loading or not change["new"] or change["new"] == self._meta.get("version"):
            return
        if self.chats_edited():
            self._ask_version_switch(change["new"])
            return
        self.load_version(change["new"])

    def _compare_with_stored(self, prompt_id: Any, version: Any) -> None:
        """The "edited" mark compares with the stored ``version`` from now on (a replayed
        draft may differ from it); nothing changes when it cannot be read."""
        if not (prompt_id and version):
            return
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

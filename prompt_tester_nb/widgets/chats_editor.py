"""Editing the tester's chats: one row of widgets a chat (its role, its content, move /
remove), added, moved and removed, and the prompt's Raw JSON tab kept in step with them.

The fields the editor does not show (``is_multiple``, ``while_fits``, ``required`` and any
other) are kept as they were, so a draft round-trips through the editor unchanged.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..errors import ValidationError
from ..models import PromptData
from ..validation import parse
from ._common import Messages, Tool, esc, pretty

ROLES = ["system", "user", "assistant", "tool", "function"]


class ChatRow(w.HBox):
    """One chat: role, content, and buttons to move or remove it. Other fields are kept."""

    def __init__(self, chat: dict[str, Any], owner: ChatsEditor):
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


class ChatsEditor(Tool):
    """The chat-editing part of ``Tester``: ``add_chat``, ``move_chat``, ``remove_chat`` and
    the Raw JSON tab (applied to the chats once it is a valid prompt)."""

    # Set by ``Tester``: the rows, the raw JSON box and its message, the loading guard.
    rows: w.VBox
    raw: w.Textarea
    raw_message: Messages
    _loading: bool

    if TYPE_CHECKING:  # the others' (declared for the type checker only)

        @property
        def prompt_data(self) -> dict[str, Any]: ...  # the Tester's: the draft as edited

        @prompt_data.setter
        def prompt_data(self, data: dict[str, Any]) -> None: ...

        def _refresh_title(self) -> None: ...  # the title's "edited" mark (VersionSwitch)

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

    # --- the Raw JSON tab -----------------------------------------------------------------
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

"""The context as key/value fields, with the raw JSON one click away; both kept in sync.

A text value gets a text box (typed as is, no quotes); any other value (number, true/false,
null, list, object) stays JSON in its box, so a list is edited as a list. The raw JSON box is
the Tester's ``context`` Textarea: a field edited rewrites it, and raw JSON typed there
rebuilds the fields. A field holding invalid JSON leaves the raw box at its last valid state
and reports ``problem`` (the Tester disables Run and says why).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from ._common import Messages, esc, pretty

MODES = ("Fields", "Raw JSON")


class ContextField(w.HBox):
    """One variable: its name, its value box, a remove button."""

    def __init__(self, key: str, value: Any, owner: ContextForm):
        super().__init__(layout=w.Layout(width="100%", align_items="flex-start"))
        self.key = key
        self.is_text = isinstance(value, str)
        text = value if self.is_text else json.dumps(value, ensure_ascii=False, default=str)
        lines = text.count("\n") + 1 + len(text) // 90
        self.box = w.Textarea(
            value=text,
            rows=max(1, min(lines, 8)),
            continuous_update=False,
            layout=w.Layout(width="100%"),
        )
        self.box.add_class("pt-field-" + re.sub(r"[^A-Za-z0-9_-]", "-", key))  # a test hook
        self.label = w.HTML(
            f'<div class="pt-context-key" title="{esc(key)}">{esc(key)}'
            f"{'' if self.is_text else ' <span class=pt-muted>(JSON)</span>'}</div>",
            layout=w.Layout(width="180px", min_width="180px"),
        )
        self.remove = w.Button(
            icon="trash", tooltip=f"Remove {key} from the context", layout=w.Layout(width="34px")
        )
        self.error = Messages()
        self.add_class("pt-context-row")
        if not self.is_text:
            self.add_class("pt-json-field")
        self.box.observe(lambda _: owner._on_field(self), names="value")
        self.remove.on_click(lambda _: owner.remove_field(self.key))
        self.children = [
            self.label,
            w.VBox([self.box, self.error], layout=w.Layout(flex="1")),
            self.remove,
        ]

    def parsed(self) -> Any:
        """The field's value; raises ``ValueError`` naming the key for invalid JSON."""
        if self.is_text:
            return self.box.value
        try:
            return json.loads(self.box.value)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"context field {self.key!r}: not valid JSON ({exc.msg} at line {exc.lineno},"
                f" column {exc.colno})"
            ) from None


class ContextForm(w.VBox):
    """Fields | Raw JSON over one context. ``raw`` is the Textarea that holds the JSON;
    ``on_change`` is called whenever the fields' validity or content changes."""

    def __init__(self, raw: w.Textarea, on_change: Callable[[], None]):
        super().__init__(layout=w.Layout(width="100%"))
        self.raw = raw
        self._on_change: Callable[[], None] = lambda: None  # until the fields are built
        self._syncing = False
        self.problem: str | None = None  # the first invalid field, in words
        self.mode = w.ToggleButtons(options=MODES, value="Fields", style={"button_width": "90px"})
        self.mode.add_class("pt-context-mode")
        self.fields = w.VBox(layout=w.Layout(width="100%"))
        self.fields.add_class("pt-context-fields")
        self.new_key = w.Text(placeholder="new variable name", layout=w.Layout(width="180px"))
        self.new_kind = w.Dropdown(
            options=[("text", "text"), ("JSON (list, number…)", "json")],
            value="text",
            layout=w.Layout(width="170px"),
        )
        self.new_kind.add_class("pt-context-new-kind")
        self.add_button = w.Button(
            description="Add variable", icon="plus", layout=w.Layout(width="auto")
        )
        self.add_message = Messages()
        self.fields_view = w.VBox(
            [
                self.fields,
                w.HBox([self.new_key, self.new_kind, self.add_button, self.add_message]),
            ],
            layout=w.Layout(width="100%"),
        )
        self.raw_view = w.VBox([raw], layout=w.Layout(width="100%", display="none"))
        self.mode.observe(lambda change: self._show(change["new"]), names="value")
        self.add_button.on_click(
            lambda _: self.add_field(
                self.new_key.value, "" if self.new_kind.value == "text" else None
            )
        )
        raw.observe(lambda _: self._from_raw(), names="value")
        self.children = [self.mode, self.fields_view, self.raw_view]
        self._from_raw()
        self._on_change = on_change

    # --- the two views ---------------------------------------------------------------------------
    def _show(self, mode: str) -> None:
        self.fields_view.layout.display = None if mode == "Fields" else "none"
        self.raw_view.layout.display = None if mode == "Raw JSON" else "none"

    def _from_raw(self) -> None:
        """Rebuild the fields from the raw JSON, when it is an object (else they keep their
        last state: the raw box's own message says what is wrong)."""
        if self._syncing:
            return
        try:
            data = json.loads(self.raw.value or "{}")
        except json.JSONDecodeError:
            return
        if not isinstance(data, dict):
            return
        self.fields.children = [ContextField(str(k), v, self) for k, v in data.items()]
        self.problem = None
        self._on_change()

    def _to_raw(self) -> None:
        """Write the fields to the raw box, unless one holds invalid JSON (then ``problem``)."""
        data: dict[str, Any] = {}
        self.problem = None
        for field in self.fields.children:
            try:
                data[field.key] = field.parsed()
                field.error.clear()
            except ValueError as exc:
                field.error.error(str(exc))
                self.problem = self.problem or str(exc)
        if self.problem is None:
            self._syncing = True
            try:
                self.raw.value = pretty(data)
            finally:
                self._syncing = False
        self._on_change()

    def _on_field(self, field: ContextField) -> None:
        self._to_raw()

    # --- editing ---------------------------------------------------------------------------------
    def field(self, key: str) -> ContextField:
        for f in self.fields.children:
            if f.key == key:
                return f
        raise KeyError(key)

    def set_field(self, key: str, text: str) -> None:
        """Type ``text`` into ``key``'s box (the Python equivalent of editing it)."""
        self.field(key).box.value = text

    def add_field(self, key: str, value: Any = "") -> None:
        """Add ``key``: a text field for a string ``value``, a JSON field for anything else
        (``None`` gives a JSON field holding ``null``)."""
        key = (key or "").strip()
        if not key:
            self.add_message.error("Type the new variable's name first")
            return
        if any(f.key == key for f in self.fields.children):
            self.add_message.error(f"{key} is already in the context")
            return
        self.add_message.clear()
        self.new_key.value = ""
        self.fields.children = [*self.fields.children, ContextField(key, value, self)]
        self._to_raw()

    def remove_field(self, key: str) -> None:
        self.fields.children = [f for f in self.fields.children if f.key != key]
        self._to_raw()

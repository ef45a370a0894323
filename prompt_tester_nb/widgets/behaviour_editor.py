"""The behaviour editor: a table of the behaviours, create from the seed's default, edit in a
form or as JSON (kept in sync) with live validation, save with optimistic locking (a stale
save offers a reload), delete with confirmation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import ipywidgets as w

from ..behaviour_spec import DEFAULT_BEHAVIOUR, BehaviourSpec, validate_behaviour_name
from ..errors import ConflictError, ValidationError
from ..models import Behaviour
from ..session import Session
from ..validation import parse
from ._common import Messages, Tool, esc, pretty
from .behaviour_form import AttemptsForm, behaviours_table_html


class BehaviourEditor(Tool):
    def __init__(self, session: Session):
        super().__init__(layout=w.Layout(width="100%"))
        self.session = session
        self.current: Behaviour | None = None  # what was read; None while creating a new one

        self._listed: list[Behaviour] = []  # what the table shows
        self.table = w.HTML()
        self.table.add_class("pt-behaviours-table")
        self.names = w.Dropdown(
            options=[], value=None, description="Edit", layout=w.Layout(width="320px")
        )
        self.new_button = w.Button(description="New", icon="plus")
        self.name = w.Text(description="Name", placeholder="my-behaviour")
        self.spec = w.Textarea(rows=18, layout=w.Layout(width="100%"))
        self.spec.add_class("pt-mono")
        self.spec.add_class("pt-behaviour-json")
        # The same document as fields: a field changed rewrites the JSON, valid JSON typed
        # there rebuilds the fields.
        self.form = AttemptsForm(self.guarded(self._on_form))
        self.form.add_class("pt-behaviour-form")
        self._from_form = False
        self.validation = Messages()
        self.audit = w.HTML()
        self.save_button = w.Button(description="Save", icon="save", button_style="primary")
        # Only a behaviour that exists in the store can be deleted: off until one is loaded.
        self.delete_button = w.Button(
            description="Delete", icon="trash", button_style="danger", disabled=True
        )
        self.reload_button = w.Button(
            description="Reload", icon="refresh", layout=w.Layout(display="none")
        )
        self.confirm_label = w.HTML()
        self.confirm_yes = w.Button(description="Yes, delete", button_style="danger")
        self.confirm_no = w.Button(description="Cancel")
        self.confirm_box = w.HBox(
            [self.confirm_label, self.confirm_yes, self.confirm_no], layout=w.Layout(display="none")
        )

        self.new_button.add_class("pt-behaviour-new")
        self.save_button.add_class("pt-behaviour-save")
        self.validation.add_class("pt-behaviour-validation")
        self.names.observe(self.guarded(self._on_pick), names="value")
        self.spec.observe(self.guarded(self._on_spec), names="value")
        self.name.observe(self.guarded(self._on_spec), names="value")
        self.new_button.on_click(self.guarded(lambda _: self.new()))
        self.save_button.on_click(self.guarded(lambda _: self.save()))
        self.delete_button.on_click(self.guarded(lambda _: self.delete()))
        self.confirm_yes.on_click(self.guarded(lambda _: self.delete(confirm=True)))
        self.confirm_no.on_click(self.guarded(lambda _: self._hide_confirm()))
        self.reload_button.on_click(self.guarded(lambda _: self.reload()))

        editor = w.VBox(
            [
                self.name,
                w.HBox(
                    [
                        w.VBox([self.form], layout=w.Layout(flex="1 1 0", min_width="0")),
                        w.VBox(
                            [w.HTML("<b>JSON</b>"), self.spec],
                            layout=w.Layout(flex="1 1 0", min_width="0"),
                        ),
                    ],
                    layout=w.Layout(width="100%", grid_gap="12px"),
                ),
                self.validation,
                self.audit,
                w.HBox([self.save_button, self.delete_button, self.reload_button]),
                self.confirm_box,
            ],
            layout=w.Layout(flex="1"),
        )
        self.children = [
            self.messages,
            self.table,
            w.HBox([self.names, self.new_button]),
            editor,
            self.output,
        ]
        self.guarded(self.refresh)()
        if self.current is None and self.names.options:  # open on one, not on an empty form
            names = list(self.names.options)
            self.guarded(self.select)("default" if "default" in names else names[0])

    def __repr__(self) -> str:
        return f"<BehaviourEditor env={self.session.env.env_name!r} {len(self.names.options)} behaviours>"

    # --- Python equivalents ----------------------------------------------------------------
    def refresh(self) -> list[str]:
        self._listed = list(self.session.behaviours.list())
        names = [b.name for b in self._listed]
        keep = self.names.value if self.names.value in names else None
        self.names.options = names
        self.names.value = keep
        self._show_table()
        return names

    def _show_table(self) -> None:
        current = self.current.name if self.current else None
        self.table.value = behaviours_table_html(self._listed, current, human_time)

    def select(self, name: str) -> Behaviour:
        if name not in self.names.options:
            self.refresh()
        self.names.value = name
        current = self.current
        if current is None or current.name != name:
            current = self.session.behaviours.get(name)
            self._load(current)
        return current

    def new(self, name: str = "", spec: dict[str, Any] | None = None) -> None:
        """Start a new behaviour, from the seed's default unless a spec is given."""
        self.current = None
        self.names.value = None
        self.name.disabled = False
        self.name.value = name
        self.spec.value = pretty(spec if spec is not None else DEFAULT_BEHAVIOUR)
        self.audit.value = '<span class="pt-muted">new behaviour (not saved)</span>'
        self.delete_button.disabled = True
        self.reload_button.layout.display = "none"
        self._hide_confirm()
        self._show_table()
        self._on_spec({})  # the JSON may be unchanged (no event): say what Save needs now

    @property
    def spec_data(self) -> Any:
        try:
            return json.loads(self.spec.value)
        except json.JSONDecodeError as exc:
            # The field is named once, in ``field``; the message alone must not repeat it, as
            # the validation list shows "<field> <message>".
            detail = f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
            raise ValidationError(
                f"spec: {detail}", field="spec", errors=[{"field": "spec", "message": detail}]
            ) from None

    @spec_data.setter
    def spec_data(self, value: dict[str, Any]) -> None:
        self.spec.value = pretty(value)

    def save(self) -> Behaviour:
        spec = self.spec_data
        if self.current is None and not self.name.value.strip():
            raise ValidationError("name: give the behaviour a name", field="name")
        try:
            if self.current is None:
                saved = self.session.behaviours.create(self.name.value.strip(), spec)
                verb = "Created"
            else:
                saved = self.session.behaviours.update(
                    self.current.name, spec, version=self.current.version
                )
                verb = "Saved"
        except ConflictError as exc:
            self.messages.error(f"{exc.message}. Your edits are still in the editor.")
            self.reload_button.layout.display = "" if self.current else "none"
            raise
        self.refresh()
        self.names.value = saved.name
        self._load(saved, like=spec)
        self.messages.ok(f"{verb} {saved.name!r} (version {saved.version})")
        return saved

    def reload(self) -> Behaviour:
        """Discard the edits and load what is stored now (after a conflict)."""
        name = self.current.name if self.current else self.name.value
        fresh = self.session.behaviours.get(name)
        self._load(fresh)
        self.messages.info(f"Reloaded {name!r} at version {fresh.version}")
        return fresh

    def delete(self, confirm: bool = False) -> bool:
        if self.current is None:
            self.messages.error("Select a saved behaviour to delete")
            return False
        if not confirm:
            self.confirm_label.value = (
                f"Delete <b>{esc(self.current.name)}</b> (version {self.current.version})?"
            )
            self.confirm_box.layout.display = ""
            return False
        name = self.current.name
        self.session.behaviours.delete(name, version=self.current.version)
        self._hide_confirm()
        self.current = None
        self.refresh()
        self.new()
        self.messages.ok(f"Deleted {name!r}")
        return True

    # --- internals ---------------------------------------------------------------------------
    def _load(self, behaviour: Behaviour, like: Any = None) -> None:
        """Show ``behaviour``; with ``like`` (the JSON just saved) its keys keep the order
        the user wrote them in (the store gives them back in its own order)."""
        self.current = behaviour
        self.name.value = behaviour.name
        self.name.disabled = True
        self.spec.value = pretty(ordered_like(behaviour.spec, like))
        self.audit.value = (
            f'<span class="pt-muted">version {behaviour.version}'
            f" · created by {esc(behaviour.created_by)}{_at(behaviour.created_at)}"
            f" · updated by {esc(behaviour.updated_by)}{_at(behaviour.updated_at)}</span>"
        )
        self.delete_button.disabled = False
        self.reload_button.layout.display = "none"
        self._hide_confirm()
        self._show_table()

    def _hide_confirm(self) -> None:
        self.confirm_box.layout.display = "none"

    def _on_pick(self, change: dict[str, Any]) -> None:
        if change["new"]:
            self._load(self.session.behaviours.get(change["new"]))
            self.messages.clear()

    def _on_form(self, spec: dict[str, Any]) -> None:
        """A field of the form changed: the JSON follows (and is validated as typed JSON is)."""
        self._from_form = True
        try:
            self.spec.value = pretty(spec)
        finally:
            self._from_form = False

    def _on_spec(self, change: dict[str, Any]) -> None:
        try:
            data = self.spec_data
        except ValidationError as exc:
            self.validation.error(exc.message)  # one problem: "spec: not valid JSON (line …)"
            self.save_button.disabled = True
            return
        if not self._from_form:
            self.form.load(data)  # the JSON typed (or loaded) rebuilds the fields
        if self.current is None and not self.name.value.strip():
            # valid JSON, but Save would only fail: say what is missing instead
            self.validation.info("Give the behaviour a name to save it")
            self.save_button.disabled = True
            return
        try:
            parse(BehaviourSpec, data, "spec")
            if self.current is None:
                validate_behaviour_name(self.name.value.strip())
        except ValidationError as exc:
            self.validation.problems(exc)
            self.save_button.disabled = True
            return
        self.validation.ok("Valid behaviour")
        self.save_button.disabled = False


def ordered_like(value: Any, template: Any) -> Any:
    """``value`` with every object's keys in ``template``'s order (keys the template lacks
    after them, as they come), lists item by item; the data itself is unchanged."""
    if isinstance(value, dict) and isinstance(template, dict):
        keys = [k for k in template if k in value] + [k for k in value if k not in template]
        return {k: ordered_like(value[k], template.get(k)) for k in keys}
    if isinstance(value, list) and isinstance(template, list):
        return [
            ordered_like(v, template[i] if i < len(template) else None) for i, v in enumerate(value)
        ]
    return value


def human_time(value: datetime | str | None) -> str:
    """A stored time as a person reads it, in UTC to the minute: "2026-11-01 12:51 UTC"."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return text
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # the store keeps UTC
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _at(value: datetime | str | None) -> str:
    """The audit line's " at <time>", the exact ISO time in a tooltip; empty when unknown."""
    shown = human_time(value)
    if not shown:
        return ""
    iso = value.isoformat() if isinstance(value, datetime) else str(value)
    return f' at <span title="{esc(iso)}">{esc(shown)}</span>'

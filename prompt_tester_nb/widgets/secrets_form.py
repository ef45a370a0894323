"""The secrets form: which provider keys are set, and write-only inputs to add or replace them.

Password inputs are emptied the moment they are submitted (success or not), so no key stays
in the widgets' synced state, and therefore none in a notebook saved with widget state.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from ..errors import ValidationError
from ..models import SecretStatus
from ..session import Session
from ._common import Tool, confirm_row, esc

SIMPLE_KEYS = ("OPENAI_API_KEY", "OPENAI_ORG", "CLAUDE_API_KEY", "GEMINI_API_KEY")


class SecretsForm(Tool):
    def __init__(self, session: Session):
        super().__init__(layout=w.Layout(width="100%"))
        self.session = session
        self.status_view = w.HTML()
        self.inputs: dict[str, w.Password] = {
            name: w.Password(
                description=name,
                placeholder="new value",
                style={"description_width": "150px"},
                layout=w.Layout(width="480px"),
            )
            for name in SIMPLE_KEYS
        }
        for name, box in self.inputs.items():
            box.add_class(f"pt-secret-{name}")
        self.status_view.add_class("pt-secret-status")
        self.save_buttons: dict[str, w.Button] = {}
        rows = []
        for name, box in self.inputs.items():
            button = w.Button(description="Save", icon="lock")
            button.on_click(self.guarded(lambda _, n=name: self.submit(n, self.inputs[n].value)))
            button.add_class(f"pt-save-{name}")
            self.save_buttons[name] = button
            rows.append(w.HBox([box, button]))
        self.azure_realm = w.Text(
            description="Azure realm", placeholder="westus", style={"description_width": "150px"}
        )
        self.azure_url = w.Text(
            description="Endpoint URL",
            placeholder="https://….openai.azure.com",
            style={"description_width": "150px"},
            layout=w.Layout(width="480px"),
        )
        self.azure_key = w.Password(
            description="Key",
            placeholder="new value",
            style={"description_width": "150px"},
            layout=w.Layout(width="480px"),
        )
        self.azure_button = w.Button(description="Save realm", icon="lock")
        self.azure_button.on_click(self.guarded(lambda _: self.submit_azure()))
        self.delete_picker = w.Dropdown(
            description="Remove", options=[], style={"description_width": "150px"}
        )
        self.delete_picker.add_class("pt-secret-remove-picker")
        self.delete_button = w.Button(
            description="Remove key",
            icon="trash",
            button_style="danger",
            layout=w.Layout(width="auto", min_width="130px", flex="0 0 auto"),  # never cut
        )
        # The question, "Yes, remove it" and Cancel, right beside the Remove button
        row = confirm_row("pt-secret", "Yes, remove it", flex="1 1 auto")
        self.confirm_label, self.confirm, self.cancel_button = row.label, row.yes, row.cancel
        self.confirm_box = row.box
        self.delete_button.on_click(self.guarded(lambda _: self.delete(self.delete_picker.value)))
        self.confirm.on_click(
            self.guarded(lambda _: self.delete(self.delete_picker.value, confirm=True))
        )
        self.cancel_button.on_click(self.guarded(lambda _: self.cancel_delete()))
        self.delete_picker.observe(lambda _: self._hide_confirm(), names="value")
        self.children = [
            w.HTML(
                "<b>Provider keys</b> <span class='pt-muted'>(write-only: stored values are never shown again)</span>"
            ),
            self.status_view,
            self.messages,
            *rows,
            w.HTML("<b>Azure OpenAI</b> (AZURE_OPENAI_KEYS, one realm at a time)"),
            self.azure_realm,
            self.azure_url,
            w.HBox([self.azure_key, self.azure_button]),
            w.HBox([self.delete_picker, self.delete_button, self.confirm_box]),
            self.output,
        ]
        self.guarded(self.refresh)()

    def __repr__(self) -> str:
        return f"<SecretsForm env={self.session.env.env_name!r}>"

    def refresh(self) -> list[SecretStatus]:
        return self._show(self.session.secrets.status())

    def submit(self, name: str, value: Any) -> list[SecretStatus]:
        """Store one key. The input is emptied first, whatever happens next."""
        self._clear_inputs()
        if name == "AZURE_OPENAI_KEYS":
            return self._store(AZURE_OPENAI_KEYS=value)
        if name not in SIMPLE_KEYS:
            raise ValidationError(f"{name}: is not a key this form stores", field=str(name))
        if not value:
            raise ValidationError(f"{name}: type a value first", field=name)
        return self._store(**{name: value})

    def submit_azure(self) -> list[SecretStatus]:
        realm, url, key = (
            self.azure_realm.value.strip(),
            self.azure_url.value.strip(),
            self.azure_key.value,
        )
        self._clear_inputs()
        if not realm:
            raise ValidationError(
                "AZURE_OPENAI_KEYS: give the realm (e.g. westus)", field="AZURE_OPENAI_KEYS"
            )
        return self._store(AZURE_OPENAI_KEYS={realm: {"url": url, "key": key}})

    def delete(self, name: str | None, confirm: bool = False) -> list[SecretStatus] | None:
        if not name:
            self.messages.error("Choose a key to remove")
            return None
        if not confirm:
            self.confirm_label.value = (
                f"<span class='pt-warn'>Remove <b>{esc(name)}</b>? Tests that need it fail"
                " until it is set again.</span>"
            )
            self.confirm_box.layout.display = ""
            return None
        self._hide_confirm()
        status = self._show(self.session.secrets.delete(name))
        self.messages.ok(f"Removed {name}")
        return status

    def cancel_delete(self) -> None:
        """Close the question; nothing is removed (the Cancel button)."""
        self._hide_confirm()
        self.messages.info("Nothing removed")

    def _hide_confirm(self) -> None:
        self.confirm_box.layout.display = "none"
        self.confirm_label.value = ""

    def _store(self, **keys: Any) -> list[SecretStatus]:
        status = self._show(self.session.secrets.set(**keys))
        self.messages.ok(f"Stored {', '.join(keys)}")
        return status

    def _clear_inputs(self) -> None:
        for box in self.inputs.values():
            box.value = ""
        self.azure_key.value = ""

    def _show(self, status: list[SecretStatus]) -> list[SecretStatus]:
        rows = "".join(
            f"<tr><td>{esc(s.name)}</td><td>{'✓ set' if s.is_set else '<span class=pt-muted>not set</span>'}</td>"
            f"<td>{esc(s.hint or '')}</td><td>{esc(f'{s.updated_at:%Y-%m-%d %H:%M} UTC' if s.updated_at else '')}</td></tr>"
            for s in status
        )
        self.status_view.value = f'<table class="pt-table"><tr><th>key</th><th>status</th><th>hint</th><th>updated</th></tr>{rows}</table>'
        self.delete_picker.options = [s.name for s in status if s.is_set]
        return status

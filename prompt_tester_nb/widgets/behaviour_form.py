"""The behaviour editor's form view: one row of fields per attempt, and the fallback.

It edits the same document as the JSON editor beside it: a field changed rewrites the JSON
(which the editor validates as always: ``BehaviourSpec``), and valid JSON typed there rebuilds
the rows. Keys the form has no field for (``functions``, ``api_version``…) are kept as they
are. The table of behaviours (``behaviours_table_html``) lives here too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import ipywidgets as w

from ..behaviour_spec import PROVIDERS
from ..models import Behaviour
from ._common import esc

FORM_CSS = """
<style>
.pt-behaviours { border-collapse: collapse; font-size: 13px; margin: 4px 0 8px; width: 100%;
  line-height: 1.4; }
.pt-behaviours td.pt-nowrap { white-space: nowrap; }
.pt-behaviours th, .pt-behaviours td { padding: 4px 10px; text-align: left; vertical-align: top;
  border-bottom: 1px solid var(--jp-border-color2, #e0e0e0); }
.pt-behaviours th { background: var(--jp-layout-color2, #f5f5f5); font-weight: 600; }
.pt-behaviours td.pt-num { text-align: right; font-variant-numeric: tabular-nums; }
.pt-behaviours tr.pt-current td { background: var(--jp-brand-color3, #e3f2fd); }
.pt-attempt { border: 1px solid var(--jp-border-color2, #e0e0e0); border-radius: 4px;
  padding: 4px 6px; margin: 3px 0; }
</style>
"""


def _model_label(model: Any) -> str:
    if not isinstance(model, dict):
        return "?"
    provider = model.get("provider") or "?"
    if provider == "azure":
        name = model.get("deployment_name") or model.get("deployment_id") or "?"
        return f"azure/{model.get('realm') or '?'}/{name}"
    return f"{provider}/{model.get('model') or '?'}"


def behaviours_table_html(
    behaviours: Iterable[Behaviour], current: str | None, when: Callable[[Any], str]
) -> str:
    """name | version | attempts | models (weight) | fallback | updated by | updated, the one
    being edited highlighted; ``when`` formats a time as a person reads it."""
    rows = []
    for b in behaviours:
        spec = b.spec if isinstance(b.spec, dict) else {}
        listed = spec.get("attempts")
        attempts = listed if isinstance(listed, list) else []
        models = ", ".join(
            f"{_model_label(a.get('ai_model'))} ({a.get('weight', 1)})"
            for a in attempts
            if isinstance(a, dict)
        )
        fallback = spec.get("fallback_attempt")
        fallback_text = (
            _model_label(fallback.get("ai_model")) if isinstance(fallback, dict) else "—"
        )
        who = b.updated_by or b.created_by or ""
        at = b.updated_at or b.created_at
        css = ' class="pt-current"' if b.name == current else ""
        shadowed = (
            "<br><span class='pt-warn pt-shadowed'>shadowed: never used, the name"
            " 'as-logged' always runs each log on the model that served it</span>"
            if getattr(b, "shadowed", False)
            else ""
        )
        rows.append(
            f"<tr{css}><td><b>{esc(b.name)}</b>{shadowed}</td><td class='pt-num'>{b.version}</td>"
            f"<td class='pt-num'>{len(attempts)}</td><td>{esc(models)}</td>"
            f"<td>{esc(fallback_text)}</td><td class='pt-nowrap'>{esc(who)}</td>"
            f"<td class='pt-nowrap'>{esc(when(at))}</td></tr>"
        )
    if not rows:
        return '<div class="pt-muted">No behaviours yet: click New.</div>'
    return (
        '<table class="pt-behaviours"><thead><tr><th>name</th><th>version</th><th>attempts</th>'
        "<th>models (weight)</th><th>fallback</th><th>updated by</th><th>updated</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )


class AttemptRow(w.HBox):
    """One attempt: provider, realm (Azure), model or deployment, max tokens, weight,
    functions support; unknown keys kept in ``extra``."""

    def __init__(self, attempt: dict[str, Any], owner: AttemptsForm, *, fallback: bool = False):
        super().__init__(layout=w.Layout(width="100%", flex_flow="row wrap"))
        self.add_class("pt-attempt")
        model = dict(attempt.get("ai_model") or {})
        provider = model.pop("provider", "azure")
        self.extra = {k: v for k, v in attempt.items() if k not in ("ai_model", "weight")}
        name = model.pop("deployment_name", None) or model.pop("deployment_id", None)
        name = name or model.pop("model", "")
        self.model_extra = {
            k: v for k, v in model.items() if k not in ("realm", "max_tokens", "support_functions")
        }
        small = w.Layout(width="170px")
        self.provider = w.Dropdown(
            options=list(PROVIDERS) if provider in PROVIDERS else [*PROVIDERS, provider],
            value=provider,
            description="provider",
            layout=w.Layout(width="190px"),
        )
        self.realm = w.Text(value=str(model.get("realm") or ""), description="realm", layout=small)
        self.model = w.Text(
            value=str(name or ""), description="model", layout=w.Layout(width="300px")
        )
        self.max_tokens = w.Text(
            value=str(model.get("max_tokens", "")),
            description="max tokens",
            layout=w.Layout(width="190px"),
        )
        self.weight = w.IntText(
            value=int(attempt.get("weight", 1) or 1),
            description="weight",
            layout=w.Layout(width="140px", display="none" if fallback else None),
        )
        self.functions = w.Checkbox(
            value=bool(model.get("support_functions")),
            description="functions",
            indent=False,
            layout=w.Layout(width="100px"),
        )
        self.remove = w.Button(
            icon="trash", tooltip="Remove this attempt", layout=w.Layout(width="34px")
        )
        self.remove.on_click(lambda _: owner.remove(self))
        for field in (
            self.provider,
            self.realm,
            self.model,
            self.max_tokens,
            self.weight,
            self.functions,
        ):
            field.style.description_width = "initial"  # the whole label, never "deploym…"
            field.observe(lambda _: owner.changed(), names="value")
        self.provider.observe(lambda _: self._azure_fields(), names="value")
        self._azure_fields()
        self.children = [
            self.provider,
            self.realm,
            self.model,
            self.max_tokens,
            self.weight,
            self.functions,
            self.remove,
        ]

    def _azure_fields(self) -> None:
        azure = self.provider.value == "azure"
        self.realm.layout.display = None if azure else "none"
        self.model.description = "deployment" if azure else "model"

    def to_attempt(self) -> dict[str, Any]:
        """The attempt as the behaviour document holds it (the editor validates it)."""
        tokens: Any = self.max_tokens.value.strip()
        if tokens.isdigit():
            tokens = int(tokens)
        model: dict[str, Any] = {"provider": self.provider.value, **self.model_extra}
        if self.provider.value == "azure":
            model["realm"] = self.realm.value.strip()
            model["deployment_name"] = self.model.value.strip()
        else:
            model["model"] = self.model.value.strip()
        model["max_tokens"] = tokens
        model["support_functions"] = self.functions.value
        return {"ai_model": model, "weight": self.weight.value, **self.extra}


class AttemptsForm(w.VBox):
    """The attempts (in order) and the optional fallback, as rows of fields."""

    def __init__(self, on_change: Callable[[dict[str, Any]], None]):
        super().__init__(layout=w.Layout(width="100%"))
        self._on_change = on_change
        self._building = False
        self.attempts = w.VBox(layout=w.Layout(width="100%"))
        self.add_button = w.Button(
            description="Add attempt", icon="plus", layout=w.Layout(width="160px")
        )
        self.use_fallback = w.Checkbox(
            value=False,
            description="Fallback attempt (when every attempt fails)",
            indent=False,
            layout=w.Layout(width="auto"),
        )
        self.fallback = w.VBox(layout=w.Layout(width="100%"))
        self.add_button.on_click(lambda _: self.add())
        self.use_fallback.observe(lambda _: self._toggle_fallback(), names="value")
        self.children = [
            w.HTML(FORM_CSS + "<b>Attempts</b> <span class='pt-muted'>(tried by weight)</span>"),
            self.attempts,
            self.add_button,
            self.use_fallback,
            self.fallback,
        ]
        self._extra: dict[str, Any] = {}

    def load(self, spec: Any) -> None:
        """Rebuild the rows from a behaviour document (anything else is ignored)."""
        if not isinstance(spec, dict) or not isinstance(spec.get("attempts"), list):
            return
        self._building = True
        try:
            self._extra = {
                k: v for k, v in spec.items() if k not in ("attempts", "fallback_attempt")
            }
            self.attempts.children = [
                AttemptRow(a, self) for a in spec["attempts"] if isinstance(a, dict)
            ]
            fallback = spec.get("fallback_attempt")
            self.use_fallback.value = isinstance(fallback, dict)
            self.fallback.children = (
                [AttemptRow(fallback, self, fallback=True)] if isinstance(fallback, dict) else []
            )
        finally:
            self._building = False

    def to_spec(self) -> dict[str, Any]:
        fallback = self.fallback.children[0].to_attempt() if self.fallback.children else None
        if fallback is not None:
            fallback.pop("weight", None)
        return {
            **self._extra,
            "attempts": [row.to_attempt() for row in self.attempts.children],
            "fallback_attempt": fallback,
        }

    def changed(self) -> None:
        if not self._building:
            self._on_change(self.to_spec())

    def add(self) -> None:
        last = self.attempts.children[-1].to_attempt() if self.attempts.children else {}
        template = {
            "ai_model": dict(last.get("ai_model") or {"provider": "openai", "max_tokens": 4096}),
            "weight": 1,
        }
        self.attempts.children = [*self.attempts.children, AttemptRow(template, self)]
        self.changed()

    def remove(self, row: AttemptRow) -> None:
        if row in self.fallback.children:
            self.use_fallback.value = False  # _toggle_fallback clears it and reports
            return
        self.attempts.children = [r for r in self.attempts.children if r is not row]
        self.changed()

    def _toggle_fallback(self) -> None:
        if self._building:
            return
        if self.use_fallback.value and not self.fallback.children:
            template = {
                "ai_model": {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": 4096}
            }
            self.fallback.children = [AttemptRow(template, self, fallback=True)]
        elif not self.use_fallback.value:
            self.fallback.children = []
        self.changed()

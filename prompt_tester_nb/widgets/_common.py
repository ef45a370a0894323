"""Small pieces the widgets share: error display, busy state, pretty JSON."""

from __future__ import annotations

import contextlib
import html
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import ipywidgets as w

from ..errors import PromptTesterError

logger = logging.getLogger(__name__)

STYLE = """
<style>
.pt-mono, .pt-mono select, .pt-mono textarea { font-family: var(--jp-code-font-family, monospace);
  font-size: var(--jp-code-font-size, 12px); }
.pt-pre { white-space: pre-wrap; word-break: break-word; margin: 0; max-height: 22em; overflow: auto;
  background: var(--jp-layout-color2, #f5f5f5); padding: 4px 6px; border-radius: 3px; }
.pt-error { color: var(--jp-error-color1, #c62828); }
.pt-warn { color: var(--jp-warn-color1, #e65100); }
.pt-ok { color: var(--jp-success-color1, #2e7d32); }
.pt-muted { color: var(--jp-ui-font-color2, #777); }
.pt-diff table.diff { font-family: var(--jp-code-font-family, monospace); font-size: 11px; }
.pt-diff .diff_add { background: #e6ffed; } .pt-diff .diff_chg { background: #fff5b1; }
.pt-diff .diff_sub { background: #ffeef0; }
.pt-table td, .pt-table th { padding: 1px 8px; text-align: left; }
</style>
"""


@dataclass(frozen=True)
class ConfirmRow:
    """The question, "Yes, …" and Cancel of a destructive action, hidden until asked."""

    box: w.HBox
    label: w.HTML
    yes: w.Button
    cancel: w.Button


def confirm_row(prefix: str, yes: str, **box_layout: str) -> ConfirmRow:
    """A confirmation asked right beside the button that needs it (not a dialog), its buttons
    never cut (auto width, a minimum); CSS classes ``{prefix}-confirm-label``,
    ``{prefix}-confirm`` and ``{prefix}-cancel`` for the browser tests."""
    label = w.HTML()
    label.add_class(f"{prefix}-confirm-label")
    yes_button = w.Button(
        description=yes,
        button_style="danger",
        layout=w.Layout(width="auto", min_width="130px", flex="0 0 auto"),
    )
    yes_button.add_class(f"{prefix}-confirm")
    cancel = w.Button(
        description="Cancel",
        icon="times",
        layout=w.Layout(width="auto", min_width="90px", flex="0 0 auto"),
    )
    cancel.add_class(f"{prefix}-cancel")
    box = w.HBox(
        [label, yes_button, cancel],
        layout=w.Layout(display="none", align_items="center", **box_layout),
    )
    return ConfirmRow(box, label, yes_button, cancel)


def style() -> w.HTML:
    return w.HTML(STYLE)


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


def pre(value: Any) -> str:
    text = value if isinstance(value, str) else pretty(value)
    return f'<pre class="pt-pre">{esc(text)}</pre>'


class Messages(w.HTML):
    """Where a tool tells the user what happened: errors in words, no stack traces."""

    def error(self, message: str) -> None:
        self.value = f'<div class="pt-error">⚠ {esc(message)}</div>'

    def problems(self, exc: Any) -> None:
        """Every problem of a ValidationError, one per line, each naming its field."""
        errors = getattr(exc, "errors", None) or [{"field": None, "message": str(exc)}]
        items = "".join(
            f"<li><code>{esc(e.get('field') or '')}</code> {esc(e.get('message'))}</li>"
            for e in errors
        )
        self.value = f'<div class="pt-error">⚠ {len(errors)} problem(s):<ul>{items}</ul></div>'

    def ok(self, message: str) -> None:
        self.value = f'<div class="pt-ok">✓ {esc(message)}</div>'

    def info(self, message: str) -> None:
        self.value = f'<div class="pt-muted">{esc(message)}</div>'

    def clear(self) -> None:
        self.value = ""

    @property
    def text(self) -> str:
        return html.unescape(_strip_tags(self.value))


def _strip_tags(value: str) -> str:
    import re

    return re.sub(r"<[^>]+>", "", value)


class Tool(w.VBox):
    """Base of each tool: a message line and an Output that catches callback errors.

    Expected failures (the package's errors) become a message; anything else is shown in
    the Output with its traceback, so it lands where the user looks, not in the kernel log.
    """

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.messages = Messages()
        self.output = w.Output()

    def guarded(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def handler(*args: Any, **kwargs: Any) -> Any:
            with self.output:
                try:
                    return fn(*args, **kwargs)
                except PromptTesterError as exc:
                    self.messages.error(exc.message)
                except Exception as exc:
                    self.messages.error(f"Unexpected {type(exc).__name__}: see the details below")
                    raise
            return None

        return handler

    @contextlib.contextmanager
    def busy(self, *controls: w.Widget, label: str = "Working…") -> Iterator[None]:
        previous = [(c, getattr(c, "disabled", None)) for c in controls]
        for c in controls:
            if hasattr(c, "disabled"):
                c.disabled = True
        self.messages.info(label)
        try:
            yield
        finally:
            for c, disabled in previous:
                if disabled is not None:
                    c.disabled = disabled

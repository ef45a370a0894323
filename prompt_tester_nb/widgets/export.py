"""DataFrame and CSV buttons for a tab's result (the Replay run, the Compare comparison).

The CSV is offered as a download link (no file is written on the server); a result whose
CSV is over ``CSV_LINK_MAX`` is offered as ``save_csv(path)`` in Python only, since the link
is widget state, saved with a notebook that saves widget state.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ipywidgets as w

from ._common import esc

CSV_LINK_MAX = 5 * 1024 * 1024


class CsvOffer:
    """The DataFrame and CSV buttons, the link and the frame's view, for ``frame()``.

    ``what`` names the file ("replay-….csv"), ``python`` the object a user calls in Python
    (``app.replay``), ``css`` prefixes the widgets' classes (``pt-replay-frame``, …)."""

    def __init__(self, what: str, python: str, frame: Callable[[], Any], css: str):
        self.what, self.python, self.frame = what, python, frame
        self.frame_button = w.Button(description="DataFrame", icon="table", disabled=True)
        self.frame_button.add_class(f"{css}-frame")
        self.csv_button = w.Button(description="CSV", icon="download", disabled=True)
        self.csv_button.add_class(f"{css}-csv")
        self.csv_link = w.HTML()
        self.csv_link.add_class(f"{css}-csv-link")
        self.frame_view = w.Output()
        self.frame_view.add_class(f"{css}-frame-view")
        self.buttons = [self.frame_button, self.csv_button, self.csv_link]
        self.stamp = ""  # the file name's time, set when the result is shown

    def enable(self, stamp: str | None = None) -> None:
        self.stamp = (stamp or datetime.now(UTC).isoformat())[:19].replace(":", "")
        self.frame_button.disabled = self.csv_button.disabled = False

    def reset(self) -> None:
        self.csv_link.value = ""
        self.frame_view.clear_output()
        self.frame_button.disabled = self.csv_button.disabled = True

    def show_dataframe(self) -> Any:
        """Show the result as a DataFrame under the buttons (and return it)."""
        frame = self.frame()
        self.frame_view.clear_output()
        # append_* rather than ``with output: display(...)``: that needs a kernel's display hook
        self.frame_view.append_stdout(
            f"The {self.what} as a DataFrame (in Python: {self.python}.to_dataframe()):\n"
        )
        self.frame_view.append_display_data(frame)
        return frame

    def offer_csv(self) -> str:
        """A download link for the result as CSV (no file is written); returns the CSV."""
        text = self.frame().to_csv(index=False)
        data = text.encode()
        if len(data) > CSV_LINK_MAX:
            self.csv_link.value = (
                "<span class='pt-muted'>Too big for a download link: in Python,"
                f" <code>{esc(self.python)}.save_csv('{esc(self.what)}.csv')</code></span>"
            )
            return text
        name = f"{self.what}-{self.stamp or 'run'}.csv"
        href = "data:text/csv;base64," + base64.b64encode(data).decode()
        self.csv_link.value = (
            f"<a download='{esc(name)}' href='{href}'>⬇ {esc(name)}</a>"
            f" <span class='pt-muted'>({len(data) / 1024:.0f} KB)</span>"
        )
        return text

    def save_csv(self, path: str | Path) -> Path:
        """Write the result to ``path`` as CSV; returns the path."""
        target = Path(path)
        self.frame().to_csv(target, index=False)
        return target

    def wire(self, guarded: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
        """Connect the buttons through the tab's ``guarded`` (errors shown, not raised)."""
        self.frame_button.on_click(guarded(lambda _: self.show_dataframe()))
        self.csv_button.on_click(guarded(lambda _: self.offer_csv()))

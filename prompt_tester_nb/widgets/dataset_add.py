""" "Add to dataset": the logs of the rows selected in a grid (the Logs tab's, a replay's) go
into a dataset, an existing one or one named here, in one new version.

A thin form over ``session.datasets``: the rules (a log already in is counted, not added; the
Tester's own logs are refused unless asked for; the name rule) are the service's, and what it
refuses is said in its words. The form only says what happened, e.g. "Added 3 logs to
refunds, 1 already in: now version 4".
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as w

from ..errors import PromptTesterError, ValidationError
from ..session import Session
from ._common import Tool, esc

# What the items' ``expected`` answer is: (label, the service's ``expected=``)
EXPECTED = (
    ("the log's ideal answer", "ideal_answer"),
    ("production's answer", "production"),
    ("none", None),
)


def added_summary(ds: Any, created: bool = False) -> str:
    """What a change did, in words: "Added 3 logs to refunds, 1 already in: now version 4"."""
    start = f"Created {ds.name!r} and added" if created else "Added"
    where = "" if created else f" to {ds.name!r}"
    text = f"{start} {ds.added} log(s){where}"
    if ds.already_in:
        text += f", {ds.already_in} already in"
    if ds.added:
        return f"{text}: now version {ds.version} ({ds.item_count} item(s))"
    return f"{text}: nothing new, so no new version (still version {ds.version})"


def _in_the_forms_words(exc: PromptTesterError) -> str:
    """The service's message, its Python advice (``source='all'``) said as this form's box."""
    message = exc.message
    if isinstance(exc, ValidationError) and exc.field == "context_ids":
        message = message.replace("pass source='all'", "tick “also the Tester's own logs”")
    return message


LABELS = {"description_width": "125px"}  # the form's fields line up under one another


class AddToDataset(Tool):
    """A button, "Add to dataset", and the small form it opens under it.

    ``selected_ids()`` gives the context ids of the rows selected (the tab's grid); the
    button is enabled while there are some (``refresh_button_state()`` after a selection
    changes). ``add(name, expected=, include_tester=, description=)`` is the click's Python
    equivalent; ``on_added`` listeners hear of each dataset changed (the Datasets tab lists
    it again). After an add, "Open in the Datasets tab" calls the ``on_show`` listeners with
    the dataset's name (the app shows that tab on it; without a listener the button is not
    offered)."""

    def __init__(
        self,
        session: Session,
        selected_ids: Callable[[], Sequence[str]],
        css_class: str,
        noun: str = "log",
    ):
        super().__init__()
        self.session = session
        self.selected_ids = selected_ids
        self.noun = noun
        self.on_added: list[Callable[[Any], Any]] = []
        self.on_show: list[Callable[[str], Any]] = []
        self.last: Any = None  # the Dataset the last add answered with

        self.button = w.Button(
            description="Add to dataset",
            icon="plus-square",
            disabled=True,
            tooltip="Put the selected rows' logs into a dataset (Ctrl/Cmd-click selects more)",
        )
        self.button.add_class(f"{css_class}-add")
        self.count = w.HTML()
        self.count.add_class(f"{css_class}-add-count")
        self.name = w.Combobox(
            description="Dataset",
            placeholder="choose one, or type a new name",
            ensure_option=False,
            layout=w.Layout(width="400px"),
            style=LABELS,
        )
        self.name.add_class(f"{css_class}-add-name")
        self.description = w.Text(
            description="Description",
            placeholder="what these cases are for (a new dataset)",
            layout=w.Layout(width="460px"),
            style=LABELS,
        )
        self.description.add_class(f"{css_class}-add-description")
        self.expected = w.Dropdown(
            description="Expected answer",
            options=EXPECTED,
            value="ideal_answer",
            layout=w.Layout(width="340px"),
            style=LABELS,
        )
        self.expected.add_class(f"{css_class}-add-expected")
        self.include_tester = w.Checkbox(
            description="also the Tester's own logs (not production calls)",
            value=False,
            indent=False,
            layout=w.Layout(width="auto"),  # the whole label, never cut
        )
        self.include_tester.add_class(f"{css_class}-add-tester")
        self.confirm = w.Button(
            description="Add", icon="check", button_style="primary", layout=w.Layout(width="auto")
        )
        self.confirm.add_class(f"{css_class}-add-confirm")
        self.cancel = w.Button(description="Cancel")
        self.new_note = w.HTML()
        self.result = self.messages  # what the last add did, or why it was refused
        self.result.add_class(f"{css_class}-add-result")
        self.show_button = w.Button(
            description="Open in the Datasets tab",
            icon="table",
            layout=w.Layout(display="none", width="auto"),
        )
        self.show_button.add_class(f"{css_class}-add-show")
        self.form = w.VBox(
            [
                w.HTML(
                    "<span class='pt-muted'>Each selected log becomes an item: its context"
                    " variables, prompt and version, production's answer and the expected"
                    " answer chosen here. A log already in the dataset is not added twice.</span>"
                ),
                w.HBox([self.name, self.new_note], layout=w.Layout(flex_flow="row wrap")),
                self.description,
                w.HBox([self.expected, self.include_tester], layout=w.Layout(flex_flow="row wrap")),
                w.HBox([self.confirm, self.cancel]),
            ],
            layout=w.Layout(
                display="none", border="1px solid var(--jp-border-color2, #ddd)", padding="4px"
            ),
        )
        self.form.add_class(f"{css_class}-add-form")

        self.button.on_click(self.guarded(lambda _: self.open_form()))
        self.cancel.on_click(self.guarded(lambda _: self.close_form()))
        self.confirm.on_click(self.guarded(lambda _: self._submit()))
        self.show_button.on_click(self.guarded(lambda _: self.show()))
        self.name.observe(self.guarded(lambda _: self._on_name()), names="value")
        self.children = [
            w.HBox([self.button, self.count]),
            self.form,
            w.HBox([self.result, self.show_button], layout=w.Layout(align_items="center")),
            self.output,
        ]
        self.refresh_button_state()

    # --- Python equivalents of the clicks ----------------------------------------------------
    def refresh_button_state(self) -> None:
        """Enable the button while rows are selected, and say how many logs they are."""
        ids = list(dict.fromkeys(self.selected_ids()))
        self.button.disabled = not ids
        self.confirm.description = f"Add {len(ids)} {self.noun}(s)"
        self.count.value = (
            f"<span class='pt-muted'>{len(ids)} {self.noun}(s) selected</span>"
            if ids
            else "<span class='pt-muted'>select rows (Ctrl/Cmd-click for more) to add them"
            " to a dataset</span>"
        )

    def open_form(self) -> None:
        """Show the form, the environment's datasets offered by name."""
        self.name.options = tuple(d.name for d in self.session.datasets.list())
        self.result.clear()
        self.show_button.layout.display = "none"
        self.refresh_button_state()
        self._on_name()
        self.form.layout.display = ""

    def close_form(self) -> None:
        self.form.layout.display = "none"

    def show(self) -> None:
        """Show the dataset last added to (the app: its Datasets tab, opened on it)."""
        if self.last is not None:
            for listener in list(self.on_show):
                listener(self.last.name)

    def add(
        self,
        name: str,
        expected: str | None = "ideal_answer",
        include_tester: bool = False,
        description: str = "",
    ) -> Any:
        """Add the selected rows' logs to ``name`` (created first when it does not exist);
        returns the new ``Dataset``. What the service refuses is said in its words, and a
        dataset created here for an add that was refused is taken back."""
        ids = list(dict.fromkeys(self.selected_ids()))
        if not ids:
            self.result.error("Select rows first (Ctrl/Cmd-click selects more than one)")
            return None
        name = (name or "").strip()
        if not name:
            self.result.error("Choose a dataset, or type a name for a new one")
            return None
        datasets = self.session.datasets
        created = name not in {d.name for d in datasets.list()}
        try:
            if created:
                datasets.create(name, description=description)
            source = "all" if include_tester else "production"
            ds = datasets.add_logs(name, ids, expected=expected, source=source)
        except PromptTesterError as exc:
            if created:
                self._take_back(name)
            kept = " (nothing was created)" if created else " (nothing was added)"
            self.result.error(_in_the_forms_words(exc) + kept)
            return None
        self.last = ds
        self.close_form()
        self.result.ok(added_summary(ds, created=created))
        self.show_button.layout.display = "" if self.on_show else "none"
        for listener in list(self.on_added):
            listener(ds)
        return ds

    # --- internals -----------------------------------------------------------------------------
    def _submit(self) -> None:
        self.add(
            self.name.value,
            expected=self.expected.value,
            include_tester=self.include_tester.value,
            description=self.description.value,
        )

    def _take_back(self, name: str) -> None:
        """Delete the dataset this form just created for an add the service refused."""
        # the refusal is what the user needs to read; if this fails the empty one stays listed
        with contextlib.suppress(PromptTesterError):
            self.session.datasets.delete(name)

    def _on_name(self) -> None:
        """Say whether the name is a new dataset (then the description is asked for)."""
        name = (self.name.value or "").strip()
        new = bool(name) and name not in self.name.options
        self.description.layout.display = "" if new else "none"
        self.new_note.value = (
            f"<span class='pt-muted'>new: a dataset named <b>{esc(name)}</b> will be created</span>"
            if new
            else ""
        )

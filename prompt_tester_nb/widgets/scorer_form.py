"""The Replay tab's scorer chooser: checks with their small inputs, LLM judges by behaviour,
repeats. ``form.scorers`` is the list the form describes (``pt.scorers`` objects);
``form.set_scorers([...])`` sets any list from Python (shown as such, the form cleared)."""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from ..errors import PromptTesterError
from ..judging import scorers as sc
from ._common import esc

JUDGE = "judge"  # the behaviour judges run through by default, when the environment has it
JUDGE_PASS = 0.7  # a judge's pass mark unless changed (``pt.scorers.judge``'s default)


class ScorerForm(w.VBox):
    def __init__(self) -> None:
        super().__init__()
        wide = {"style": {"description_width": "initial"}}
        self.json_valid = w.Checkbox(description="JSON valid", value=False, indent=False)
        self.similarity = w.Checkbox(
            description="Similarity to production (passes at 0.5)", value=False, indent=False
        )
        self.contains = w.Text(
            description="Contains", placeholder="refund, return (comma-separated)", **wide
        )
        self.contains_all = w.Dropdown(
            options=[("all of them", True), ("any of them", False)],
            value=True,
            layout=w.Layout(width="130px"),
        )
        self.regex = w.Text(description="Matches regex", placeholder=r"^\{", **wide)
        self.max_latency = w.BoundedIntText(
            description="Latency ≤ ms (0: off)", value=0, min=0, max=600_000, **wide
        )
        self.max_price = w.BoundedFloatText(
            description="Cost per answer ≤ $ (0: off)",
            value=0.0,
            min=0.0,
            max=100.0,
            step=0.001,
            **wide,
        )
        self.judge_rubric = w.Textarea(
            description="Judge rubric",
            placeholder="e.g. Is the answer polite, and does it answer the customer's question?",
            rows=2,
            layout=w.Layout(width="60%"),
            **wide,
        )
        self.judge_name = w.Text(description="named", value="judge", layout=w.Layout(width="200px"))
        self.judge_behaviour = w.Dropdown(description="judged by", options=[], **wide)
        # a judge's score passes at or above this (shown beside the pass rate)
        self.judge_threshold = w.BoundedFloatText(
            description="passes at ≥",
            value=JUDGE_PASS,
            min=0.0,
            max=1.0,
            step=0.05,
            layout=w.Layout(width="170px"),
            **wide,
        )
        self.ideal = w.Checkbox(
            description="Judge against the log's ideal answer", value=False, indent=False
        )
        self.ideal_behaviour = w.Dropdown(description="judged by", options=[], **wide)
        self.repeats = w.BoundedIntText(
            description="Repeats (1 to 20)", value=1, min=1, max=20, **wide
        )
        self.from_python: list[Any] = []
        self.clear_python_button = w.Button(
            description="Clear", icon="times", layout=w.Layout(display="none", width="90px")
        )
        self.chosen = w.HTML()
        self.chosen.add_class("pt-scorers-chosen")
        for name in ("json_valid", "similarity", "contains", "regex", "judge_rubric", "ideal"):
            getattr(self, name).add_class(f"pt-scorer-{name.replace('_', '-')}")
        self.repeats.add_class("pt-scorer-repeats")
        self.judge_threshold.add_class("pt-scorer-threshold")
        self.add_class("pt-scorer-form")

        for control in (
            self.json_valid,
            self.similarity,
            self.contains,
            self.contains_all,
            self.regex,
            self.max_latency,
            self.max_price,
            self.judge_rubric,
            self.judge_name,
            self.judge_behaviour,
            self.judge_threshold,
            self.ideal,
            self.ideal_behaviour,
        ):
            control.observe(lambda _: self._show_chosen(), names="value")
        self.clear_python_button.on_click(lambda _: self.set_scorers([]))

        self.children = [
            w.HTML("<b>Score the answers</b> <span class='pt-muted'>(checks, then judges)</span>"),
            w.HBox([self.json_valid, self.similarity]),
            w.HBox([self.contains, self.contains_all, self.regex]),
            w.HBox([self.max_latency, self.max_price]),
            w.HBox([self.judge_rubric, self.judge_name, self.judge_behaviour]),
            w.HBox([self.ideal, self.ideal_behaviour]),
            self.judge_threshold,
            self.repeats,
            w.HBox([self.chosen, self.clear_python_button]),
        ]
        self._show_chosen()

    # --- Python ------------------------------------------------------------------------
    @property
    def scorers(self) -> list[Any]:
        """The scorers the form describes, then those set from Python. Raises a
        ``ValidationError`` for an input that makes no scorer (a bad regex, say)."""
        out: list[Any] = []
        if self.json_valid.value:
            out.append(sc.json_valid())
        if self.similarity.value:
            out.append(sc.similarity())
        needles = [t.strip() for t in self.contains.value.split(",") if t.strip()]
        if needles:
            out.append(sc.contains(*needles, name="contains", all=bool(self.contains_all.value)))
        if self.regex.value:
            out.append(sc.regex(self.regex.value))
        if self.max_latency.value:
            out.append(sc.max_latency(int(self.max_latency.value)))
        if self.max_price.value:
            out.append(sc.max_cost(float(self.max_price.value)))
        if self.judge_rubric.value.strip():
            out.append(
                sc.judge(
                    self.judge_rubric.value.strip(),
                    behaviour=self.judge_behaviour.value or JUDGE,
                    name=self.judge_name.value.strip() or "judge",
                    threshold=float(self.judge_threshold.value),
                )
            )
        if self.ideal.value:
            out.append(
                sc.ideal(
                    behaviour=self.ideal_behaviour.value or JUDGE,
                    threshold=float(self.judge_threshold.value),
                )
            )
        return [*out, *self.from_python]

    def set_scorers(self, values: Any) -> list[Any]:
        """Use exactly ``values`` (``pt.scorers`` objects or callables; None or [] for none):
        the form's own inputs are cleared, so what runs is what was set."""
        values = list(values or [])
        sc.ScorerSet.build(values)  # a bad list fails here, not at the next run
        self.from_python = []
        self.json_valid.value = self.similarity.value = self.ideal.value = False
        self.contains.value = self.regex.value = self.judge_rubric.value = ""
        self.max_latency.value, self.max_price.value = 0, 0.0
        self.from_python = values
        self._show_chosen()
        return self.scorers

    @property
    def repeat_count(self) -> int:
        return int(self.repeats.value)

    def set_behaviours(self, names: list[str]) -> None:
        for picker in (self.judge_behaviour, self.ideal_behaviour):
            current = picker.value
            picker.options = names
            if current in names:
                picker.value = current
            elif names:
                picker.value = JUDGE if JUDGE in names else names[0]

    # --- internals ---------------------------------------------------------------------
    def _show_chosen(self) -> None:
        self.clear_python_button.layout.display = "" if self.from_python else "none"
        try:
            chosen = sc.ScorerSet.build(self.scorers).scorers
        except PromptTesterError as exc:
            self.chosen.value = f"<span class='pt-error'>⚠ {esc(exc.message)}</span>"
            return
        if not chosen:
            self.chosen.value = (
                "<span class='pt-muted'>No scorer: the replay shows changes and similarity"
                " only.</span>"
            )
            return
        python = {id(v) for v in self.from_python}
        names = ", ".join(
            f"<code>{esc(s.name)}</code>"
            + (
                f" (judge by <i>{esc(s.behaviour)}</i>, passes at ≥ {s.threshold:.2f})"
                if s.is_judge
                else ""
            )
            for s in chosen
        )
        note = " · set from Python" if python else ""
        self.chosen.value = f"<span class='pt-muted'>Scorers: {names}{esc(note)}</span>"

"""The Experiments tab's history panel: a dataset's experiments over time, one point each
(``s.experiments.history(dataset, metric=…).plot()``), drawn as a PNG under its button.

Apart from the tab's flow (``experiments_view``) because it only needs the session, the
dataset and the metric: the tab says which dataset (its filter's, else the chosen
experiment's) and shows errors in its message line.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import ipywidgets as w

from ..errors import ValidationError
from ._common import esc

# the metrics besides the scorers, as ``s.experiments.history`` names them
SPECIAL_METRICS = (
    ("win rate", "win_rate"),
    ("cost (USD)", "cost_usd"),
    ("latency p50 (ms)", "latency_p50_ms"),
)


def history_figure(history: Any) -> tuple[Any, bytes]:
    """The history's matplotlib Figure and its PNG; without matplotlib, an error that says
    which extra to install."""
    try:
        figure = history.plot()
    except ImportError:
        raise ValidationError(
            "history: the plot needs matplotlib (pip install 'prompt-tester-nb[plot]');"
            " the points are s.experiments.history(...) as a DataFrame",
            field="history",
        ) from None
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96)
    return figure, buffer.getvalue()


class HistoryPanel(w.VBox):
    """The metric picker (each scorer, then the win rate, cost and latency), **Plot
    history**, a line saying what is drawn, and the plot (an ``Output``)."""

    def __init__(self) -> None:
        super().__init__()
        self.metric = w.Dropdown(
            description="Metric", options=[], style={"description_width": "initial"}
        )
        self.metric.add_class("pt-experiment-metric")
        self.plot_button = w.Button(description="Plot history", icon="line-chart")
        self.plot_button.add_class("pt-experiment-plot")
        self.note = w.HTML()
        self.note.add_class("pt-experiment-history-note")
        self.output = w.Output()
        self.output.add_class("pt-experiment-history")
        self.children = [w.HBox([self.metric, self.plot_button, self.note]), self.output]

    def set_metrics(self, scorers: list[str]) -> None:
        """The choices: the scorers of the experiments listed, then the special metrics (the
        choice made stays when it still is one)."""
        current = self.metric.value
        options = [(s, s) for s in scorers] + list(SPECIAL_METRICS)
        self.metric.options = options
        values = [v for _, v in options]
        self.metric.value = current if current in values else (values[0] if values else None)

    def show(self, dataset: str, metric: str, history: Any) -> Any:
        """Draw ``history`` (``s.experiments.history``'s frame); returns the Figure, or None
        when the dataset has no experiment."""
        self.output.clear_output()
        if not len(history):
            self.note.value = f"<span class='pt-muted'>No experiment over {esc(dataset)} yet</span>"
            return None
        figure, png = history_figure(history)
        # the PNG as the Output's one display item rather than ``with output: display(...)``:
        # that needs a kernel's display hook, and a figure shown through pyplot would stay open
        self.output.outputs = (
            {
                "output_type": "display_data",
                "data": {"image/png": base64.b64encode(png).decode("ascii")},
                "metadata": {},
            },
        )
        label = next((k for k, v in self.metric.options if v == metric), metric)
        self.note.value = (
            f"<span class='pt-muted'>{len(history)} experiment(s) over <b>{esc(dataset)}</b>,"
            f" {esc(label)}</span>"
        )
        return figure

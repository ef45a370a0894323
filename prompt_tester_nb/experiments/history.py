"""A dataset's experiments over time: one point per experiment, a DataFrame that plots itself.

``s.experiments.history("refunds", metric="judge")`` gives one row per stored experiment over
the dataset (oldest first) with the metric's value and, for a scorer's mean or a win rate,
its 95 % interval; ``.plot()`` draws it (needs the ``plot`` extra: matplotlib), the blessed
experiment marked.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

COLUMNS = (
    "experiment_id",
    "name",
    "created_at",
    "created_by",
    "dataset_version",
    "prompt_id",
    "blessed",
    "status",
    "metric",
    "value",
    "low",
    "high",
    "n",
)


class ExperimentHistory(pd.DataFrame):
    """One row per experiment: ``COLUMNS``. Anything derived from it is a plain DataFrame."""

    _metadata = ["dataset"]

    @property
    def _constructor(self):
        return pd.DataFrame

    def plot(self, *args: Any, **kwargs: Any):  # -> matplotlib.figure.Figure
        """The metric per experiment in storing order, its interval as error bars, the
        blessed one drawn as a star."""
        from ..display.history import history_plot

        return history_plot(self)


def history_frame(dataset: str, points: list[dict[str, Any]]) -> ExperimentHistory:
    frame = ExperimentHistory(points, columns=list(COLUMNS))
    frame.dataset = dataset
    return frame

"""The plot of a dataset's experiments over time (needs the ``plot`` extra: matplotlib)."""

from __future__ import annotations

from typing import Any


def history_plot(frame: Any):  # -> matplotlib.figure.Figure
    """The metric per experiment in storing order, its interval as error bars, the blessed
    one drawn as a star."""
    import pandas as pd
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 3.5))
    ax = figure.add_subplot(1, 1, 1)
    metric = str(frame["metric"].iloc[0]) if len(frame) else "metric"
    xs = list(range(len(frame)))
    values = pd.to_numeric(frame["value"], errors="coerce")
    low = pd.to_numeric(frame["low"], errors="coerce")
    high = pd.to_numeric(frame["high"], errors="coerce")
    below = (values - low).clip(lower=0).fillna(0)
    above = (high - values).clip(lower=0).fillna(0)
    ax.errorbar(xs, values, yerr=[below, above], fmt="o-", capsize=3, label=metric)
    blessed = [i for i, b in enumerate(frame["blessed"]) if bool(b)]
    if blessed:
        ax.plot(
            blessed,
            values.iloc[blessed],
            "*",
            markersize=14,
            color="goldenrod",
            label="blessed",
        )
    labels = [
        str(n) if n else str(e)[-8:]
        for n, e in zip(frame["name"], frame["experiment_id"], strict=True)
    ]
    ax.set_xticks(xs)
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(metric)
    ax.set_title(f"{getattr(frame, 'dataset', '') or ''} · {metric} per experiment".strip(" ·"))
    ax.legend(loc="best", fontsize=8)
    figure.tight_layout()
    return figure

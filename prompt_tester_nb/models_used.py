"""Which models a comparison set side by side, said in one line when they differ.

A replay row or a Tester run names its model as a behaviour does (``azure/westus/gpt-4o``,
``openai/gpt-4o-mini``); a log names the model that served it (``behaviour_spec.
logged_model_label``). When they differ, cost and latency compare models, not prompts: the
comparison says so ("production used gpt-4o-mini on 9 rows; this run gpt-4-turbo").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable


def short_name(label: str) -> str:
    """The model's own name: the deployment or model, without provider and realm."""
    return label.rsplit("/", 1)[-1]


def _names(counts: Counter[str], with_counts: bool) -> str:
    ranked = counts.most_common()
    if len(ranked) == 1 or not with_counts:
        return ", ".join(name for name, _ in ranked)
    return ", ".join(f"{name} ({n})" for name, n in ranked)


def models_differ(
    pairs: Iterable[tuple[str | None, str | None]],
    *,
    baseline: str = "production",
    subject: str = "this run",
) -> str | None:
    """One line naming both sides' models over the rows where they differ, or None when every
    row ran on its baseline's model (or a side does not say). ``pairs``: (the baseline's
    model, this run's model) per row, as labels."""
    differ = [(a, b) for a, b in pairs if a and b and a != b]
    if not differ:
        return None
    theirs = Counter(short_name(a) for a, _ in differ)
    ours = Counter(short_name(b) for _, b in differ)
    if theirs == ours:  # same names, other realms or providers: say the labels
        theirs, ours = Counter(a for a, _ in differ), Counter(b for _, b in differ)
    rows = len(differ)
    where = "" if (rows == 1 and subject == "this test") else f" on {rows} row{'s' * (rows != 1)}"
    return f"{baseline} used {_names(theirs, True)}{where}; {subject} {_names(ours, True)}"

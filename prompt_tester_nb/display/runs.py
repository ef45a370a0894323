"""How a replay run shows itself in a notebook: HTML (``_repr_html_``) and ``plot()``.

The functions take a ``RunRecord`` (``replay.records``) and read its fields and rows; they
never import it (see the package's docstring).

Every text that comes from a log or a model is escaped; nothing here ever sees a key.
"""

from __future__ import annotations

import difflib
import html
from collections import Counter
from typing import Any

MAX_ROWS_SHOWN = 20


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _interval(ci: Any) -> str:
    return "n/a" if not ci else f"{ci[0]:.2f} to {ci[1]:.2f}"


def _diff(old: str, new: str) -> str:
    lines = difflib.unified_diff(
        (old or "").splitlines(), (new or "").splitlines(), "production", "new", lineterm="", n=1
    )
    return "\n".join(list(lines)[2:]) or "(no line changed)"


def _cost_line(s: dict) -> str:
    """Actual cost beside the estimate and how far the estimate was off (estimate vs actual)."""
    line = f"${s['total_cost']:.5f} (estimate ${s['estimated_cost']:.5f}"
    off = s.get("estimate_error")
    return line + (f"; actual {off:+.1%} from it)" if off is not None else ")")


def _versions(versions: list[str | None], what: str = "logs") -> str:
    """The logs' versions in words: "logs of version 2", or with counts when several:
    "logs of version 2 (17) and version 3 (1)"."""
    counts = Counter("no version" if v is None else f"version {v}" for v in versions)
    if len(counts) == 1:
        return f"{what} of {next(iter(counts))}"
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    named = [f"{name} ({n})" for name, n in ordered]
    return f"{what} of " + ", ".join(named[:-1]) + " and " + named[-1]


def unresolved_lines(run: Any) -> list[str]:
    """In words, per variable, the logs (a dataset's items, in a run over one) whose rows were
    not sent for lacking it and their versions: "18 of 50 logs lack agent_name: logs of
    version 2" (a log counts once, whatever its repeats)."""
    total = len({r.item_id or r.context_id for r in run.rows})
    what = "items" if any(r.item_id for r in run.rows) else "logs"  # a run over a dataset
    lacking: dict[str, dict[str, str | None]] = {}
    for r in run.rows:
        if r.error_kind == "unresolved":
            for name in r.unresolved_variables:
                lacking.setdefault(name, {})[r.item_id or r.context_id] = r.version
    return [
        f"{len(logs)} of {total} {what} lack {name}: {_versions(list(logs.values()), what)}"
        for name, logs in sorted(lacking.items(), key=lambda item: (-len(item[1]), item[0]))
    ]


def run_html(run: Any, running: bool = False) -> str:
    """A run record: its summary, the scorers' numbers, then the changed rows first."""
    s = run.summary()
    state = "running" if running else (s["stopped_reason"] or "done")
    facts = [
        ("rows", s["calls"]),
        ("succeeded", s["succeeded"]),
        ("failed", s["failed"]),
        ("not run", s["not_run"]),
        ("not sent (unresolved)", s["unresolved"]),
        ("changed", f"{s['changed']} ({_num(s['share_changed'])})"),
        ("cost", _cost_line(s)),
        (
            "latency p50 / p95 (ms)",
            f"{_num(s['latency_p50_ms'], 0)} / {_num(s['latency_p95_ms'], 0)}",
        ),
        ("cache hits", s["cache_hits"]),
        ("state", state),
    ]
    if s.get("models"):
        facts.append(("different models", s["models"]))
    if s.get("dataset"):
        facts.insert(0, ("dataset", s["dataset"]))
    if s.get("other_prompts"):
        facts.append(("other prompts", s["other_prompts"]))
    if run.name:
        facts.insert(0, ("name", run.name))
    parts = [
        f"<div class='pt-replay-run'><p><b>Replay of {_e(run.draft.get('prompt_id'))}</b>"
        f" with behaviour {_e(run.behaviour)} in {_e(run.env_name or run.env_id)}</p>",
        "<table>"
        + "".join(
            f"<tr><th style='text-align:left'>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts
        )
        + "</table>",
    ]
    lines = unresolved_lines(run)
    if lines:
        parts.append(
            "<p>Not sent: "
            + "; ".join(_e(line) for line in lines)
            + " (give defaults={...} to fill them, or unresolved='send').</p>"
        )
    scores = s.get("scores") or {}
    if scores:
        head = "<tr><th>scorer</th><th>mean</th><th>pass rate</th><th>95% interval</th><th>n</th><th>unscored</th><th>rows for a 5-point difference</th></tr>"
        body = "".join(
            f"<tr><td>{_e(name)}</td><td>{_num(v['mean'])}</td><td>{_num(v['pass_rate'])}</td>"
            f"<td>{_interval(v['ci95'])}</td><td>{v['n']}</td><td>{v['unscored']}</td>"
            f"<td>{_e(v['rows_for_5pt'])}</td></tr>"
            for name, v in scores.items()
        )
        parts.append(f"<p><b>Scores</b></p><table>{head}{body}</table>")
    # a scorer named like the run's own column (``similarity``) is that column, shown once
    names = [m["name"] for m in run.scorers if m["name"] != "similarity"]
    ordered = sorted(run.rows, key=lambda r: (r.changed is not True, r.error is None, r.index))
    rows = []
    for r in ordered[:MAX_ROWS_SHOWN]:
        scored = "".join(f"<td>{_num((r.scores or {}).get(n))}</td>" for n in names)
        detail = _diff(r.production or "", r.new) if r.ok else (r.error or "")
        rows.append(
            f"<tr><td>{_e(r.context_id)}</td><td>{_e(r.repeat + 1)}</td><td>{_e(r.changed)}</td>"
            f"<td>{_num(r.similarity)}</td>{scored}<td><pre style='white-space:pre-wrap;margin:0'>"
            f"{_e(detail[:2000])}</pre></td></tr>"
        )
    score_heads = "".join(f"<th>{_e(n)}</th>" for n in names)
    parts.append(
        f"<p><b>Rows</b> (changed first; {min(len(ordered), MAX_ROWS_SHOWN)} of {len(ordered)})</p>"
        f"<table><tr><th>context</th><th>repeat</th><th>changed</th><th>similarity</th>"
        f"{score_heads}<th>diff / error</th></tr>{''.join(rows)}</table></div>"
    )
    return "".join(parts)


def run_plot(run: Any):  # -> matplotlib.figure.Figure
    """Latency, cost and score distributions of a run record."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        from ..errors import ValidationError

        raise ValidationError(
            "plot: needs matplotlib; install it with pip install 'prompt-tester-nb[plot]'",
            field="plot",
        ) from None
    ok = [r for r in run.rows if r.ok]
    names = [m["name"] for m in run.scorers]
    panels = 2 + (1 if names else 0)
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.2))
    latencies = [r.latency_ms for r in ok if not r.cached and r.latency_ms is not None]
    axes[0].hist(latencies or [0], bins=20, color="#4c78a8")
    axes[0].set(title="latency (ms)", xlabel="ms", ylabel="rows")
    costs = [(r.price or 0.0) + r.judge_cost for r in ok]
    axes[1].hist(costs or [0], bins=20, color="#f58518")
    axes[1].set(title="cost per row (USD)", xlabel="USD")
    if names:
        data = [[(r.scores or {}).get(n) for r in ok] for n in names]
        data = [[v for v in column if v is not None] or [float("nan")] for column in data]
        axes[2].boxplot(data, tick_labels=names)
        axes[2].set(title="scores", ylim=(-0.05, 1.05))
        axes[2].tick_params(axis="x", rotation=30)
    fig.tight_layout()
    plt.close(fig)  # shown once, by the notebook's display of the returned figure
    return fig

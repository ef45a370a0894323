"""The replay's summaries in words: a run's counts line, the per-scorer table (means, pass
rates and their 95 % intervals) and the cost estimate.

Kept apart from the replay tool's widget: they are HTML strings computed from a run's
summary, with no widget state, so the tool's module holds only its controls and flow.
"""

from __future__ import annotations

from typing import Any

from ._common import esc


def stopped_label(s: dict[str, Any]) -> str:
    """How the run ended, in words: done, cancelled, or stopped at the cost cap."""
    return {"max_cost": "stopped at the cost cap", "cancelled": "cancelled"}.get(
        s.get("stopped_reason") or "", "done"
    )


def run_summary_html(s: dict[str, Any]) -> str:
    """A finished run's line (``run.summary()``): answered, failed, changed, cost, latency,
    errors by kind, and a warning when the rows were answered by different models."""
    stopped = stopped_label(s)
    errors = ", ".join(f"{k}: {v}" for k, v in (s.get("errors_by_kind") or {}).items()) or "none"
    p50, p95 = s.get("latency_p50_ms"), s.get("latency_p95_ms")
    repeats = f" · {s['repeats']} repeats" if (s.get("repeats") or 1) > 1 else ""
    judged = f" · {s['judge_calls']} judge call(s)" if s.get("judge_calls") else ""
    return (
        f"<b>{esc(stopped)}</b> · {s['succeeded']} answered, {s['failed']} failed,"
        f" {s.get('not_run', 0)} not run · <b>{s['changed']}</b> changed"
        f" ({(s.get('share_changed') or 0) * 100:.0f}%) · cost ${s['total_cost']:.5f}"
        f" · latency p50 {esc(p50)} ms, p95 {esc(p95)} ms · errors {esc(errors)}"
        f"{esc(repeats)}{esc(judged)}"
    ) + (
        f'<div class="pt-warn pt-models-differ">⚠ Different models: {esc(s["models"])}</div>'
        if s.get("models")
        else ""
    )


def estimate_html(estimate: Any, planning: bool = False) -> str:
    """The number of calls and the estimated cost; while a run has not planned a log yet
    (``planning``), that it is estimating rather than "0 calls · $0"."""
    if not estimate.rows and planning:
        return "<span class='pt-muted'>estimating as logs are read…</span>"
    return (
        f"<span class='pt-muted'>{estimate.calls} model call(s) for {estimate.rows} log(s)"
        f" ({estimate.cached} from the cache) · estimated cost ${estimate.estimated_cost:.5f}</span>"
    )


def scores_summary_html(metas: list[dict[str, Any]], scores: dict[str, dict[str, Any]]) -> str:
    """The per-scorer summary: mean, pass rate and the 95 % intervals, n, the spread."""
    if not metas:
        return ""

    def ci(value: Any) -> str:
        return (
            "" if not value else f" <span class='pt-muted'>[{value[0]:.2f}, {value[1]:.2f}]</span>"
        )

    def num(value: Any, digits: int = 2) -> str:
        return "—" if value is None else f"{value:.{digits}f}"

    rows = []
    for meta in metas:
        d = scores.get(meta["name"]) or {}
        rate = d.get("pass_rate")
        rows.append(
            "<tr>"
            f"<td><code>{esc(meta['name'])}</code></td><td>{esc(meta.get('kind'))}</td>"
            f"<td>{d.get('n', 0)}</td><td>{d.get('unscored', 0)}</td>"
            f"<td>{num(d.get('mean'))}{ci(d.get('mean_ci95'))}</td>"
            f"<td>{'—' if rate is None else f'{rate * 100:.0f}%'}{ci(d.get('ci95'))}"
            f" <span class='pt-muted'>(≥ {float(meta.get('threshold', 1)):.2f})</span></td>"
            f"<td>{num(d.get('repeat_sd'), 3)}</td>"
            f"<td>{esc(_rows_for_5pt(rate, d.get('more_rows_for_5pt')))}</td>"
            "</tr>"
        )
    return (
        "<table class='pt-table pt-score-summary'><thead><tr><th>scorer</th><th>kind</th>"
        "<th>n</th><th>unscored</th><th>mean [95% bootstrap]</th>"
        "<th>pass rate [95% Wilson]</th><th>SD over repeats</th>"
        "<th>more rows for ±5 pts</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _rows_for_5pt(rate: float | None, more: Any) -> str:
    """More rows for ±5 points, only where it means something: at a 0% or 100% pass rate
    the interval is one-sided and the rule's normal approximation says nothing."""
    if rate is None or rate <= 0 or rate >= 1 or more is None:
        return "—"
    return str(more)

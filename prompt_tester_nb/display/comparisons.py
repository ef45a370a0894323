"""How a ``Comparison`` (``judging.compare``) shows itself in a notebook: its HTML.

Every answer and reason is escaped; the functions read the comparison's attributes and never
import it (see the package's docstring).
"""

from __future__ import annotations

import html
from typing import Any


def comparison_html(comparison: Any) -> str:
    """The counts and win rate with its interval, then up to 50 pairs, losses first."""
    s = comparison.summary()
    ci = s["ci95"]
    rate = "n/a" if s["win_rate"] is None else f"{s['win_rate']:.2f}"
    interval = "" if ci is None else f" (95% {ci[0]:.2f} to {ci[1]:.2f})"
    verdict = str(s.get("verdict") or "")
    head = (
        f"<p><b>{html.escape(verdict[:1].upper() + verdict[1:])}</b></p>"
        f"<p><b>Candidate vs {html.escape(comparison.baseline)}</b> (judge"
        f" {html.escape(comparison.judge.name)}, both orders): {s['wins']} wins, {s['losses']}"
        f" losses, {s['ties']} ties, {s['errors']} errors; win rate {rate}{interval}</p>"
    )
    if getattr(comparison, "other_version", 0):
        head += f"<p>{html.escape(comparison.version_note())}</p>"
    if getattr(comparison, "models", None):
        head += f"<p>⚠ Different models: {html.escape(comparison.models)}</p>"
    other = comparison.baseline_name
    rows = []
    for p in sorted(
        comparison.pairs, key=lambda p: {"loss": 0, None: 1, "tie": 2, "win": 3}[p.verdict]
    )[:50]:
        # the judge's "A"/"B" named as what it saw in that order (never a bare letter)
        first, second = comparison.reasons(p)
        cells = (
            p.context_id,
            p.verdict or "error",
            p.candidate[:300],
            p.baseline[:300],
            first,
            second,
        )
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    table = (
        "<table><thead><tr><th>context</th><th>verdict</th><th>candidate's answer</th>"
        f"<th>{html.escape(other)}'s answer</th><th>judge's reason (candidate shown first)</th>"
        f"<th>judge's reason ({html.escape(other)} shown first)</th>"
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )
    return head + table

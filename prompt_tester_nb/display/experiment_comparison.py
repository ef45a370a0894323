"""How an ``ExperimentComparison`` (``experiments.compare``) shows itself in a notebook.

The summary's figures, what else differs between the runs, then the regressed items as a
table (both answers and each scorer's values). Every answer and name is escaped; the function
reads the comparison's attributes and never imports it (see the package's docstring).
"""

from __future__ import annotations

import html
from typing import Any

MAX_ROWS_SHOWN = 50
ANSWER_CHARS = 300


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _num(value: Any, digits: int = 3) -> str:
    if value is None or value != value:  # None or NaN
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _rate(count: int, rate: float | None) -> str:
    return f"{count}" if rate is None else f"{count} ({rate:.0%})"


def _names(section: dict[str, Any], limit: int = 20) -> str:
    items = section["items"]
    shown = ", ".join(items[:limit])
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return f"{section['count']}" + (f": {shown}{more}" if items else "")


def _label(info: Any, side: str) -> str:
    """An experiment's name and id from its header, else which side the run is."""
    if info is not None:
        return f"{info.name or info.experiment_id} ({info.experiment_id})"
    return f"the {side} run"


def experiment_comparison_html(comparison: Any) -> str:
    """The figures, the differences, then up to 50 regressed items."""
    s = comparison.summary()
    m = s["mcnemar"]
    facts = [
        ("items compared", s["items"]),
        ("passed in base", _rate(s["base_passed"], s["base_pass_rate"])),
        ("passed in other", _rate(s["other_passed"], s["other_pass_rate"])),
        ("regressions (passed in base, fail in other)", s["regressions"]),
        ("improvements (failed in base, pass in other)", s["improvements"]),
        ("McNemar's exact test, two-sided", f"b={m['b']}, c={m['c']}, p={m['p_value']:.4g}"),
        ("only in base", _names(s["only_in_base"])),
        ("only in other", _names(s["only_in_other"])),
    ]
    parts = [
        "<div class='pt-experiment-comparison'>"
        f"<p>{_e(comparison.other.draft.get('prompt_id') or 'A prompt')}:"
        f" <b>{_e(_label(comparison.other_info, 'other'))}</b> against base"
        f" <b>{_e(_label(comparison.base_info, 'base'))}</b></p>",
        "<table>"
        + "".join(
            f"<tr><th style='text-align:left'>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts
        )
        + "</table>",
    ]
    if s["scorers"]:
        head = (
            "<tr><th>scorer</th><th>base mean</th><th>other mean</th>"
            "<th>mean difference (other - base)</th><th>95% interval</th><th>items</th></tr>"
        )
        body = "".join(
            f"<tr><td>{_e(name)}</td><td>{_num(v['base_mean'])}</td><td>{_num(v['other_mean'])}"
            f"</td><td>{_num(v['mean_difference'])}</td><td>"
            + ("n/a" if not v["ci95"] else f"{v['ci95'][0]:.3f} to {v['ci95'][1]:.3f}")
            + f"</td><td>{v['n']}</td></tr>"
            for name, v in s["scorers"].items()
        )
        parts.append(f"<p><b>Scores</b> (paired, per item)</p><table>{head}{body}</table>")
    parts.append(
        "<p><b>What else differs</b></p><ul>"
        + "".join(f"<li>{_e(line)}</li>" for line in s["differences"])
        + "</ul>"
    )
    regressions = comparison.regressions
    names = list(comparison.scorers)
    if len(regressions):
        shown = regressions.head(MAX_ROWS_SHOWN)
        heads = "".join(f"<th>{_e(n)} (base → other)</th>" for n in names)
        rows = []
        for _, r in shown.iterrows():
            scored = "".join(
                f"<td>{_num(r[f'{n}_base'], 2)} → {_num(r[f'{n}_other'], 2)}</td>" for n in names
            )
            rows.append(
                f"<tr><td>{_e(r['item_id'])}</td>"
                f"<td>{_e(_answer(r['base_answer'], r['base_failed_calls']))}</td><td>{_e(_answer(r['other_answer'], r['other_failed_calls']))}</td>"
                f"{scored}</tr>"
            )
        parts.append(
            f"<p><b>Regressions</b> ({len(shown)} of {len(regressions)})</p>"
            f"<table><tr><th>item</th><th>base answer</th><th>other answer</th>{heads}</tr>"
            + "".join(rows)
            + "</table>"
        )
    else:
        parts.append("<p><b>Regressions</b>: none</p>")
    parts.append("</div>")
    return "".join(parts)


def _answer(text: str | None, failed: int) -> str:
    if text is None:
        return f"(no answer: {failed} failed call(s))"
    return text[:ANSWER_CHARS]

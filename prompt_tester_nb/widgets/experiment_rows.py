"""What the Experiments tab shows, as cells and HTML: the experiments grid's columns and a
header's cells, the comparison's summary in words, its per-item grid and an item's detail.

Kept apart from the tab's widget (``experiments_view``): plain functions of an experiment's
header (``models.ExperimentInfo``) and of an ``experiments.compare.ExperimentComparison``,
read and tested without a stack. Numbers carry their unit in the header, as the other grids
do: scores 0-1 with two decimals, rates in percent, cost in USD, latency in milliseconds.
"""

from __future__ import annotations

import math
from datetime import UTC
from typing import Any

from ._common import esc
from .grid import Column, cut, num
from .labels import id_html, row_label

STAR = "★"
# ipywidgets' HTML sets the line height of a one-line label (28 px): prose gets its own
PROSE = "<div style='line-height:1.5'>{}</div>"
INCOMPLETE = "⚠ incomplete"
INCOMPLETE_WHY = "cancelled, failed or stopped at its cost cap: some items have no answer"
# what a result cell says for an item, and the order of the per-item grid after the
# comparison's own (regressions first)
RESULT = {
    (True, False): "✗ regression",
    (False, True): "✓ improvement",
    (True, True): "= both pass",
    (False, False): "= both fail",
}
ITEMS_ORDER = "regressions first"
SIGNIFICANCE = 0.05  # McNemar's p under this: a difference this sample is unlikely to fake


# --- the experiments grid -------------------------------------------------------------------
def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def when(info: Any) -> str:
    """When it was stored, UTC to the minute ("2026-12-05 21:15")."""
    at = info.created_at
    if at is None:
        return ""
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return f"{at:%Y-%m-%d %H:%M}"


def dataset_label(info: Any) -> str:
    """``refunds@2``, or "log query" for a run that was not over a dataset."""
    if not info.dataset:
        return "log query"
    return (
        info.dataset if info.dataset_version is None else f"{info.dataset}@{info.dataset_version}"
    )


def experiment_name(info: Any) -> str:
    """Its name, or (unnamed) its id's time and suffix."""
    return info.name or f"(unnamed) {info.experiment_id}"


def experiment_label(info: Any) -> str:
    """A choice in the Base and Other pickers: "★ shorter greeting · refunds@2 · 2026-12-05
    21:15 · alice" (the star marks the dataset's baseline; the grid names who in full)."""
    parts = [
        f"{STAR} {experiment_name(info)}" if info.blessed else experiment_name(info),
        dataset_label(info),
        when(info),
        (info.created_by or "").split("@")[0],
    ]
    return " · ".join(p for p in parts if p)


def score_cell(aggregate: Any) -> str:
    """A scorer's mean with its 95 % interval: "0.82 [0.75, 0.88]" ("" when not scored)."""
    if not isinstance(aggregate, dict) or _missing(aggregate.get("mean")):
        return ""
    low, high = aggregate.get("low"), aggregate.get("high")
    interval = "" if _missing(low) or _missing(high) else f" [{low:.2f}, {high:.2f}]"
    return f"{aggregate['mean']:.2f}{interval}"


def win_rate_cell(rate: Any) -> str:
    """The pairwise win rate with its 95 % interval: "62% [48%, 75%]" ("" when not judged)."""
    if not isinstance(rate, dict) or _missing(rate.get("rate")):
        return ""
    low, high = rate.get("low"), rate.get("high")
    interval = ""
    if low is not None and high is not None and not (_missing(low) or _missing(high)):
        interval = f" [{low * 100:.0f}%, {high * 100:.0f}%]"
    return f"{rate['rate'] * 100:.0f}%{interval}"


def latency_cell(info: Any) -> str:
    """ "812 / 1,503": the median and the 95th percentile, in milliseconds."""
    p50, p95 = info.latency_p50_ms, info.latency_p95_ms
    if _missing(p50) and _missing(p95):
        return ""
    return " / ".join("—" if _missing(v) else f"{v:,.0f}" for v in (p50, p95))


def status_cell(info: Any) -> str:
    return INCOMPLETE if info.status == "incomplete" else "complete"


def scorer_names(infos: list[Any]) -> list[str]:
    """Every scorer of the experiments listed, in the order first met."""
    names: list[str] = []
    for info in infos:
        for name in info.scorers:
            if name not in names:
                names.append(name)
    return names


BASE_TITLES = {
    "blessed",
    "name",
    "dataset",
    "stored (UTC)",
    "win rate [95%]",
    "cost (USD)",
    "latency p50 / p95 (ms)",
    "rows",
    "status",
    "behaviour",
    "prompt",
    "stored by",
}


def score_title(name: str) -> str:
    """A scorer's column: its name and what the cell holds ("judge: mean [95%]")."""
    title = f"{name}: mean [95%]"
    return f"{name} (scorer): mean [95%]" if title in BASE_TITLES else title


def experiment_columns(scorers: list[str]) -> list[Column]:
    """What tells experiments apart first (name, dataset, when, the scores, win rate, cost,
    latency), then the rest; a grid wider than the tab scrolls sideways."""
    return [
        Column("blessed", width="70px"),
        Column("name", width="160px"),
        Column("dataset", width="120px"),
        Column("stored (UTC)", width="118px", nowrap=True),
        *(Column(score_title(s), width="122px", numeric=True, nowrap=True) for s in scorers),
        Column("win rate [95%]", width="112px", numeric=True, nowrap=True),
        Column("cost (USD)", width="72px", numeric=True),
        Column("latency p50 / p95 (ms)", width="96px", numeric=True),
        Column("rows", width="44px", numeric=True),
        Column("status", width="96px"),
        Column("behaviour", width="90px"),
        Column("prompt", width="110px"),
        Column("stored by", width="160px", nowrap=True),
    ]


def experiment_cells(info: Any, scorers: list[str]) -> list[str]:
    """An experiment's cells, in ``experiment_columns``' order."""
    aggregates = info.aggregates or {}
    return [
        STAR if info.blessed else "",
        cut(experiment_name(info), 80),
        dataset_label(info),
        when(info),
        *(score_cell(aggregates.get(s)) for s in scorers),
        win_rate_cell(aggregates.get("win_rate")),
        num(info.cost_usd, 5),
        latency_cell(info),
        str(info.rows),
        status_cell(info),
        info.behaviour,
        info.prompt_id,
        info.created_by or "",
    ]


def experiment_text(info: Any) -> str:
    """What the grid's search looks in: its name, note, id, who, dataset, prompt, behaviour."""
    return " ".join(
        str(x or "")
        for x in (
            info.name,
            info.note,
            info.experiment_id,
            info.created_by,
            dataset_label(info),
            info.prompt_id,
            info.prompt_version,
            info.behaviour,
            status_cell(info),
            "blessed baseline" if info.blessed else "",
        )
    )


def experiment_detail_html(info: Any) -> str:
    """The chosen experiment's header in words: name, note, id, who and when, what was run,
    its status, and the CI gate's verdict when ``prompt-tester eval`` stored it."""
    facts: list[tuple[str, str]] = [
        ("experiment", id_html(info.experiment_id)),
        ("stored", f"{esc(when(info))} UTC by {esc(info.created_by or 'unknown')}"),
        (
            "ran",
            f"prompt <b>{esc(info.prompt_id)}</b>"
            + (f" (opened from version {esc(info.prompt_version)})" if info.prompt_version else "")
            + f" with behaviour <b>{esc(info.behaviour)}</b> over <b>{esc(dataset_label(info))}</b>"
            f": {info.rows} row(s)",
        ),
        ("draft SHA-256", f"<code>{esc(info.draft_sha256[:12])}</code>"),
        (
            "status",
            f"<span class='pt-warn'>{esc(INCOMPLETE)}: {esc(INCOMPLETE_WHY)}</span>"
            if info.status == "incomplete"
            else "complete",
        ),
    ]
    if info.blessed:
        facts.append(("baseline", f"{STAR} the blessed baseline of its dataset and prompt"))
    if info.gate:
        passed = info.gate.get("passed")
        facts.append(("CI gate", "passed" if passed else "<span class='pt-error'>failed</span>"))
    if info.ci:
        facts.append(
            ("CI run", esc(", ".join(f"{k} {v}" for k, v in info.ci.items() if v is not None)))
        )
    note = f"<div class='pt-muted'>{esc(info.note)}</div>" if info.note else ""
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in facts)
    return PROSE.format(
        f"<div><b>{esc(experiment_name(info))}</b></div>{note}"
        f"<table class='pt-table pt-experiment-facts'>{rows}</table>"
    )


# --- the comparison -------------------------------------------------------------------------
def _signed(value: Any, digits: int = 2) -> str:
    return "n/a" if _missing(value) else f"{value:+.{digits}f}"


def p_value_words(p: Any, flipped: int) -> str:
    """McNemar's p in words, for a reader who does not know the test."""
    if flipped == 0:
        return "no item changed between pass and fail, so there is nothing to test"
    if _missing(p):
        return "no p-value"
    if p < SIGNIFICANCE:
        return (
            f"p = {p:.3g}: a real difference; chance alone would rarely flip this many items"
            " one way"
        )
    return f"p = {p:.3g}: no clear difference at this size; it could be chance"


def difference_words(ci: Any) -> str:
    """A mean difference's interval in words (other minus base)."""
    if not ci:
        return "too few items for an interval"
    low, high = ci
    if low > 0:
        return "better in other (the interval is above 0)"
    if high < 0:
        return "worse in other (the interval is below 0)"
    return "no clear difference (the interval includes 0)"


def comparison_summary_html(cmp: Any, base: Any, other: Any) -> str:
    """The comparison in words: who against whom, items matched, passes, regressions and
    improvements with McNemar's exact test, each scorer's mean difference with its 95 %
    interval, and every other difference between the runs."""
    s = cmp.summary()
    n = s["items"]
    m = s["mcnemar"]

    def rate(count: int, value: Any) -> str:
        return f"{count} of {n}" + ("" if _missing(value) else f" ({value * 100:.0f}%)")

    only = []
    if s["only_in_base"]["count"]:
        only.append(f"{s['only_in_base']['count']} only in base")
    if s["only_in_other"]["count"]:
        only.append(f"{s['only_in_other']['count']} only in other")
    unmatched = f" ({', '.join(only)}: left out)" if only else ""
    lines = [
        f"<b>{n}</b> item(s) matched{esc(unmatched)}. Passed: {rate(s['base_passed'], s['base_pass_rate'])}"
        f" in base, {rate(s['other_passed'], s['other_pass_rate'])} in other.",
        f"<b class='pt-error'>{m['b']}</b> regression(s) (passed in base, fail in other),"
        f" <b class='pt-ok'>{m['c']}</b> improvement(s). McNemar's exact test on the"
        f" {m['b'] + m['c']} item(s) that flipped: {esc(p_value_words(m['p_value'], m['b'] + m['c']))}.",
    ]
    head = (
        f"<div class='pt-experiment-vs'>Other <b>{esc(experiment_name(other))}</b>"
        f" <span class='pt-muted'>({esc(dataset_label(other))}, {esc(when(other))})</span>"
        f" against base <b>{esc(experiment_name(base))}</b>"
        f" <span class='pt-muted'>({esc(dataset_label(base))}, {esc(when(base))})</span>"
        + (f" {STAR} the blessed baseline" if base.blessed else "")
        + "</div>"
    )
    scorers = s.get("scorers") or {}
    table = ""
    if scorers:
        rows = "".join(
            f"<tr><td><code>{esc(name)}</code></td><td>{num(v['base_mean'], 2) or 'n/a'}</td>"
            f"<td>{num(v['other_mean'], 2) or 'n/a'}</td>"
            f"<td><b>{_signed(v['mean_difference'])}</b>"
            + (
                f" <span class='pt-muted'>[{_signed(v['ci95'][0])}, {_signed(v['ci95'][1])}]</span>"
                if v.get("ci95")
                else ""
            )
            + f"</td><td>{esc(difference_words(v.get('ci95')))}</td><td>{v['n']}</td></tr>"
            for name, v in scorers.items()
        )
        table = (
            "<table class='pt-table pt-experiment-scores'><thead><tr><th>scorer</th>"
            "<th>base mean</th><th>other mean</th><th>difference, other - base [95% bootstrap]</th>"
            "<th>in words</th><th>items</th></tr></thead><tbody>" + rows + "</tbody></table>"
        )
    differences = "".join(f"<li>{esc(d)}</li>" for d in s.get("differences") or [])
    return PROSE.format(
        head
        + "".join(f"<div>{line}</div>" for line in lines)
        + table
        + "<div><b>What else differs between the runs</b></div><ul class='pt-experiment-diffs'>"
        + differences
        + "</ul>"
    )


def item_columns(scorers: list[str]) -> list[Column]:
    """The per-item grid: the result, the item, each scorer's base → other, both answers,
    then latency and cost (base → other)."""
    return [
        Column("result", width="96px"),
        Column("item", width="160px"),
        *(Column(f"{s}: base → other (Δ)", width="112px", numeric=True) for s in scorers),
        Column("base's answer"),
        Column("other's answer"),
        Column("latency (s): base → other", width="92px", numeric=True),
        Column("cost (USD): base → other", width="112px", numeric=True),
    ]


def _pair(before: Any, after: Any, digits: int) -> str:
    a, b = num(before, digits), num(after, digits)
    return "" if not a and not b else f"{a or '—'} → {b or '—'}"


def _answer(text: Any, failed: Any) -> str:
    if text is None:
        return f"(no answer: {int(failed or 0)} failed call(s))"
    return cut(text, 90)  # a few lines in the narrow answer columns; the detail has it whole


def item_label(item_id: str, row: Any) -> str:
    """The item as the other grids label a row: its log's time and what it asked."""
    if row is None:
        return item_id
    return row_label(row.context_id, row.context)


def item_cells(record: dict[str, Any], scorers: list[str], row: Any = None) -> list[str]:
    """One item's cells (``record``: a row of ``ExperimentComparison.to_dataframe()`` as a
    dict; ``row`` a run row of the item, for its label)."""
    result = RESULT[(bool(record["base_passed"]), bool(record["other_passed"]))]

    def score(name: str) -> str:
        before, after = record.get(f"{name}_base"), record.get(f"{name}_other")
        delta = record.get(f"{name}_delta")
        pair = _pair(before, after, 2)
        return pair + ("" if _missing(delta) else f" ({delta:+.2f})")

    def seconds(value: Any) -> Any:
        return None if _missing(value) else value / 1000

    return [
        result,
        item_label(str(record["item_id"]), row),
        *(score(s) for s in scorers),
        _answer(record["base_answer"], record["base_failed_calls"]),
        _answer(record["other_answer"], record["other_failed_calls"]),
        _pair(seconds(record["base_latency_ms"]), seconds(record["other_latency_ms"]), 2),
        _pair(record["base_cost_usd"], record["other_cost_usd"], 5),
    ]


def item_text(record: dict[str, Any], row: Any = None) -> str:
    """What the per-item grid's search looks in: the item, its context, both whole answers."""
    return " ".join(
        str(x or "")
        for x in (
            item_label(str(record["item_id"]), row),
            record["item_id"],
            getattr(row, "context", None),
            record["base_answer"],
            record["other_answer"],
        )
    )


def _answer_html(title: str, text: Any, failed: Any) -> str:
    body = (
        f"<div class='pt-error'>{esc(_answer(None, failed))}</div>"
        if text is None
        else (
            "<div class='pt-pre' style='font-family:inherit;white-space:pre-wrap;"
            f"overflow-wrap:break-word;word-break:normal'>{esc(text)}</div>"
        )
    )
    return f"<div style='flex:1;min-width:0'><b>{esc(title)}</b>{body}</div>"


def item_detail_html(record: dict[str, Any], scorers: list[str], row: Any = None) -> str:
    """A chosen item: what it is, its result, each scorer in both runs, both full answers."""
    result = RESULT[(bool(record["base_passed"]), bool(record["other_passed"]))]
    source = (
        f" · log {id_html(row.context_id)}"
        if row is not None and row.context_id != record["item_id"]
        else ""
    )
    scores = "".join(
        f"<tr><td><code>{esc(s)}</code></td><td>{num(record.get(f'{s}_base'), 2) or '—'}</td>"
        f"<td>{num(record.get(f'{s}_other'), 2) or '—'}</td>"
        f"<td>{'' if _missing(record.get(f'{s}_delta')) else _signed(record[f'{s}_delta'])}</td></tr>"
        for s in scorers
    )
    table = (
        "<table class='pt-table'><thead><tr><th>scorer</th><th>base</th><th>other</th>"
        f"<th>Δ</th></tr></thead><tbody>{scores}</tbody></table>"
        if scorers
        else ""
    )
    return PROSE.format(
        f"<div><b>{esc(result)}</b> · {esc(item_label(str(record['item_id']), row))}"
        f" · item {id_html(str(record['item_id']))}{source}</div>"
        + table
        + "<div style='display:flex;gap:12px'>"
        + _answer_html("Base's answer", record["base_answer"], record["base_failed_calls"])
        + _answer_html("Other's answer", record["other_answer"], record["other_failed_calls"])
        + "</div>"
    )

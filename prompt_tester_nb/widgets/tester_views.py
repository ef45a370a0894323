"""The read-only views of a logged call, shared by the Tester and the log browser's detail
pane: the logged request as a chat transcript, the metrics with their units (production's
beside the test's with the difference, or the log's alone), the context as key/value rows,
the whole log as raw JSON one click away, a failed run's error with its attempts, and
the answer boxes' CSS.

Every number carries its unit ("2.97 s", "232 tokens", "$0.00466"); every text is escaped
(a logged message may hold ``<script>``). The views are HTML strings: they hold no widget
state and no secret.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..behaviour_spec import logged_model_label
from ..errors import PromptTesterError
from ..models import LogEntry, TestResult
from ..models_used import models_differ
from ._common import esc
from .diff_view import DIFF_CSS

TESTER_CSS = (
    """
<style>
.pt-answer { white-space: pre-wrap; word-break: normal; overflow-wrap: anywhere; margin: 0;
  max-height: 24em; overflow: auto; background: var(--jp-layout-color2, #f5f5f5);
  padding: 6px 8px; border-radius: 4px; line-height: 1.45;
  font-family: var(--jp-content-font-family, sans-serif); font-size: 13px; }
.pt-answers { display: flex; gap: 12px; align-items: flex-start; }
.pt-answers > div { flex: 1 1 0; min-width: 0; }
.pt-answers b { display: block; margin: 4px 0; }
.pt-metrics { border-collapse: collapse; margin: 4px 0 8px; font-size: 13px; }
.pt-metrics th, .pt-metrics td { padding: 3px 12px; text-align: left;
  border-bottom: 1px solid var(--jp-border-color2, #e0e0e0); }
.pt-metrics td.pt-num { text-align: right; font-variant-numeric: tabular-nums;
  white-space: nowrap; }
.pt-metrics th { font-weight: 600; background: var(--jp-layout-color2, #f5f5f5); }
.pt-delta-up { color: #b3261e; } .pt-delta-down { color: #1b7f3b; }
.pt-transcript { display: flex; flex-direction: column; gap: 6px; margin: 6px 0;
  max-height: 30em; overflow: auto; }
.pt-msg { border-radius: 8px; padding: 6px 10px; max-width: 90%;
  background: var(--jp-layout-color2, #f3f3f3); border: 1px solid var(--jp-border-color2, #e0e0e0); }
.pt-msg-role { font-size: 11px; font-weight: 600; text-transform: uppercase; letter-spacing: .04em;
  color: var(--jp-ui-font-color2, #666); margin-bottom: 2px; }
.pt-msg-text { white-space: pre-wrap; word-break: normal; overflow-wrap: anywhere;
  font-size: 13px; line-height: 1.45; }
.pt-msg-system { background: #fff8e1; border-color: #f3e0a0; max-width: 100%; }
.pt-msg-user { align-self: flex-end; background: #e8f0fe; border-color: #c6d8fb; }
.pt-msg-assistant { align-self: flex-start; background: #eef7ee; border-color: #cfe6cf; }
.pt-request summary { cursor: pointer; font-weight: 600; margin: 6px 0; }
.pt-context-key { font-family: var(--jp-code-font-family, monospace); font-size: 12px;
  padding-top: 6px; overflow: hidden; text-overflow: ellipsis; }
.pt-context-row textarea { font-family: var(--jp-content-font-family, sans-serif); }
.pt-context-row.pt-json-field textarea { font-family: var(--jp-code-font-family, monospace);
  font-size: 12px; }
.pt-save-ideal { width: auto !important; }
.pt-kv { border-collapse: collapse; margin: 4px 0 8px; font-size: 13px; width: 100%;
  table-layout: fixed; }
.pt-kv th, .pt-kv td { padding: 3px 8px; text-align: left; vertical-align: top;
  border-bottom: 1px solid var(--jp-border-color2, #e0e0e0); }
.pt-kv th { width: 34%; font-family: var(--jp-code-font-family, monospace); font-size: 12px;
  font-weight: 500; overflow-wrap: anywhere; color: var(--jp-ui-font-color1, #333); }
.pt-kv td { white-space: pre-wrap; overflow-wrap: anywhere; line-height: 1.4; }
.pt-kv td.pt-kv-json { font-family: var(--jp-code-font-family, monospace); font-size: 12px; }
.pt-raw summary { cursor: pointer; color: var(--jp-ui-font-color2, #666); margin: 6px 0; }
.pt-raw pre { max-height: 24em; overflow: auto; font-size: 12px; white-space: pre-wrap;
  overflow-wrap: anywhere; background: var(--jp-layout-color2, #f5f5f5); padding: 6px 8px; }
.pt-log-view { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.pt-log-view > .pt-log-main { flex: 3 1 420px; min-width: 0; }
.pt-log-view > .pt-log-side { flex: 2 1 300px; min-width: 0; }
.pt-log-view h4 { margin: 8px 0 4px; font-size: 13px; }
.pt-log-head { margin: 4px 0 6px; }
</style>
<style>"""
    + DIFF_CSS
    + "</style>"
)


# --- formatting -----------------------------------------------------------------------------------


def seconds(ms: float | None) -> str:
    """``2973`` ms as ``"2.97 s"`` (under a second: ``"0.41 s"``)."""
    return "—" if ms is None else f"{ms / 1000:.2f} s"


def tokens(count: float | None) -> str:
    return "—" if count is None else f"{int(count):,} tokens"


def dollars(price: float | None) -> str:
    return "—" if price is None else f"${price:.5f}"


def _delta(before: float | None, after: float | None, unit: str) -> str:
    """``after - before`` with its sign and unit, and the relative change; red when it grew
    (slower, longer, dearer), green when it shrank."""
    if before is None or after is None:
        return ""
    diff = after - before
    if unit == "s":
        shown = f"{diff / 1000:+.2f} s"
    elif unit == "$":
        shown = f"{'+' if diff >= 0 else '-'}${abs(diff):.5f}"
    else:
        shown = f"{int(diff):+,} tokens"
    if before:
        shown += f" ({diff / before * 100:+.0f}%)"
    css = "pt-delta-up" if diff > 0 else "pt-delta-down" if diff < 0 else ""
    return f'<span class="{css}">{esc(shown)}</span>'


@dataclass(frozen=True)
class CallMetrics:
    """One call's figures, as a log stores them or a test returns them."""

    model: str | None
    latency_ms: float | None
    prompt_tokens: float | None
    sample_tokens: float | None
    price: float | None

    @classmethod
    def of_log(cls, log: LogEntry) -> CallMetrics:
        row = log.to_row()
        return cls(
            row["model"],
            row["latency_ms"],
            row["prompt_tokens"],
            row["sample_tokens"],
            row["price"],
        )

    @classmethod
    def of_result(cls, result: TestResult) -> CallMetrics:
        return cls(
            result.model,
            result.latency_ms,
            result.prompt_tokens,
            result.sample_tokens,
            result.price,
        )


def metrics_html(
    log: LogEntry | None,
    result: TestResult | None,
    *,
    with_test: bool = True,
    test_name: str = "this test",
) -> str:
    """A table metric | production | this test | Δ. Production is the logged call; the
    test column waits for a run; Δ is test - production. ``with_test=False`` (the log
    browser, where nothing is being tested): metric | logged only, the same rows and units."""
    if not with_test:
        return _log_metrics_html(log)
    prod = CallMetrics.of_log(log) if log is not None else None
    test = CallMetrics.of_result(result) if result is not None else None
    not_run = '<span class="pt-muted">not run yet</span>'
    no_log = '<span class="pt-muted">no log opened</span>'

    def cell(metrics: CallMetrics | None, name: str, fmt: Any, missing: str) -> str:
        if metrics is None:
            return missing
        value = getattr(metrics, name)
        return esc(fmt(value)) if fmt else esc(value or "—")

    rows = [
        ("model", "model", None, None),
        ("latency", "latency_ms", seconds, "s"),
        ("prompt tokens", "prompt_tokens", tokens, "tokens"),
        ("sample tokens", "sample_tokens", tokens, "tokens"),
        ("cost", "price", dollars, "$"),
    ]
    body = []
    for label, name, fmt, unit in rows:
        delta = (
            _delta(getattr(prod, name), getattr(test, name), unit)
            if prod is not None and test is not None and unit
            else ""
        )
        num = ' class="pt-num"' if unit else ""
        body.append(
            f"<tr><td>{esc(label)}</td><td{num}>{cell(prod, name, fmt, no_log)}</td>"
            f"<td{num}>{cell(test, name, fmt, not_run)}</td><td{num}>{delta}</td></tr>"
        )
    differ = ""
    if log is not None and result is not None:
        logged = logged_model_label((log.metrics or {}).get("ai_model_details"))
        line = models_differ([(logged, result.model)], subject="this test")
        if line:
            differ = f'<div class="pt-warn pt-models-differ">⚠ Different models: {esc(line)}</div>'
    if result is not None:
        extra = f"{result.attempt} · finish: {result.finish_reason or '—'}"
        if result.cached:
            extra += " · answered from the replay cache"
        body.append(f"<tr><td>attempt</td><td></td><td>{esc(extra)}</td><td></td></tr>")
    name = esc(test_name)
    delta = "test" if test_name == "this test" else name
    return (
        f"<b>Production vs {name}</b>"
        '<table class="pt-metrics"><thead><tr><th>metric</th><th>production (logged)</th>'
        f"<th>{name}</th><th>Δ {delta} - production</th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>{differ}"
    )


def _log_metrics_html(log: LogEntry | None) -> str:
    if log is None:
        return '<div class="pt-muted">no log opened</div>'
    m = CallMetrics.of_log(log)
    rows = [
        ("model", esc(m.model or "—"), ""),
        ("latency", esc(seconds(m.latency_ms)), ' class="pt-num"'),
        ("prompt tokens", esc(tokens(m.prompt_tokens)), ' class="pt-num"'),
        ("sample tokens", esc(tokens(m.sample_tokens)), ' class="pt-num"'),
        ("cost", esc(dollars(m.price)), ' class="pt-num"'),
    ]
    body = "".join(f"<tr><td>{esc(k)}</td><td{css}>{v}</td></tr>" for k, v, css in rows)
    return (
        '<table class="pt-metrics"><thead><tr><th>metric</th><th>logged</th></tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


# --- context ----------------------------------------------------------------------------------------


def context_html(context: Any) -> str:
    """The context as key/value rows, read-only: a text value as text (no quotes, its line
    breaks kept), any other value as JSON marked so, as the Tester's context form shows it."""
    if not isinstance(context, dict):
        if context in (None, ""):
            return '<div class="pt-muted">The log holds no context.</div>'
        return f'<pre class="pt-answer">{esc(json.dumps(context, ensure_ascii=False, default=str))}</pre>'
    if not context:
        return '<div class="pt-muted">The context is empty.</div>'
    rows = []
    for key, value in context.items():
        if isinstance(value, str):
            cell, css, mark = esc(value) or '<i class="pt-muted">(empty)</i>', "", ""
        else:
            text = json.dumps(value, ensure_ascii=False, indent=1, default=str)
            cell, css, mark = (
                esc(text),
                ' class="pt-kv-json"',
                ' <span class="pt-muted">(JSON)</span>',
            )
        rows.append(f"<tr><th>{esc(key)}{mark}</th><td{css}>{cell}</td></tr>")
    return f'<table class="pt-kv"><tbody>{"".join(rows)}</tbody></table>'


def raw_json_html(value: Any, label: str = "Raw JSON") -> str:
    """``value`` as indented JSON behind a one-click disclosure."""
    text = json.dumps(value, ensure_ascii=False, indent=2, default=str)
    return (
        f'<details class="pt-raw"><summary>{esc(label)}</summary><pre>{esc(text)}</pre></details>'
    )


# --- transcript -----------------------------------------------------------------------------------


def _message_text(content: Any) -> str:
    """A message's content as text: OpenAI's list-of-parts form joined, anything else JSON."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            p.get("text", "") if isinstance(p, dict) and "text" in p else json.dumps(p, default=str)
            for p in content
        ]
        return "\n".join(parts)
    if content is None:
        return ""
    return json.dumps(content, ensure_ascii=False, indent=2, default=str)


def transcript_html(messages: Any) -> str:
    """Chat bubbles, one per message: the role above its text (tool calls shown as JSON)."""
    if not isinstance(messages, list) or not messages:
        return '<div class="pt-muted">The log holds no request messages.</div>'
    bubbles = []
    for message in messages:
        if not isinstance(message, dict):
            message = {"role": "?", "content": message}
        role = str(message.get("role") or "?")
        text = _message_text(message.get("content"))
        calls = message.get("tool_calls") or message.get("function_call")
        if calls:
            text += ("\n" if text else "") + json.dumps(calls, ensure_ascii=False, default=str)
        name = f" · {message['name']}" if message.get("name") else ""
        css = role if role in ("system", "user", "assistant") else "other"
        bubbles.append(
            f'<div class="pt-msg pt-msg-{css}"><div class="pt-msg-role">{esc(role)}{esc(name)}</div>'
            f'<div class="pt-msg-text">{esc(text)}</div></div>'
        )
    return f'<div class="pt-transcript">{"".join(bubbles)}</div>'


def request_html(log: LogEntry | None) -> str:
    """The logged request (what production sent) as a collapsible transcript."""
    if log is None:
        return ""
    messages = (log.request or {}).get("messages")
    count = len(messages) if isinstance(messages, list) else 0
    return (
        f'<details class="pt-request"><summary>Logged request · {count} message(s) sent to'
        f" the model in production</summary>{transcript_html(messages)}</details>"
    )


def answer_box(text: str | None, missing: str) -> str:
    """An answer in a box that wraps at word boundaries."""
    if text is None:
        return f'<div class="pt-muted">{esc(missing)}</div>'
    return f'<div class="pt-answer">{esc(text) or "<i>(empty)</i>"}</div>'


def scores_table_html(row: Any, metas: list[dict[str, Any]]) -> str:
    """A replay row's scores, whether each passes (at the scorer's threshold), and why (a
    judge's reason, a check's error): the Replay tab's row pane and the Tester opened from
    a row show the same table."""
    scores, reasons = row.scores or {}, row.reasons or {}
    lines = []
    for meta in metas:
        name = meta["name"]
        value = scores.get(name)
        threshold = float(meta.get("threshold", 1.0))
        if value is None:
            verdict = "<span class='pt-warn'>unscored</span>"
        elif value >= threshold - 1e-12:
            verdict = "<span class='pt-ok'>pass</span>"
        else:
            verdict = "<span class='pt-error'>fail</span>"
        shown = "—" if value is None else f"{value:.2f}"
        lines.append(
            f"<tr><td><code>{esc(name)}</code></td><td>{shown}</td>"
            f"<td>{verdict} <span class='pt-muted'>(≥ {threshold:.2f})</span></td>"
            f"<td>{esc(reasons.get(name) or '')}</td></tr>"
        )
    if not lines:
        return ""
    return (
        "<table class='pt-table'><thead><tr><th>scorer</th><th>score</th><th>pass at</th>"
        "<th>reason</th></tr></thead><tbody>" + "".join(lines) + "</tbody></table>"
    )


def error_html(exc: PromptTesterError) -> str:
    """A failed run: the error, and each attempt's when there were several."""
    attempts = getattr(exc, "attempts", None) or []
    items = "".join(
        f"<li>{esc(a.get('attempt'))} {esc(a.get('model'))}: {esc(a.get('error'))}</li>"
        for a in attempts
    )
    return f'<div class="pt-error">⚠ {esc(exc.message)}</div>' + (
        f"<ul>{items}</ul>" if items and len(attempts) > 1 else ""
    )

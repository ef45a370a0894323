"""A verdict written for CI: JSON, JUnit XML and a Markdown job summary.

Every writer reads the ``Verdict`` only (ids, numbers, policies, the judges' reasons), never
the run: so no output can hold a context value, an answer's text, a key or a token. The
Markdown lists the failed items up to a cap, so a job summary stays well under GitHub's
1 MiB limit whatever the size of the run.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ..settings import CiRun
from .verdict import Policy, Verdict

MAX_MARKDOWN_ITEMS = 100  # failed items listed in the Markdown (the rest are counted)
MAX_REASON = 300  # characters of one reason in the Markdown
# XML 1.0 forbids these characters even escaped: a judge's reason loses them in JUnit.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def to_json(verdict: Verdict, extra: dict[str, Any] | None = None) -> str:
    """The verdict, each policy with its figure and threshold, the experiment id and per item
    and repeat its id, scores and pass."""
    data = verdict.model_dump(mode="json")
    data.update(extra or {})
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


def _xml_text(value: Any) -> str:
    return _NOT_XML.sub("", str(value))


def _case_name(item: dict[str, Any]) -> str:
    return f"{item['item_id']} (repeat {item['repeat']})"


def _failure_text(item: dict[str, Any]) -> tuple[str, str]:
    """(message, body) of a failed item: what failed, then each judge's reason."""
    if item.get("error"):
        message = f"the call failed: {item['error']}"
    else:
        failed = ", ".join(item.get("failed_scorers") or []) or "a scorer"
        message = f"failed: {failed}"
    lines = [
        f"{name}: {score if score is not None else 'unscored'}"
        for name, score in sorted((item.get("scores") or {}).items())
    ]
    lines += [f"{name} reason: {why}" for name, why in sorted((item.get("reasons") or {}).items())]
    return message, "\n".join(lines)


def to_junit(verdict: Verdict, suite: str = "prompt-tester eval") -> str:
    """JUnit XML: one testcase per item and repeat (the judges' reasons in ``<failure>``),
    then one per policy in a second suite."""
    root = ET.Element("testsuites", name=suite)
    items = verdict.items
    failed = sum(1 for i in items if not i["passed"])
    cases = ET.SubElement(
        root,
        "testsuite",
        name=f"{suite}: {verdict.prompt_id or 'items'}",
        tests=str(len(items)),
        failures=str(failed),
        errors="0",
        skipped="0",
    )
    classname = f"prompt_tester.{verdict.prompt_id or 'gate'}"
    for item in items:
        case = ET.SubElement(
            cases, "testcase", classname=classname, name=_xml_text(_case_name(item))
        )
        if not item["passed"]:
            message, body = _failure_text(item)
            node = ET.SubElement(case, "failure", message=_xml_text(message), type="gate")
            node.text = _xml_text(body)
    policies = ET.SubElement(
        root,
        "testsuite",
        name=f"{suite}: policies",
        tests=str(len(verdict.policies)),
        failures=str(sum(1 for p in verdict.policies if not p.passed)),
        errors="0",
        skipped="0",
    )
    for policy in verdict.policies:
        case = ET.SubElement(
            policies, "testcase", classname=f"{classname}.policy", name=policy.name
        )
        if not policy.passed:
            node = ET.SubElement(
                case, "failure", message=_xml_text(_policy_words(policy)), type="policy"
            )
            node.text = _xml_text(policy.detail)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}"


def _policy_words(policy: Policy) -> str:
    return f"{policy.name}: {_number(policy.figure)} (threshold {_number(policy.threshold)})"


def _cell(text: Any) -> str:
    """Text safe in a Markdown table cell or list line: one line, pipes escaped, and no HTML
    (a judge's reason may hold ``<`` or ``&``: they show as written)."""
    one_line = " ".join(_NOT_XML.sub("", str(text)).split())
    for raw, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|")):
        one_line = one_line.replace(raw, escaped)
    return one_line


def _code(text: Any) -> str:
    """An id as inline code (backticks inside it cannot end the span)."""
    return "`" + " ".join(str(text).split()).replace("`", "'") + "`"


def to_markdown(verdict: Verdict, title: str = "Prompt gate") -> str:
    """Each policy and its figure, then the failed items by id (capped)."""
    state = "passed" if verdict.passed else "FAILED"
    lines = [f"## {title}: {state}", ""]
    if verdict.prompt_id:
        lines.append(
            f"Prompt `{verdict.prompt_id}`"
            + (f", experiment `{verdict.experiment_id}`" if verdict.experiment_id else "")
        )
        lines.append("")
    lines += ["| policy | figure | threshold | result | detail |", "|---|---|---|---|---|"]
    for p in verdict.policies:
        mark = "pass" if p.passed else "**FAIL**"
        lines.append(
            f"| {_cell(p.name)} | {_number(p.figure)} | {_number(p.threshold)} | {mark} |"
            f" {_cell(p.detail)} |"
        )
    failed = [i for i in verdict.items if not i["passed"]]
    lines += ["", f"{len(verdict.items) - len(failed)} of {len(verdict.items)} item runs passed."]
    if failed:
        lines += ["", "### Failed items", ""]
        for item in failed[:MAX_MARKDOWN_ITEMS]:
            message, _ = _failure_text(item)
            reasons = "; ".join(f"{k}: {v}" for k, v in sorted((item.get("reasons") or {}).items()))
            reasons = _cell(reasons[:MAX_REASON])
            lines.append(
                f"- {_code(item['item_id'])} repeat {item['repeat']}: {_cell(message)}"
                + (f" ({reasons})" if reasons else "")
            )
        if len(failed) > MAX_MARKDOWN_ITEMS:
            lines.append(f"- … and {len(failed) - MAX_MARKDOWN_ITEMS} more (see the JSON or JUnit)")
    return "\n".join(lines) + "\n"


def write(path: str | os.PathLike[str], text: str) -> Path:
    out = Path(path)
    out.write_text(text, encoding="utf-8")
    return out


def append_step_summary(text: str) -> bool:
    """Append to ``$GITHUB_STEP_SUMMARY`` when a GitHub Actions job set it."""
    target = CiRun().step_summary
    if not target:
        return False
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(text + "\n")
    return True

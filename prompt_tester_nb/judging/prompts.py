"""The judge prompts: what an LLM judge is asked, and the reply it must give.

A judge is an ordinary flow-prompt call through a named behaviour (so Azure deployments,
weights and fallback work as for any test), with one of these drafts. The reply contract
(docs/design/judging.md): ``{"score": <number 0-1>, "reason": "<text>"}`` for a rubric or an ideal
answer, ``{"winner": "A" | "B" | "tie", "reason": "<text>"}`` for a pairwise comparison,
where A is the answer shown first.

The first line of each system message names the kind of judgement (``MARKER_*``), so logs
and the demo model can tell judge calls apart. The texts judged sit between XML-like tags
(``<rubric>``, ``<context>``, ``<answer>``, ``<ideal>``, ``<answer_a>``, ``<answer_b>``),
each on its own lines; a tag's text never contains its closing tag (it is escaped).
"""

from __future__ import annotations

import json
from typing import Any

MARKER_SCORE = "prompt-tester judge v1: score"
MARKER_IDEAL = "prompt-tester judge v1: ideal"
MARKER_PAIRWISE = "prompt-tester judge v1: pairwise"
JUDGE_PROMPT_IDS = {
    MARKER_SCORE: "prompt-tester-judge-score",
    MARKER_IDEAL: "prompt-tester-judge-ideal",
    MARKER_PAIRWISE: "prompt-tester-judge-pairwise",
}
TAGS = ("rubric", "context", "answer", "ideal", "answer_a", "answer_b")

_SCORE_SYSTEM = f"""{MARKER_SCORE}
You are an impartial judge of an AI assistant's answer. Judge the answer against the rubric,
using the conversation's context. Reply with only a JSON object, no other text:
{{"score": <a number from 0 (fails the rubric) to 1 (fully meets it)>, "reason": "<one sentence>"}}"""

_IDEAL_SYSTEM = f"""{MARKER_IDEAL}
You are an impartial judge of an AI assistant's answer. List the statements the ideal answer
makes, then check each against the answer. The score is the share of the ideal answer's
statements that the answer also makes (0 to 1). Reply with only a JSON object, no other text:
{{"score": <a number from 0 to 1>, "reason": "<one sentence naming what is missing>"}}"""

_PAIRWISE_SYSTEM = f"""{MARKER_PAIRWISE}
You are an impartial judge comparing two answers of an AI assistant to the same request.
Judge them against the rubric, using the conversation's context. The order in which the
answers are shown says nothing about their quality. Reply with only a JSON object:
{{"winner": "A" or "B" or "tie", "reason": "<one sentence>"}}"""


def _escape(text: str) -> str:
    # a text judged must not close its own tag (or open another) and confuse the judge
    return text.replace("</", "<\\/")


def block(tag: str, text: Any) -> str:
    if not isinstance(text, str):
        text = json.dumps(text, ensure_ascii=False, sort_keys=True, default=str)
    return f"<{tag}>\n{_escape(text)}\n</{tag}>"


_SYSTEMS = {
    MARKER_SCORE: _SCORE_SYSTEM,
    MARKER_IDEAL: _IDEAL_SYSTEM,
    MARKER_PAIRWISE: _PAIRWISE_SYSTEM,
}


def judge_draft(marker: str) -> dict[str, Any]:
    """The judge's prompt data for one kind of judgement: the same for every verdict (the
    texts judged arrive as the context variable ``{judged}``, which flow-prompt resolves)."""
    return {
        "prompt_id": JUDGE_PROMPT_IDS[marker],
        "max_tokens": 4096,
        "min_sample_tokens": 200,
        "chats": [
            {"role": "system", "content": _SYSTEMS[marker]},
            {"role": "user", "content": "{judged}"},
        ],
    }


def score_prompt(rubric: str, context: Any, answer: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(prompt data, context) for a rubric judgement of ``answer``."""
    judged = "\n\n".join(
        (block("rubric", rubric), block("context", context), block("answer", answer))
    )
    return judge_draft(MARKER_SCORE), {"judged": judged}


def ideal_prompt(ideal: str, context: Any, answer: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(prompt data, context) for scoring ``answer`` against the log's ideal answer."""
    judged = "\n\n".join(
        (block("context", context), block("ideal", ideal), block("answer", answer))
    )
    return judge_draft(MARKER_IDEAL), {"judged": judged}


def pairwise_prompt(
    rubric: str, context: Any, first: str, second: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(prompt data, context) asking which of two answers is better; A is ``first``."""
    judged = "\n\n".join(
        (
            block("rubric", rubric),
            block("context", context),
            block("answer_a", first),
            block("answer_b", second),
        )
    )
    return judge_draft(MARKER_PAIRWISE), {"judged": judged}


def parse_block(text: str, tag: str) -> str | None:
    """The text of ``<tag>…</tag>`` in a judge prompt (the demo model reads them so)."""
    start, end = f"<{tag}>\n", f"\n</{tag}>"
    i = text.find(start)
    if i < 0:
        return None
    j = text.find(end, i + len(start))
    if j < 0:
        return None
    return text[i + len(start) : j].replace("<\\/", "</")

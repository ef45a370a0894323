"""The demo model as an LLM judge: deterministic verdicts derived from the texts it is shown.

A call is a judge call when one of its system messages has a ``MARKER_*`` of
``judging/prompts.py`` as its first line; its last user message holds the tagged blocks.
The reply is the JSON the prompts ask for, as the whole message content (no
``[demo model …]`` label, so it parses). Any other call is answered as before.

**Terms.** The terms of a text are its content words and its identifiers. A content word is
a lowercase run of 4 or more letters that is not in the small stopword list below
(function words and the words a rubric uses to talk about an answer, such as "answer",
"mentions", "explains", "should"), with a light stem (a final ``-s`` but not ``-ss``, ``-ed`` or ``-ing``
is dropped when 4 letters remain), so "refunds" and "refunded" match "refund". An
identifier is a token of letters and digits joined by ``-`` or ``_`` that holds both a
letter and a digit (``A-123456``, ``SPRING12``), compared case-insensitively.

**score** (a rubric). The rubric's terms, plus, when the rubric says ``id``, ``ids``,
``number``, ``code`` or ``reference``, the identifiers of the context (so "mentions the
order id" rewards the answer that repeats the context's ``A-123456``). The score is the
share of those terms found among the answer's terms, rounded to 2 decimals; a rubric with no
terms gives 1 to any non-empty answer, and an empty answer always scores 0. The reason
names up to three missing terms.

**ideal**. The ideal answer is split into statements (at ``.``, ``!`` or ``?`` followed by
white space, and at line breaks); statements without terms are left out. A statement is
matched when at least 60% of its terms are among the answer's terms. The score is matched /
statements, rounded to 2 decimals (an ideal answer without terms: 1 when the answer contains
its text, else 0). The reason quotes the first missing statement, cut to 80 characters.

**pairwise**. Both answers get the rubric score above; the winner is the higher one when the
two differ by more than 0.05, else ``"tie"``. The rule never looks at the order, so asking
again with A and B swapped gives the swapped verdict.

**Modes** (``ModelServer.set_judge_mode``, ``POST /_control/judge_mode``): ``fair`` (the
rules above, the default), ``first`` (a position-biased judge: pairwise always ``"A"``,
score and ideal always 1.0) and ``garbage`` (a reply that is not JSON).

Blocks are read in the order they were written: each genuine closing tag is unique (a judged
text's ``</`` is escaped), so a text that merely *opens* a tag (``<answer>``) cannot move
where the next block starts.
"""

from __future__ import annotations

import json
import re
from fractions import Fraction
from typing import Any, Final

from ...judging.prompts import MARKER_IDEAL, MARKER_PAIRWISE, MARKER_SCORE, TAGS

__all__ = [
    "DEFAULT_JUDGE_MODE",
    "GARBAGE_REPLY",
    "JUDGE_MODES",
    "STOPWORDS",
    "judge_kind",
    "judge_reply",
    "read_blocks",
    "terms",
]

JUDGE_MODES: Final = ("fair", "first", "garbage")
DEFAULT_JUDGE_MODE: Final = "fair"
GARBAGE_REPLY: Final = "I think it's fine."
_MARKERS: Final = frozenset({MARKER_SCORE, MARKER_IDEAL, MARKER_PAIRWISE})

_STOPWORD_TEXT: Final = """
    about above after again against also among answer answers assistant because been before
    being below between both could does doing down during each either every from further have
    having here itself just least like mention mentioned mentions more most much must neither
    only other ought over please rather really reply response same says should since some such
    than that their theirs them then there these they this those through under until upon user
    very well were what when where whether which while whom whose will with within without
    would your yours include includes including contain contains containing describe describes
    explain explains give gives provide provides state states tell tells
"""
STOPWORDS: Final = frozenset(_STOPWORD_TEXT.split())
_ID_CUES: Final = frozenset({"id", "ids", "number", "code", "reference"})
_WORD: Final = re.compile(r"[a-z]+")
_TOKEN: Final = re.compile(r"[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*")
_STATEMENT_END: Final = re.compile(r"(?<=[.!?])\s+|\n+")
_TIE_MARGIN: Final = Fraction(5, 100)
_MATCHED_SHARE: Final = Fraction(60, 100)


def judge_kind(messages: list[Any], text_of: Any) -> str | None:
    """The ``MARKER_*`` of a judge call (its system message's first line), else ``None``."""
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "system":
            first_line = text_of(message.get("content")).split("\n", 1)[0].strip()
            if first_line in _MARKERS:
                return first_line
    return None


def judge_reply(kind: str, judged: str, mode: str = DEFAULT_JUDGE_MODE) -> str:
    """The message content the demo judge replies with for the user text ``judged``."""
    if mode == "garbage":
        return GARBAGE_REPLY
    if mode == "first":
        if kind == MARKER_PAIRWISE:
            return _json({"winner": "A", "reason": "The first answer is the better one."})
        return _json({"score": 1.0, "reason": "The answer looks fine."})
    blocks = read_blocks(judged)
    if kind == MARKER_PAIRWISE:
        return _json(_pairwise(blocks))
    if kind == MARKER_IDEAL:
        return _json(_ideal(blocks.get("ideal", ""), blocks.get("answer", "")))
    return _json(_rubric(blocks))


def read_blocks(text: str) -> dict[str, str]:
    """Every ``<tag>…</tag>`` block of a judge prompt, unescaped (see the module notes)."""
    closes = sorted(
        (m.start(), m.end(), m.group(1))
        for m in re.finditer(r"\n</(" + "|".join(TAGS) + r")>", text)
    )
    blocks: dict[str, str] = {}
    start = 0
    for close_start, close_end, tag in closes:
        opening = f"<{tag}>\n"
        begin = text.find(opening, start, close_start + 1)
        if begin >= 0 and tag not in blocks:
            body = text[begin + len(opening) : close_start]
            blocks[tag] = body.replace("<\\/", "</")
        start = close_end
    return blocks


# --- terms -----------------------------------------------------------------------------------
def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            if suffix == "s" and word.endswith("ss"):
                return word
            return word[: -len(suffix)]
    return word


def _identifiers(text: str) -> list[str]:
    found = []
    for token in _TOKEN.findall(text):
        if any(c.isdigit() for c in token) and any(c.isalpha() for c in token):
            found.append(token.lower())
    return found


def terms(text: str) -> list[str]:
    """The text's content words (stemmed) and identifiers, once each, in order of appearance."""
    words = [_stem(w) for w in _WORD.findall(text.lower()) if len(w) >= 4 and w not in STOPWORDS]
    return list(dict.fromkeys(words + _identifiers(text)))


# --- the three judgements --------------------------------------------------------------------
def _coverage(rubric: str, context: str, answer: str) -> tuple[Fraction, list[str], int]:
    """(score, missing terms, number of terms) of ``answer`` against the rubric."""
    wanted = terms(rubric)
    if _ID_CUES & set(_WORD.findall(rubric.lower())):
        wanted = list(dict.fromkeys(wanted + _identifiers(context)))
    if not answer.strip():
        return Fraction(0), wanted, len(wanted)
    if not wanted:
        return Fraction(1), [], 0
    have = set(terms(answer))
    missing = [t for t in wanted if t not in have]
    return Fraction(len(wanted) - len(missing), len(wanted)), missing, len(wanted)


def _rubric(blocks: dict[str, str]) -> dict[str, Any]:
    answer = blocks.get("answer", "")
    score, missing, total = _coverage(blocks.get("rubric", ""), blocks.get("context", ""), answer)
    if not answer.strip():
        reason = "The answer is empty."
    elif not missing:
        reason = f"The answer covers the rubric ({total} of {_terms(total)})."
    else:
        shown = ", ".join(f"'{t}'" for t in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        reason = (
            f"Missing from the answer: {shown}{more} "
            f"({total - len(missing)} of {_terms(total, 'rubric term')} found)."
        )
    return {"score": _round(score), "reason": reason}


def _ideal(ideal: str, answer: str) -> dict[str, Any]:
    statements = [s.strip() for s in _STATEMENT_END.split(ideal) if terms(s)]
    if not statements:
        same = " ".join(ideal.lower().split()) in " ".join(answer.lower().split())
        return {
            "score": 1.0 if same and answer.strip() else 0.0,
            "reason": "The ideal answer has no statements to check; compared as text.",
        }
    have = set(terms(answer))
    missing = []
    for statement in statements:
        wanted = terms(statement)
        found = sum(1 for t in wanted if t in have)
        if Fraction(found, len(wanted)) < _MATCHED_SHARE:
            missing.append(statement)
    matched = len(statements) - len(missing)
    if not missing:
        reason = f"The answer makes all {_terms(len(statements), 'statement')} of the ideal answer."
    else:
        first = " ".join(missing[0].split())
        if len(first) > 80:
            first = first[:77].rstrip() + "..."
        reason = (
            f"Missing: '{first}' ({matched} of {_terms(len(statements), 'statement')} matched)."
        )
    return {"score": _round(Fraction(matched, len(statements))), "reason": reason}


def _pairwise(blocks: dict[str, str]) -> dict[str, Any]:
    rubric, context = blocks.get("rubric", ""), blocks.get("context", "")
    a, _, total = _coverage(rubric, context, blocks.get("answer_a", ""))
    b, _, _ = _coverage(rubric, context, blocks.get("answer_b", ""))
    winner = "tie" if abs(a - b) <= _TIE_MARGIN else ("A" if a > b else "B")
    reason = f"A scores {_round(a):.2f} and B {_round(b):.2f} on the rubric's {_terms(total)}" + (
        "; too close to call." if winner == "tie" else f"; {winner} covers more of it."
    )
    return {"winner": winner, "reason": reason}


def _terms(count: int, noun: str = "term") -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _round(value: Fraction) -> float:
    return round(float(value), 2)


def _json(verdict: dict[str, Any]) -> str:
    return json.dumps(verdict, ensure_ascii=False)

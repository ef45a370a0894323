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

**score** (a rubric). The rubric is read as criteria: its clauses, split at ``.``, ``;``,
``,`` and ``and``. Each criterion is checked the way a careful reader checks it, by what it
asks for (``CHECKS``, first match wins):

- an apology ("apologis(z)es", "sorry"): the answer says "sorry" or apologises;
- an id ("id", "number", "reference", "code"): the answer repeats the context field the
  criterion points at ("the order id" → ``order_id``), else one of the context's identifiers
  (``A-123456``), or any identifier when the context has none;
- the name ("name", "greets"): the answer opens with Hi/Hello/Dear/Hey and its first line
  holds the first name of the context
  field the criterion points at ("the customer" → ``customer_name``; an ``agent_name`` is
  never the one greeted), or just opens so when the context names nobody;
- a next step ("next step", "what happens next"): a sentence says what will happen or what to
  do (will, we'll, I'll, you'll, within, reply, go to, print, click, contact, call);
- a sign-off ("signs off", "signature", "signed"): a last paragraph of at most six words,
  after the body;
- JSON ("JSON"): the answer is a JSON object; a label ("label"): the answer's label (its
  JSON ``label``, else its last line) is one of the context's ``labels``;
- a length ("at most N words", "at most N sentences", "one sentence", "concise"/"brief"/
  "short"): at most N words / N sentences with content words / one sentence / 120 words;
- politeness ("polite", "friendly", "courteous"): thanks, please, an apology or a greeting;
- accuracy ("accurate", "correct", "factual"): the answer repeats the context's identifiers
  and invents none (an id the context does not hold);
- resolving the request ("resolves", "addresses", "helpful", "answers the …"): a next step
  or action as above, or the JSON the request asked for;
- anything else: at least half of the criterion's terms are among the answer's terms.

An answer that restates the request (ten or more words in a row copied from the context) or
is empty scores 0 whatever else it holds. The score is the share of criteria met, rounded to 2
decimals (a rubric without criteria gives 1 to any answer that is not empty or restating); the
reason names the first criteria not met.

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
    "criteria",
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
_CLAUSES: Final = re.compile(r"[.;,\n]+\s*|\s+and\s+", re.I)
_RESTATED_RUN: Final = 10
_NEXT_STEP: Final = re.compile(
    r"\b(?:will|we'll|i'll|you'll|within|reply|go to|print|click|contact|call us|email you)\b", re.I
)
_MAX_SENTENCES: Final = re.compile(
    r"(?:at most|no more than|under|within)\s+(\d+|two|three|four|five)\s+sentences", re.I
)
_POLITE: Final = re.compile(
    r"\b(?:thank|thanks|please|sorry|apologi[sz]e|regards|hi|hello|dear)\b", re.I
)
_GREETING: Final = re.compile(r"^\s*(?:hi|hello|dear|hey)\b", re.I)
_MAX_WORDS: Final = re.compile(
    r"(?:at most|no more than|under|fewer than|within)\s+(\d+)\s+words", re.I
)


def criteria(rubric: str) -> list[str]:
    """The rubric's criteria: its clauses with at least one word (see the module notes)."""
    return [c.strip() for c in _CLAUSES.split(rubric) if _WORD.search(c.lower())]


def _context_fields(context: str) -> dict[str, Any]:
    try:
        value = json.loads(context)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _field_for(wants: str, fields: dict[str, Any], part: str, skip: tuple[str, ...]) -> str:
    """The context value the criterion points at: a field named ``*part*`` that shares a word
    with the criterion ("the order id" → ``order_id``), else the first such field not in
    ``skip`` (a ticket's ``agent_name`` is not the customer's)."""
    named = [
        (key, value)
        for key, value in fields.items()
        if part in key.lower() and isinstance(value, str) and value.strip()
    ]
    words = set(_WORD.findall(wants))
    for key, value in named:
        if words & (set(key.lower().replace("-", "_").split("_")) - {part}):
            return value
    return next((v for k, v in named if not any(s in k.lower() for s in skip)), "")


def _is_json(answer: str) -> bool:
    try:
        return isinstance(json.loads(answer), dict)
    except ValueError:
        return False


def _label_of(answer: str) -> str:
    try:
        value = json.loads(answer)
    except ValueError:
        lines = [line.strip() for line in answer.strip().splitlines() if line.strip()]
        return lines[-1].strip(" .\"'`") if lines else ""
    return str(value.get("label", "")) if isinstance(value, dict) else ""


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _restates(answer: str, context: str) -> bool:
    """Whether ``answer`` copies ten or more words in a row from the context."""
    source = _words(context)
    runs = {tuple(source[i : i + _RESTATED_RUN]) for i in range(len(source) - _RESTATED_RUN + 1)}
    said = _words(answer)
    return any(
        tuple(said[i : i + _RESTATED_RUN]) in runs for i in range(len(said) - _RESTATED_RUN + 1)
    )


def _meets(criterion: str, context: str, answer: str) -> bool:
    """Whether ``answer`` meets one criterion of a rubric (the checks of the module notes)."""
    wants = criterion.lower()
    fields = _context_fields(context)
    if re.search(r"apologi[sz]|sorry", wants):
        return bool(re.search(r"\bsorry\b|apologi[sz]e|apologies", answer, re.I))
    if re.search(r"\b(?:id|ids|number|reference|code)\b", wants):
        have = set(_identifiers(answer))
        pointed = _field_for(wants, fields, "id", ())
        if pointed:
            return pointed.lower() in have or pointed.lower() in answer.lower()
        ids = set(_identifiers(context))
        return bool(have & ids) if ids else bool(have)
    if re.search(r"\bname\b|\bgreet", wants):
        first_line = answer.strip().split("\n", 1)[0]
        name = _field_for(wants, fields, "name", ("agent", "author", "assistant"))
        greets = bool(_GREETING.match(first_line))
        if name:
            return greets and bool(
                re.search(rf"\b{re.escape(name.split()[0])}\b", first_line, re.I)
            )
        return greets
    if re.search(r"next step|what happens next", wants):
        return bool(_NEXT_STEP.search(answer))
    if re.search(r"sign(?:s|ed)?[- ]?off|signature|\bsigned\b", wants):
        paragraphs = [p for p in re.split(r"\n\s*\n", answer.strip()) if p.strip()]
        return len(paragraphs) > 1 and len(paragraphs[-1].split()) <= 6
    if "json" in wants:
        return _is_json(answer)
    if re.search(r"\blabel\b", wants):
        labels = [x.strip() for x in str(fields.get("labels", "")).split(",") if x.strip()]
        label = _label_of(answer)
        return label in labels if labels else bool(label)
    if m := _MAX_WORDS.search(wants):
        return len(answer.split()) <= int(m.group(1))
    if m := _MAX_SENTENCES.search(wants):
        count = m.group(1).lower()
        said = [x for x in _STATEMENT_END.split(answer.strip()) if terms(x)]
        return len(said) <= int({"two": 2, "three": 3, "four": 4, "five": 5}.get(count, count))
    if re.search(r"\b(?:one|a single)\s+sentence\b", wants):
        return len([x for x in _STATEMENT_END.split(answer.strip()) if x.strip()]) == 1
    if re.search(r"\b(?:concise|brief|short)\b", wants):
        return len(answer.split()) <= 120
    if re.search(r"\bpolite|courteous|friendly|\bwarm|\bkind\b", wants):
        return bool(_POLITE.search(answer))
    if re.search(r"\baccura|\bcorrect|\bfactual|\btrue to\b", wants):
        named, known = set(_identifiers(answer)), set(_identifiers(context))
        return named <= known and bool(named or not known)  # the context's ids, none invented
    if re.search(r"\bresolv|\baddress|\bhelpful|\bsolves?\b|\banswers? the", wants):
        return bool(_NEXT_STEP.search(answer)) or _is_json(answer)
    wanted = terms(criterion)
    if not wanted:
        return True
    have = set(terms(answer))
    return 2 * sum(1 for t in wanted if t in have) >= len(wanted)


def _coverage(rubric: str, context: str, answer: str) -> tuple[Fraction, list[str], int]:
    """(score, criteria not met, number of criteria) of ``answer`` against the rubric."""
    wanted = criteria(rubric)
    if not answer.strip() or _restates(answer, context):
        return Fraction(0), wanted, len(wanted)
    if not wanted:
        return Fraction(1), [], 0
    missing = [c for c in wanted if not _meets(c, context, answer)]
    return Fraction(len(wanted) - len(missing), len(wanted)), missing, len(wanted)


def _rubric(blocks: dict[str, str]) -> dict[str, Any]:
    answer, context = blocks.get("answer", ""), blocks.get("context", "")
    score, missing, total = _coverage(blocks.get("rubric", ""), context, answer)
    if not answer.strip():
        reason = "The answer is empty."
    elif _restates(answer, context):
        reason = "The answer restates the request instead of answering it."
    elif not missing:
        reason = f"The answer meets the rubric ({total} of {_terms(total, 'criterion')})."
    else:
        shown = "; ".join(f"'{c}'" for c in missing[:2])
        more = f" and {len(missing) - 2} more" if len(missing) > 2 else ""
        reason = (
            f"Not met: {shown}{more} ({total - len(missing)} of {_terms(total, 'criterion')} met)."
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
    reason = (
        f"A scores {_round(a):.2f} and B {_round(b):.2f} on the rubric's "
        f"{_terms(total, 'criterion')}"
    ) + ("; too close to call." if winner == "tie" else f"; {winner} meets more of it.")
    return {"winner": winner, "reason": reason}


def _terms(count: int, noun: str = "term") -> str:
    if noun == "criterion":
        return f"{count} criteri" + ("on" if count == 1 else "a")
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _round(value: Fraction) -> float:
    return round(float(value), 2)


def _json(verdict: dict[str, Any]) -> str:
    return json.dumps(verdict, ensure_ascii=False)

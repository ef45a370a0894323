"""How the demo model writes an answer that is not a verdict: in the shape of the seeded
production answers of the prompt family it recognises, following the draft's instructions.

The demo is where a newcomer first learns whether a draft is better, so what its model does
must be what a real model would do with the same draft, in ways a judge can see. The rules:

**Which task.** The prompt's text says it (``family``): a support reply (a ticket with
``Subject:`` and an ``Order:``/``about order`` line, or a system message about customer
support), an intent classification (``Classify … labels:`` or ``one label from:``), an invoice
extraction (``Extract the invoice fields``) or a product description (``product
description`` / ``Product:`` with ``Key features:``). Any other prompt gets the labelled
placeholder answer of ``wire.py`` (``[demo model …] …``), which a judge scores low.

**What it reads as instructions.** The system messages, and the last user message less the
data it carries (a support ticket's body; a classifier's or extractor's whole user message is
data). A clause with "do not", "don't", "never", "no", "without", "avoid" or "omit" forbids the
elements it names; any other clause that names one asks for it.

**Elements of a support reply** (each: asked for, forbidden, or left to the default):

- *greeting by name* ("first name", "by name", "greet"): ``Hi Ada,``; default and forbidden:
  ``Hello,``.
- *the order id* ("order id", "order number", "order A-123456", "cite/give/include … order"):
  the reply refers to the order by its id (default, as production does); forbidden: "your
  order"; asked for with "first": the reply opens with it.
- *an apology* ("apologise", "sorry"): asked for: "I'm sorry for the trouble."; default: only
  where production apologises (a damaged item); forbidden: none at all.
- *a next step* ("next step"): the kind's own next step, or one added where the kind has none;
  default: the kind's reply as production writes it; forbidden: none.
- *a sign-off* ("sign off as X", "sign the reply as X"): X; default ``Best regards,`` / ``Acme
  Support``; forbidden ("no sign-off", "do not sign"): none.
- *length*: "one sentence" / "a single sentence" gives one sentence (greeting folded in, no
  sign-off); "at most N sentences" keeps the reply's first N sentences (no opener);
  "at most N words" keeps whole sentences up to N words.
- "Say X." / "Reply with X only." as the whole instruction gives X.

The facts come from the ticket: its kind is recognised from the subject (the demo vocabulary's
six kinds) and its values are read from the body, so a reply never states what the ticket
does not. Deterministic for (draft, context, model): where a wording is chosen, a digest of
the three chooses it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from ..seed_vocabulary import (
    ACME_MESSAGES,
    DAMAGES,
    EVENTS,
    GLOBEX_MESSAGES,
    PRODUCTS,
    RETURN_REASONS,
    TICKETS,
    WEEKDAYS,
    WHEN,
)

__all__ = ["Rules", "read_rules", "write_answer"]

_NEGATION: Final = re.compile(
    r"\b(do not|don't|dont|never|no|without|avoid|omit|leave out)\b", re.I
)
_CLAUSE_END: Final = re.compile(r"(?<=[.!?;])\s+|\n+")
_CUES: Final = {
    "name": re.compile(r"first name|by name|their name|customer's name|\bthe name\b|\bgreet", re.I),
    "order_id": re.compile(
        r"order (?:id|number|no\b|reference)|\border [A-Z]-\d{4,}|order_id"
        r"|(?:cite|give|include|quote|state|repeat|mention)s? (?:the |their )?order\b",
        re.I,
    ),
    "apology": re.compile(r"apologi[sz]|\bsorry\b", re.I),
    "next_step": re.compile(r"next step", re.I),
    "sign_off": re.compile(r"\bsign(?:-| )?off\b|\bsign (?:the reply|it|as)\b|signature", re.I),
}
_SIGN_AS: Final = re.compile(
    r"sign(?: off| the reply| it)? as\s+[\"“']?(?P<who>[^\"”'\n]+?)[\"”']?\s*(?:\.\s|\.$|$|\n)",
    re.I,
)
_MAX_WORDS: Final = re.compile(
    r"(?:at most|no more than|under|fewer than|maximum of)\s+(\d+)\s+words", re.I
)
_NUMBERS: Final = {"two": 2, "three": 3, "four": 4, "five": 5}
_MAX_SENTENCES: Final = re.compile(
    r"(?:at most|no more than|in|under|maximum of)\s+(\d+|two|three|four|five)\s+sentences", re.I
)
_ONE_SENTENCE: Final = re.compile(r"\b(?:one|a single|1)\s+sentence\b(?!\s+explaining)", re.I)
_SAY: Final = re.compile(
    r"^\s*(?:say|reply with|answer with|respond with)\s+(?P<what>.+?)\s*$", re.I
)
_SENTENCE: Final = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'])")


@dataclass
class Rules:
    """What the draft asks for: ``True`` asked, ``False`` forbidden, ``None`` left to default."""

    name: bool | None = None
    order_id: bool | None = None
    order_id_first: bool = False
    apology: bool | None = None
    next_step: bool | None = None
    sign_off: bool | None = None
    sign_as: str | None = None
    max_words: int | None = None
    max_sentences: int | None = None
    one_sentence: bool = False
    say: str | None = None


def read_rules(instructions: str) -> Rules:
    """The rules the instruction text states (see the module notes)."""
    rules = Rules()
    lines = [line for line in instructions.splitlines() if line.strip()]
    if len(lines) == 1 and (m := _SAY.match(lines[0])) and "{" not in lines[0]:
        what = m.group("what").rstrip()
        what = re.sub(r"\s+only\.?$", "", what, flags=re.I)
        rules.say = what.strip("\"'“”")
    for clause in _CLAUSE_END.split(instructions):
        if not clause.strip():
            continue
        negated = bool(_NEGATION.search(clause))
        for element, cue in _CUES.items():
            if cue.search(clause):
                setattr(rules, element, not negated)
                if element == "order_id" and not negated and re.search(r"\bfirst\b", clause, re.I):
                    rules.order_id_first = True
        if m := _MAX_WORDS.search(clause):
            rules.max_words = int(m.group(1))
        if m := _MAX_SENTENCES.search(clause):
            count = m.group(1).lower()
            rules.max_sentences = int(_NUMBERS.get(count, count))
        if _ONE_SENTENCE.search(clause) and not negated:
            rules.one_sentence = True
    if rules.sign_off is not False and (m := _SIGN_AS.search(instructions)):
        rules.sign_off, rules.sign_as = True, m.group("who").strip().rstrip(".")
    return rules


# --- reading the prompt ------------------------------------------------------------------------
def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


@dataclass
class _Prompt:
    system: str
    user: str  # the last user message
    earlier: int  # messages before the last user message other than system ones (a thread)
    digest: bytes


def _read(model: str, messages: list[Any]) -> _Prompt:
    canonical = json.dumps([model, messages], sort_keys=True, ensure_ascii=False, default=str)
    dicts = [m for m in messages if isinstance(m, dict)]
    system = "\n".join(_text(m.get("content")) for m in dicts if m.get("role") == "system")
    users = [i for i, m in enumerate(dicts) if m.get("role") == "user"]
    user = _text(dicts[users[-1]].get("content")) if users else ""
    earlier = sum(1 for m in dicts[: users[-1] if users else 0] if m.get("role") != "system")
    return _Prompt(system, user, earlier, hashlib.sha256(canonical.encode()).digest())


def _pick(prompt: _Prompt, options: tuple[str, ...], salt: int = 0) -> str:
    return options[prompt.digest[salt % len(prompt.digest)] % len(options)]


def write_answer(model: str, messages: list[Any]) -> str | None:
    """The answer for a prompt of a known family, or ``None`` (the caller's placeholder)."""
    prompt = _read(model, messages)
    whole = prompt.system + "\n" + prompt.user
    asked = read_rules(prompt.user.strip()) if "\n" not in prompt.user.strip() else Rules()
    if asked.say:  # the user's whole message is "Say X."
        return asked.say
    if re.search(r"Extract the invoice fields", prompt.system, re.I):
        return _invoice(prompt)
    if re.search(r"\bclassify\b.*\blabels?\b|one label from", prompt.system, re.I | re.S):
        return _classify(prompt)
    if _support_ticket(prompt.user) or re.search(r"customer support", prompt.system, re.I):
        return _support(prompt)
    if re.search(r"product description|Key features:", whole, re.I):
        return _describe(prompt)
    return None


# --- support replies ---------------------------------------------------------------------------
# The values a template's placeholder can take, where the demo vocabulary lists them: a
# placeholder next to another one ("the {product} {when}") is only readable so.
_KNOWN: Final = {
    "product": tuple(p[0] for p in PRODUCTS),
    "when": WHEN,
    "event": EVENTS,
    "weekday": WEEKDAYS,
    "damage": DAMAGES,
    "reason": RETURN_REASONS,
}


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    out, seen = [], set()
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(re.escape(part))
        elif part in seen:
            out.append(f"(?P={part})")
        else:
            seen.add(part)
            known = "|".join(re.escape(v) for v in _KNOWN.get(part, ()))
            out.append(f"(?P<{part}>{known or '.+?'})")
    return re.compile("".join(out), re.S)


_KINDS: Final = tuple(
    (kind, _template_regex(subject), _template_regex(body)) for kind, subject, body, _ in TICKETS
)

# Each kind's reply as (the sentences before its next step, the next step).
# They mirror the seeded production replies: the same facts, the same elements.
_REPLY: Final[dict[str, tuple[tuple[str, ...], str]]] = {
    "late": (
        (
            "I checked {order}: the {product} left our warehouse {when} and the carrier shows it"
            " at their regional depot.",
        ),
        "I've opened a trace with them and will email you an update within 24 hours, so it can"
        " still reach you before {event}.",
    ),
    "damaged": (
        ("{sorry}the {product} arrived with {damage}.",),
        "I've started a free replacement for {order}; it ships within two business days and you"
        " don't need to send the damaged one back first.",
    ),
    "double_charge": (
        (
            "You're right, I can see two authorisations of {amount} for {order}. The second one"
            " is a pending hold that our payment provider releases within 3 to 5 business days.",
        ),
        "If it is still there after that, reply here and we'll refund it manually.",
    ),
    "return": (
        ("You can return the {product} within 60 days.",),
        "Go to acme.example/returns, enter {order} and print the free label; the refund reaches"
        " your card 5 to 7 business days after the parcel arrives at our warehouse.",
    ),
    "promo": (
        (
            "Code {code} should have worked for {order}, so I've applied the 15% discount"
            " manually and refunded the difference to your original payment method.",
        ),
        "You'll see it on your statement within 5 business days.",
    ),
    "address": (
        (
            "Good news: {order} hasn't shipped yet, so I've changed the delivery address to"
            " {address}.",
        ),
        "You'll get a new confirmation email within the hour.",
    ),
}
_GENERIC_REPLY: Final = (
    ("I've read your message about {order} and passed it to the right team.",),
    "We'll reply with an answer within one business day.",
)
_OPENERS: Final = (
    "Thank you for reaching out.",
    "Thanks for your message.",
    "Thank you for your patience.",
)


def _support_ticket(user: str) -> dict[str, str] | None:
    """Name, order id, subject and body of a ticket in the user message, if there is one."""
    name = re.search(r"^Customer:\s*(?P<v>.+)$", user, re.M) or re.search(
        r"message from (?P<v>.+?) about order", user
    )
    order = re.search(r"^Order:\s*(?P<v>\S+)", user, re.M) or re.search(
        r"about order (?P<v>[A-Za-z0-9-]+)", user
    )
    subject = re.search(r"^Subject:\s*(?P<v>.+)$", user, re.M)
    if not subject or not (name or order):
        return None
    rest = user[subject.end() :].lstrip("\n")
    body = rest.split("\n\n", 1)[0]
    return {
        "name": name.group("v").strip() if name else "",
        "order_id": order.group("v").strip().rstrip(".") if order else "",
        "subject": subject.group("v").strip(),
        "body": body.strip(),
    }


def _support(prompt: _Prompt) -> str:
    ticket = _support_ticket(prompt.user) or {"name": "", "order_id": "", "subject": "", "body": ""}
    # the ticket is data, not instructions: its body and its header lines are left out
    instructions = prompt.system + "\n" + prompt.user.replace(ticket["body"] or "\0", "")
    instructions = re.sub(
        r"^(?:Customer|Order|Subject):.*$|^New message from .*$", "", instructions, flags=re.M
    )
    rules = read_rules(instructions)
    if rules.say:
        return rules.say
    kind, values = "", {}
    for name, subject_re, body_re in _KINDS:
        if subject_re.fullmatch(ticket["subject"]):
            kind = name
            found = body_re.match(ticket["body"])
            values = found.groupdict() if found else {}
            break
    before, step = _REPLY.get(kind, _GENERIC_REPLY)
    needed = set(re.findall(r"\{(\w+)\}", " ".join(before) + step)) - {"order", "sorry"}
    if kind and not needed <= set(values):
        before, step = _GENERIC_REPLY
    order_id = ticket["order_id"]
    cite = rules.order_id is not False and bool(order_id)
    apologise = rules.apology is True or (rules.apology is None and kind == "damaged")
    fill = dict(values, order=f"order {order_id}" if cite else "your order")
    fill["sorry"] = "I'm sorry " if apologise else "I can see "
    apologise = apologise and kind != "damaged"  # that kind's first sentence apologises
    sentences = [part for s in before for part in _SENTENCE.split(s.format(**fill))]
    sentences[0] = sentences[0][0].upper() + sentences[0][1:]
    if rules.next_step is not False:
        sentences.append(step.format(**fill))
    if apologise:
        sentences.insert(0, "I'm sorry for the trouble.")
    if rules.order_id_first and cite and order_id not in sentences[0]:
        sentences[0] = f"About order {order_id}: {sentences[0]}"
    first = ticket["name"].split()[0] if ticket["name"] else ""
    greeting = f"Hi {first}," if rules.name and first else "Hello,"
    opening = "Thanks for following up." if prompt.earlier else _pick(prompt, _OPENERS)
    if rules.one_sentence:
        sentence = sentences[0]
        return f"{greeting} {sentence if sentence.startswith('I') else _lower_first(sentence)}"
    if rules.max_sentences:  # the reply's own sentences, the greeting's opener dropped first
        body = " ".join(sentences[: rules.max_sentences])
    elif rules.order_id_first and cite:  # what comes first comes before any pleasantry
        body = " ".join(sentences)
    else:
        body = " ".join([opening, *sentences])
    if rules.max_words:
        body = _cap_words(f"{greeting} {body}", rules.max_words)[len(greeting) + 1 :]
    if rules.sign_off is False:
        return f"{greeting}\n\n{body}"
    sign = rules.sign_as or "Best regards,\nAcme Support"
    return f"{greeting}\n\n{body}\n\n{sign}"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _cap_words(text: str, limit: int) -> str:
    kept: list[str] = []
    for sentence in _SENTENCE.split(text):
        if len(" ".join([*kept, sentence]).split()) > limit and kept:
            break
        kept.append(sentence)
    return " ".join(kept)


# --- classification ----------------------------------------------------------------------------
_LABEL_TEMPLATES: Final = tuple(
    (label, _template_regex(template))
    for messages in (ACME_MESSAGES, GLOBEX_MESSAGES)
    for label, templates in messages.items()
    for template in templates
)


def _classify(prompt: _Prompt) -> str:
    listed = re.search(r"labels?(?: from)?:\s*(?P<v>[a-z_, ]+)", prompt.system)
    labels = [x.strip() for x in listed.group("v").split(",") if x.strip()] if listed else []
    label = next((lb for lb, rx in _LABEL_TEMPLATES if rx.search(prompt.user)), "other")
    if labels and label not in labels:
        label = "other" if "other" in labels else labels[0]
    confidence = 0.62 + (prompt.digest[2] % 38) / 100
    if re.search(r"JSON", prompt.system):
        return json.dumps({"label": label, "confidence": round(confidence, 2)})
    if re.search(r"reasoning step by step", prompt.system, re.I):
        return (
            f"The message is mainly about {label.replace('_', ' ')}, not a general question."
            f"\n{label}"
        )
    return label


# --- invoices ----------------------------------------------------------------------------------
_ROW: Final = re.compile(r"^\s*(\d+)\s{2}(.+?)\s{2,}(\d+\.\d{2})\s+(\d+\.\d{2})\s*$", re.M)


def _date(text: str) -> str | None:
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%B %d, %Y"):
        try:
            return datetime.strptime(text, fmt).strftime("%Y-%m-%d")
        except ValueError:
            continue
    return None


def _invoice(prompt: _Prompt) -> str:
    text = prompt.user
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and lines[0].startswith("Invoice received by"):
        lines = lines[1:]
    number = re.search(r"INVOICE No\.\s*(\S+)", text)
    date = re.search(r"Date:\s*(.+?)(?:\s{2,}|$)", text, re.M)
    total = re.search(r"TOTAL DUE\s+(?:([A-Z]{3})\s+)?([\d.]+)", text)
    default = re.search(r"use ([A-Z]{3})\b", prompt.system)
    if not number or not total:
        return json.dumps({"error": "no invoice text was provided"})
    currency = total.group(1) or (default.group(1) if default else "EUR")
    answer: dict[str, Any] = {
        "vendor": lines[0].strip() if lines else "",
        "invoice_number": number.group(1),
        "date": _date(date.group(1).strip()) if date else None,
        "currency": currency,
    }
    if "line_items" in prompt.system:
        answer["line_items"] = [
            {"description": d.strip(), "quantity": int(q), "amount": float(a)}
            for q, d, _unit, a in _ROW.findall(text)
        ]
    answer["total"] = float(total.group(2))
    return json.dumps(answer, ensure_ascii=False)


# --- product descriptions ----------------------------------------------------------------------
def _describe(prompt: _Prompt) -> str:
    name = re.search(
        r"(?:Product:\s*|description for\s+)(?P<v>.+?)(?:\s+aimed at|\n|$)", prompt.user
    )
    audience = re.search(r"(?:Audience:\s*|aimed at\s+)(?P<v>.+?)\.?(?:\n|$)", prompt.user)
    features = re.search(r"Key features:\s*(?P<v>.+)", prompt.user)
    product = name.group("v").strip() if name else "this product"
    who = audience.group("v").strip() if audience else "everyone"
    listed = [f.strip() for f in features.group("v").split(",")] if features else []
    opener = _pick(
        prompt,
        (
            f"Meet the {product}, made for {who}.",
            f"The {product} is built for {who} who want gear that simply works.",
            f"Designed with {who} in mind, the {product} keeps things simple.",
        ),
    )
    middle = (
        f" With {', '.join(listed[:-1])} and {listed[-1]}, it is ready when you are."
        if len(listed) > 1
        else (f" With {listed[0]}, it is ready when you are." if listed else "")
    )
    close = (
        _pick(prompt, (" Order yours today.", " Add it to your cart now.", " Get yours today."), 3)
        if re.search(r"call to action", prompt.system, re.I)
        else " Available now in the Acme store."
    )
    return opener + middle + close

"""The demo data's prompt families: each prompt's published wordings (variants), and how a
logged call of it is made (a context and an answer, drawn from ``seed_vocabulary``).

``FAMILIES`` maps a family key to its ``Family``; ``resolve_messages`` is what flow-prompt
0.1.31 sends for a prompt and a context. Only the standard library: everything is drawn from
the seeded ``random.Random`` the caller passes.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .seed_vocabulary import (
    ACCOUNTS,
    ACME_LABELS,
    ACME_MESSAGES,
    AGENTS,
    AUDIENCES,
    CHANNELS,
    CITIES,
    COMPOUNDS,
    COUNTRIES,
    CURRENCY_SIGNS,
    DAMAGES,
    EVENTS,
    EXTRA_SENTENCES,
    FIRST,
    GLOBEX_LABELS,
    GLOBEX_MESSAGES,
    LABS,
    LANGUAGES,
    LAST,
    MONTHS,
    PRODUCTS,
    RETURN_REASONS,
    SCHEMA_SALES,
    SCHEMA_SUPPORT,
    STREETS,
    TICKETS,
    TONES,
    VENDORS,
    WEEKDAYS,
    WHEN,
)

__all__ = ["FAMILIES", "Family", "pick", "prompt_variables", "resolve_messages"]

DAY_MS = 86_400_000


def _chat(
    content: str,
    role: str = "user",
    *,
    priority: int = 0,
    required: bool = False,
    is_multiple: bool = False,
    while_fits: bool = False,
    add_in_reverse_order: bool = False,
) -> dict[str, Any]:
    """One chat exactly as ``ChatsEntity.dump()`` writes it (``None`` values omitted)."""
    return {
        "content": content,
        "role": role,
        "priority": priority,
        "required": required,
        "is_multiple": is_multiple,
        "while_fits": while_fits,
        "add_in_reverse_order": add_in_reverse_order,
        "in_one_message": False,
        "continue_if_doesnt_fit": False,
    }


_Facts = dict[str, Any]
_ContextMaker = Callable[[random.Random, int], tuple[dict[str, Any], _Facts]]
_ResponseMaker = Callable[[random.Random, dict[str, Any], _Facts, int], str]


@dataclass(frozen=True)
class Family:
    """A prompt and its drafts: variant i is the i-th wording the team published."""

    prompt_id: str
    max_tokens: int
    min_sample_tokens: int
    reserved_tokens_budget_for_sampling: int | None
    variants: tuple[tuple[dict[str, Any], ...], ...]
    make_context: _ContextMaker
    make_response: _ResponseMaker


_VAR = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def prompt_variables(chats: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> list[str]:
    """The context variables a prompt uses, in order of first appearance."""
    names: list[str] = []
    for chat in chats:
        found = (
            [_multiple_key(chat["content"])]
            if chat.get("is_multiple")
            else _VAR.findall(chat.get("content") or "")
        )
        for name in found:
            if name not in names:
                names.append(name)
    return names


def _multiple_key(content: str) -> str:
    # as flow-prompt's ChatsEntity.resolve reads an is_multiple chat's variable
    return content.strip().replace("{", "").replace("}", "").strip()


def resolve_messages(prompt: dict[str, Any], context: dict[str, Any]) -> list[dict[str, str]]:
    """The messages flow-prompt 0.1.31 sends for ``prompt`` (service_dump shape) and
    ``context``, when every chat fits the token budget (true for the demo prompts).

    Variables missing from the context stay literal, as in flow-prompt.
    """
    messages: list[dict[str, str]] = []
    for chat in prompt["chats"]:
        content = chat.get("content") or ""
        if chat.get("is_multiple"):
            for value in context.get(_multiple_key(content)) or []:
                if isinstance(value, str):
                    messages.append({"role": "user", "content": value})
                else:
                    messages.append(
                        {"role": value.get("role", "user"), "content": value["content"]}
                    )
            continue
        if "{" in content:
            for key, value in context.items():
                content = content.replace(f"{{{key}}}", str(value))
        if content:
            messages.append({"role": chat.get("role", "user"), "content": content})
    return messages


def pick(rng: random.Random, options: tuple[Any, ...] | list[Any]) -> Any:
    return options[rng.randrange(len(options))]


def _person(rng: random.Random) -> str:
    return f"{pick(rng, FIRST)} {pick(rng, LAST)}"


def _money(cents: int, currency: str = "EUR") -> str:
    sign = CURRENCY_SIGNS.get(currency, "")
    amount = f"{cents // 100:,}.{cents % 100:02d}"
    return f"{amount} {sign}" if currency == "SEK" else f"{sign}{amount}"


def _first_name(name: Any) -> str:
    return str(name).split()[0] if name and "{" not in str(name) else "there"


# ---- support-reply

_SUPPORT_SYSTEM_V1 = (
    "You are the customer support assistant for Acme, an online store for outdoor and home"
    " gear. Write in a friendly, calm and concise tone and use the customer's first name."
    " Never promise a refund or a delivery date that the ticket does not confirm."
)
_SUPPORT_SYSTEM_V2 = (
    _SUPPORT_SYSTEM_V1 + " Offer exactly one concrete next step. Sign off as"
    ' "The Acme Support Team".'
)
_SUPPORT_SYSTEM_V3 = (
    "You are Acme's customer support assistant (outdoor and home gear). Be warm and concise,"
    " address the customer by first name and answer in at most 120 words. Never promise a"
    " refund or a delivery date that the ticket does not confirm. Offer exactly one concrete"
    " next step and sign the reply as {agent_name}, Acme Support."
)
_SUPPORT_USER_V1 = (
    "Customer: {customer_name}\nOrder: {order_id}\nSubject: {ticket_subject}\n\n{ticket_body}"
    "\n\nWrite the reply to this ticket."
)
_SUPPORT_USER_V3 = (
    "New message from {customer_name} about order {order_id}.\nSubject: {ticket_subject}\n\n"
    "{ticket_body}\n\nReply to the customer. Earlier messages in this thread are above."
)
_HISTORY_CHAT = _chat(
    "{history}", priority=1, is_multiple=True, while_fits=True, add_in_reverse_order=True
)

_SUPPORT = (
    (_chat(_SUPPORT_SYSTEM_V1, "system", required=True), _chat(_SUPPORT_USER_V1, required=True)),
    (
        _chat(_SUPPORT_SYSTEM_V2, "system", required=True),
        _HISTORY_CHAT,
        _chat(_SUPPORT_USER_V1, required=True),
    ),
    (
        _chat(_SUPPORT_SYSTEM_V3, "system", required=True),
        _HISTORY_CHAT,
        _chat(_SUPPORT_USER_V3, required=True),
    ),
)


def _support_context(rng: random.Random, ts: int) -> tuple[dict[str, Any], _Facts]:
    name = _person(rng)
    product, _features, price = pick(rng, PRODUCTS)
    kind, subject, body, reply = pick(rng, TICKETS)
    values = {
        "order_id": f"A-{rng.randint(100000, 999999)}",
        "product": product,
        "when": pick(rng, WHEN),
        "days": rng.randint(4, 12),
        "event": pick(rng, EVENTS),
        "damage": pick(rng, DAMAGES),
        "amount": _money(price),
        "weekday": pick(rng, WEEKDAYS),
        "reason": pick(rng, RETURN_REASONS),
        "code": f"{pick(rng, ('SPRING', 'TRAIL', 'WELCOME', 'CAMP'))}{rng.randint(10, 30)}",
        "discount": _money(price * 15 // 100),
        "address": f"{rng.randint(2, 180)} {pick(rng, STREETS)}, {pick(rng, CITIES)}",
        "years": rng.randint(2, 9),
    }
    text = body.format(**values)
    extras = rng.sample(EXTRA_SENTENCES, rng.choice((0, 0, 1, 1, 2, 3)))
    if extras:
        text += " " + " ".join(e.format(**values) for e in extras)
    first = name.split()[0]
    history: list[dict[str, str]] = []
    if rng.random() < 0.55:
        history.append(
            {
                "role": "user",
                "content": f"Hello, I'm writing about order {values['order_id']}:"
                f" {subject.format(**values)}. Can someone help?",
            }
        )
        history.append(
            {
                "role": "assistant",
                "content": f"Hi {first}, thanks for getting in touch. We've"
                " passed your ticket to the right team and will"
                " come back to you shortly.",
            }
        )
        if rng.random() < 0.4:
            history.append(
                {"role": "user", "content": "Any news? It has been two days since your reply."}
            )
            history.append(
                {
                    "role": "assistant",
                    "content": f"Sorry for the wait, {first}. We're still"
                    " checking with the warehouse.",
                }
            )
    context = {
        "customer_name": name,
        "ticket_subject": subject.format(**values),
        "ticket_body": text,
        "order_id": values["order_id"],
        "agent_name": pick(rng, AGENTS),
        "history": history,
    }
    return context, {"kind": kind, "reply": reply.format(**values)}


def _support_response(rng: random.Random, ctx: dict[str, Any], facts: _Facts, variant: int) -> str:
    first = _first_name(ctx.get("customer_name"))
    opening = pick(
        rng,
        (
            "Thank you for reaching out.",
            "Thanks for your message.",
            "Thank you for your patience.",
        ),
    )
    if ctx.get("history"):
        opening = "Thanks for following up."
    signature = ("Best regards,\nAcme Support", "The Acme Support Team")
    sign = (
        signature[variant]
        if variant < 2
        else f"{ctx.get('agent_name', 'Acme Support')}, Acme Support"
    )
    return f"Hi {first},\n\n{opening} {facts['reply']}\n\n{sign}"


# ---- summarize-call

_CALL_TOPICS: dict[str, dict[str, Any]] = {
    "reorder": {
        "lines": (
            ("A", "Thanks for making time, {cfirst}. You mentioned a reorder for {season}?"),
            ("C", "Yes, the {product} sold out in {weeks} weeks. We'd like {qty} units."),
            ("A", "We have {stock} units in the EU warehouse right now."),
            ("C", "Can you hold them until we confirm the purchase order on {weekday}?"),
            ("A", "I can hold them for five business days and send a quote with the volume"
                  " discount today."),
            ("C", "Perfect. Please include the display stands again."),
        ),
        "English": ("reorder of {qty} units of the {product} for {season}",
                    "{agent} sends the quote today; {cfirst} confirms the PO by {weekday}"),
        "German": ("Nachbestellung von {qty} Stück {product} für {season}",
                   "{agent} schickt heute das Angebot; {cfirst} bestätigt die Bestellung bis"
                   " {weekday}"),
        "Spanish": ("nuevo pedido de {qty} unidades de {product} para {season}",
                    "{agent} envía la oferta hoy; {cfirst} confirma el pedido antes del"
                    " {weekday}"),
    },
    "late_shipment": {
        "lines": (
            ("C", "Our last delivery of the {product} arrived {days} days late."),
            ("A", "I'm sorry, {cfirst}. The delay was at the port; it affected all EU orders."),
            ("C", "We had to cancel a promotion because of it. That cost us real money."),
            ("A", "I understand. I can offer a {discount}% credit on the next order."),
            ("C", "Make it a credit and guaranteed dates for the {season} shipment."),
            ("A", "I'll confirm the dates with logistics and put it in writing by {weekday}."),
        ),
        "English": ("late delivery of the {product} ({days} days) and a {discount}% credit",
                    "{agent} confirms delivery dates for {season} in writing by {weekday}"),
        "German": ("verspätete Lieferung von {product} ({days} Tage), {discount}% Gutschrift",
                   "{agent} bestätigt die Liefertermine für {season} schriftlich bis"
                   " {weekday}"),
        "Spanish": ("retraso de {days} días en la entrega de {product}, abono del {discount}%",
                    "{agent} confirma por escrito las fechas de {season} antes del {weekday}"),
    },
    "portal": {
        "lines": (
            ("A", "Today I'd like to walk you through the new B2B portal, {cfirst}."),
            ("C", "Good, our buyers still email spreadsheets. {users} people need access."),
            ("A", "I'll create {users} logins; they can reorder the {product} in two clicks."),
            ("C", "Can it show our negotiated prices?"),
            ("A", "Yes, your price list is loaded. I'll run a 30-minute training on {weekday}."),
        ),
        "English": ("onboarding {users} buyers to the B2B portal, negotiated prices included",
                    "{agent} creates {users} logins and runs the training on {weekday}"),
        "German": ("Einführung des B2B-Portals für {users} Einkäufer mit den verhandelten"
                   " Preisen",
                   "{agent} legt {users} Zugänge an und schult am {weekday}"),
        "Spanish": ("alta de {users} compradores en el portal B2B con sus precios pactados",
                    "{agent} crea {users} accesos y da la formación el {weekday}"),
    },
}  # fmt: skip
_WEEKDAY_WORDS = {
    "English": dict(zip(WEEKDAYS, WEEKDAYS, strict=True)),
    "German": dict(
        zip(WEEKDAYS, ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag"), strict=True)
    ),
    "Spanish": dict(
        zip(WEEKDAYS, ("lunes", "martes", "miércoles", "jueves", "viernes"), strict=True)
    ),
}
_SEASONS = {
    "spring": {"German": "das Frühjahr", "Spanish": "la primavera"},
    "summer": {"German": "den Sommer", "Spanish": "el verano"},
    "autumn": {"German": "den Herbst", "Spanish": "el otoño"},
    "the holiday season": {"German": "das Weihnachtsgeschäft", "Spanish": "la campaña navideña"},
}
_FILLER = (  # small talk and line trouble, a pair of lines at a time
    (("C", "Sorry, you cut out for a second there."),
     ("A", "Can you hear me now? I switched to my headset.")),
    (("C", "Before I forget, the invoice address changed last month."),
     ("A", "Noted, I'll update it in our system today.")),
    (("C", "How was the trade fair, by the way?"),
     ("A", "Busy! Lots of interest in the new colours.")),
    (("A", "Is it still raining up there?"),
     ("C", "Non-stop, which is good for rain jacket sales at least.")),
)  # fmt: skip
_SUMMARY_STYLE = {
    "English": ("Summary of the call with {customer} ({account}): {topic}. Next step: {action}.",
                "Summary - {account}\n- Spoke with {customer}: {topic}\n- Agreed on"
                " the next step\nAction items:\n- {action}"),
    "German": ("Zusammenfassung des Gesprächs mit {customer} ({account}): {topic}. Nächster"
               " Schritt: {action}.",
               "Zusammenfassung - {account}\n- Gespräch mit {customer}: {topic}\n- Nächster"
               " Schritt vereinbart\nAufgaben:\n- {action}"),
    "Spanish": ("Resumen de la llamada con {customer} ({account}): {topic}. Siguiente paso:"
                " {action}.",
                "Resumen - {account}\n- Llamada con {customer}: {topic}\n- Siguiente paso"
                " acordado\nTareas:\n- {action}"),
}  # fmt: skip

_SUMMARIZE = (
    (
        _chat("You summarize customer calls for Acme's wholesale account team.", "system"),
        _chat("Summarize this call transcript in {language}:\n\n{transcript}", required=True),
    ),
    (
        _chat(
            "You summarize customer calls for Acme's wholesale account team. Use at most 5"
            " bullet points and end with 'Action items:' listing the owner and due day of each.",
            "system",
        ),
        _chat("Summarize this call transcript in {language}:\n\n{transcript}", required=True),
    ),
    (
        _chat(
            "You summarize customer calls for Acme's wholesale account team. Use at most 5"
            " bullet points and end with 'Action items:' listing the owner and due day of each."
            " Start with the account name. Do not include prices that were not agreed.",
            "system",
        ),
        _chat(
            "Account: {account_name}\nWrite the summary in {language}.\n\nTranscript:\n"
            "{transcript}",
            required=True,
        ),
    ),
)


def _summarize_context(rng: random.Random, ts: int) -> tuple[dict[str, Any], _Facts]:
    # a quarter of the calls cover two topics, so some transcripts are long
    names = rng.sample(tuple(_CALL_TOPICS), 2 if rng.random() < 0.25 else 1)
    topics = [_CALL_TOPICS[name] for name in names]
    customer = _person(rng)
    account = pick(rng, ACCOUNTS)
    agent = pick(rng, AGENTS)
    language = rng.choices([n for n, _ in LANGUAGES], [w for _, w in LANGUAGES])[0]
    values = {
        "cfirst": customer.split()[0],
        "product": pick(rng, PRODUCTS)[0],
        "season": pick(rng, ("spring", "summer", "autumn", "the holiday season")),
        "weeks": rng.randint(2, 6),
        "qty": rng.choice((120, 150, 200, 240, 300, 500)),
        "stock": rng.randint(300, 900),
        "weekday": pick(rng, WEEKDAYS),
        "days": rng.randint(5, 16),
        "discount": rng.choice((5, 8, 10)),
        "users": rng.randint(3, 12),
        "agent": agent,
    }
    lines: list[tuple[str, str]] = []
    for topic in topics:
        if lines:
            lines.append(("C", "One more thing before we hang up, {agent}."))
        lines.extend(topic["lines"])
    for pair in rng.sample(_FILLER, rng.choice((0, 0, 1, 1, 2, 3))):
        # never between a question and its answer
        at = pick(rng, [i for i in range(1, len(lines) + 1) if not lines[i - 1][1].endswith("?")])
        lines[at:at] = pair
    speakers = {"A": f"{agent} (Acme)", "C": f"{customer} ({account})"}
    transcript = "\n".join(f"{speakers[who]}: {text.format(**values)}" for who, text in lines)
    context = {
        "language": language,
        "transcript": transcript,
        "account_name": account,
    }
    local = dict(
        values,
        weekday=_WEEKDAY_WORDS[language][values["weekday"]],
        season=_SEASONS[values["season"]].get(language, values["season"]),
    )
    topic_texts = [topic[language][0].format(**local) for topic in topics]
    actions = [topic[language][1].format(**local) for topic in topics]
    facts = {
        "customer": customer,
        "account": account,
        "topic": "; ".join(topic_texts),
        "action": "; ".join(actions),
    }
    return context, facts


def _summarize_response(
    rng: random.Random, ctx: dict[str, Any], facts: _Facts, variant: int
) -> str:
    language = ctx.get("language", "English")
    style = _SUMMARY_STYLE.get(language, _SUMMARY_STYLE["English"])[min(variant, 1)]
    account = ctx.get("account_name") or facts["account"]
    return style.format(
        customer=facts["customer"], account=account, topic=facts["topic"], action=facts["action"]
    )


# ---- extract-invoice

_INVOICE_SCHEMA_V1 = (
    '{"vendor": string, "invoice_number": string, "date": "YYYY-MM-DD", "total": number,'
    ' "currency": "ISO 4217 code"}'
)
_INVOICE_SCHEMA_V2 = (
    '{"vendor": string, "invoice_number": string, "date": "YYYY-MM-DD", "currency": "ISO 4217'
    ' code", "line_items": [{"description": string, "quantity": number, "amount": number}],'
    ' "total": number}'
)
_EXTRACT = (
    (
        _chat(
            "Extract the invoice fields from the document and reply with JSON only, in this"
            f" shape: {_INVOICE_SCHEMA_V1}",
            "system",
        ),
        _chat("{invoice_text}", required=True),
    ),
    (
        _chat(
            "Extract the invoice fields from the document and reply with JSON only, in this"
            f" shape: {_INVOICE_SCHEMA_V2}\nAmounts are numbers without currency signs or"
            " thousands separators.",
            "system",
        ),
        _chat("{invoice_text}", required=True),
    ),
    (
        _chat(
            "Extract the invoice fields from the document and reply with JSON only, in this"
            f" shape: {_INVOICE_SCHEMA_V2}\nAmounts are numbers without currency signs or"
            " thousands separators. If the currency is not stated, use {default_currency}.",
            "system",
        ),
        _chat("Invoice received by Acme accounts payable:\n\n{invoice_text}", required=True),
    ),
)


def _cents(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _extract_context(rng: random.Random, ts: int) -> tuple[dict[str, Any], _Facts]:
    vendor, address, currency, items = pick(rng, VENDORS)
    day = datetime.fromtimestamp((ts - rng.randint(1, 20) * DAY_MS) // 1000, tz=UTC)
    number = f"INV-{day.year}-{rng.randint(100, 9999):04d}"
    date_text = pick(
        rng, (day.strftime("%Y-%m-%d"), day.strftime("%d/%m/%Y"), day.strftime("%B %d, %Y"))
    )
    chosen = rng.sample(items, rng.randint(1, len(items)))
    rows, line_items, subtotal = [], [], 0
    for description, unit in chosen:
        qty = rng.choice((10, 25, 40, 60, 100, 200, 500)) if unit < 500 else rng.randint(1, 12)
        amount = qty * unit
        subtotal += amount
        rows.append(f"{qty:>5}  {description:<34} {_cents(unit):>9} {_cents(amount):>11}")
        line_items.append((description, qty, amount))
    rate = {"SEK": 25, "EUR": 19, "GBP": 20, "USD": 0}[currency]
    tax = subtotal * rate // 100
    total = subtotal + tax
    show_currency = rng.random() < 0.85
    total_line = (
        f"TOTAL DUE {currency} {_cents(total)}" if show_currency else (f"TOTAL DUE {_cents(total)}")
    )
    text = "\n".join(
        [
            vendor,
            address,
            "",
            f"INVOICE No. {number}",
            f"Date: {date_text}        Payment terms: 30 days",
            "Bill to: Acme Outdoor Supply, Receiving Dock 3, 80 Mill Road, Bristol BS1 6AA",
            "",
            "  Qty  Description                         Unit price      Amount",
            *rows,
            "",
            f"Subtotal {_cents(subtotal)}",
            f"Tax ({rate}%) {_cents(tax)}" if rate else "Sales tax: exempt (resale certificate)",
            total_line,
        ]
    )
    context = {"invoice_text": text, "default_currency": currency if show_currency else "EUR"}
    facts = {
        "vendor": vendor,
        "number": number,
        "date": day.strftime("%Y-%m-%d"),
        "currency": currency,
        "total": total,
        "line_items": line_items,
    }
    return context, facts


def _extract_response(rng: random.Random, ctx: dict[str, Any], facts: _Facts, variant: int) -> str:
    if "invoice_text" not in ctx:
        return '{"error": "no invoice text was provided"}'
    currency = (
        facts["currency"]
        if f" {facts['currency']} " in ctx["invoice_text"]
        else (ctx.get("default_currency", "USD"))
    )
    parts = [
        f'"vendor": {json.dumps(facts["vendor"], ensure_ascii=False)}',
        f'"invoice_number": "{facts["number"]}"',
        f'"date": "{facts["date"]}"',
        f'"currency": "{currency}"',
    ]
    if variant >= 1:
        items = ", ".join(
            f'{{"description": {json.dumps(d)}, "quantity": {q}, "amount": {_cents(a)}}}'
            for d, q, a in facts["line_items"]
        )
        parts.append(f'"line_items": [{items}]')
    parts.append(f'"total": {_cents(facts["total"])}')
    return "{" + ", ".join(parts) + "}"


# ---- product-description

_DESCRIBE = (
    (
        _chat("You are a copywriter for Acme's online store for outdoor and home gear.", "system"),
        _chat(
            "Write a product description for {product_name} aimed at {audience}.\n"
            "Key features: {features}",
            required=True,
        ),
    ),
    (
        _chat(
            "You are a copywriter for Acme's online store for outdoor and home gear. Keep"
            " descriptions under 120 words, mention every key feature once and end with a"
            " short call to action. Write in a {tone} tone.",
            "system",
        ),
        _chat(
            "Product: {product_name}\nAudience: {audience}\nKey features: {features}",
            required=True,
        ),
    ),
)


def _describe_context(rng: random.Random, ts: int) -> tuple[dict[str, Any], _Facts]:
    name, features, price = pick(rng, PRODUCTS)
    chosen = rng.sample(features, rng.randint(2, len(features)))
    context = {
        "product_name": name,
        "audience": pick(rng, AUDIENCES),
        "features": ", ".join(chosen),
        "tone": pick(rng, TONES),
    }
    return context, {"features": chosen, "price": _money(price)}


def _describe_response(rng: random.Random, ctx: dict[str, Any], facts: _Facts, variant: int) -> str:
    name = ctx.get("product_name", "this product")
    audience = ctx.get("audience", "everyone")
    features = facts["features"]
    opener = pick(
        rng,
        (
            f"Meet the {name}, made for {audience}.",
            f"The {name} is built for {audience} who want gear that simply works.",
            f"Designed with {audience} in mind, the {name} keeps things simple.",
        ),
    )
    middle = f" With {', '.join(features[:-1])} and {features[-1]}, it is ready when you are."
    if variant >= 1:
        close = pick(rng, (" Order yours today.", " Add it to your cart now.", " Get yours today."))
        return opener + middle + close
    return opener + middle + f" Available now for {facts['price']}."


# ---- classify-intent (Acme)

_CLASSIFY = (
    (
        _chat(
            "Classify the customer message into exactly one of these labels: {labels}."
            " Reply with the label only.",
            "system",
        ),
        _chat("{message}", required=True),
    ),
    (
        _chat(
            "Classify the customer message into exactly one of these labels: {labels}.\n"
            'Reply with JSON only: {"label": string, "confidence": number between 0 and 1}',
            "system",
        ),
        _chat("{message}", required=True),
    ),
    (  # published to staging and deleted the next day: answers became long and slow
        _chat(
            "Classify the customer message into exactly one of these labels: {labels}.\n"
            "First explain your reasoning step by step, then give the label on the last line.",
            "system",
        ),
        _chat("{message}", required=True),
    ),
    (
        _chat(
            "Classify the customer message into exactly one of these labels: {labels}.\n"
            'If no label fits, use "other". The message arrived via {channel}.\n'
            'Reply with JSON only: {"label": string, "confidence": number between 0 and 1}',
            "system",
        ),
        _chat("{message}", required=True),
    ),
)


def _classify_context(rng: random.Random, ts: int) -> tuple[dict[str, Any], _Facts]:
    label = pick(rng, tuple(ACME_MESSAGES))
    name, features, _price = pick(rng, PRODUCTS)
    first, last = pick(rng, FIRST), pick(rng, LAST)
    message = pick(rng, ACME_MESSAGES[label]).format(
        product=name,
        when=pick(rng, WHEN),
        order_id=f"A-{rng.randint(100000, 999999)}",
        audience=pick(rng, AUDIENCES),
        feature=pick(rng, features),
        email=f"{first.lower()}.{last.lower().replace(chr(39), '')}@mail.example",
        city=pick(rng, CITIES),
    )
    if rng.random() < 0.5 and message[0].isupper() and not message.startswith("Hi"):
        # some people write letters, not chat lines
        extras = " ".join(rng.sample(EXTRA_SENTENCES[1:], rng.randint(1, 2)))
        message = f"Hello,\n\n{message} {extras}\n\nKind regards,\n{first} {last}"
    context = {"labels": ACME_LABELS, "message": message, "channel": pick(rng, CHANNELS)}
    return context, {"label": label}


def _classify_response(rng: random.Random, ctx: dict[str, Any], facts: _Facts, variant: int) -> str:
    label = facts["label"] if "message" in ctx else "other"
    confidence = f"0.{rng.randint(62, 99)}"
    if variant == 0:
        return label
    if variant == 2:
        return (
            f'The customer writes: "{ctx.get("message", "")[:60]}". This is mainly about'
            f" {label.replace('_', ' ')}, not a general question.\n{label}"
        )
    return f'{{"label": "{label}", "confidence": {confidence}}}'


# ---- sql-helper

_SQL = (
    (
        _chat("You write PostgreSQL queries. Use only these tables:\n{schema}", "system"),
        _chat("{question}", required=True),
    ),
    (
        _chat(
            "You write PostgreSQL queries. Use only these tables:\n{schema}\nReturn the query"
            " in a ```sql block followed by one sentence explaining it.",
            "system",
        ),
        _chat("{question}", required=True),
    ),
    (
        _chat(
            "You write read-only PostgreSQL queries (SELECT only, never modify data). Use only"
            " these tables:\n{schema}\nAdd LIMIT {row_limit} unless the question asks for an"
            " aggregate. Return the query in a ```sql block followed by one sentence"
            " explaining it.",
            "system",
        ),
        _chat("{question}", required=True),
    ),
    (
        _chat(
            "You write read-only {dialect} queries (SELECT only, never modify data). Use only"
            " these tables:\n{schema}\nAdd LIMIT {row_limit} unless the question asks for an"
            " aggregate. Return the query in a ```sql block followed by one sentence"
            " explaining it.",
            "system",
        ),
        _chat("Question from {requester}: {question}", required=True),
    ),
)


def _sql_context(rng: random.Random, ts: int) -> tuple[dict[str, Any], _Facts]:
    moment = datetime.fromtimestamp(ts // 1000, tz=UTC)
    year = moment.year
    # a past month: (month_year, month) and the month after it, for range bounds
    month_index = moment.year * 12 + moment.month - 1 - rng.randint(1, 12)
    month_year, month = divmod(month_index, 12)
    next_year, next_month = divmod(month_index + 1, 12)
    period = f"{MONTHS[month]} {month_year}"
    month_start = f"{month_year}-{month + 1:02d}-01"
    kind = rng.randrange(6)
    country = pick(rng, COUNTRIES)
    place = f"the {country}" if country in ("Netherlands", "United Kingdom") else country
    n = rng.choice((5, 10, 20))
    schema = SCHEMA_SALES
    if kind == 0:
        question = f"How many orders did we ship to {place} in {period}?"
        end = f"{next_year}-{next_month + 1:02d}-01"
        sql = (
            "SELECT count(*) AS shipped_orders\nFROM orders\n"
            f"WHERE ship_country = '{country}'\n"
            f"  AND shipped_at >= '{month_start}' AND shipped_at < '{end}'"
        )
        explain = f"Counts the orders shipped to {place} during {period}."
        aggregate = True
    elif kind == 1:
        question = f"What were our top {n} products by revenue in {year - 1}?"
        sql = (
            "SELECT p.name, sum(oi.quantity * oi.unit_price_cents) / 100.0 AS revenue\n"
            "FROM order_items oi\nJOIN orders o ON o.order_id = oi.order_id\n"
            "JOIN products p ON p.product_id = oi.product_id\n"
            f"WHERE o.placed_at >= '{year - 1}-01-01' AND o.placed_at < '{year}-01-01'\n"
            f"GROUP BY p.name\nORDER BY revenue DESC\nLIMIT {n}"
        )
        explain = f"Sums item revenue per product for {year - 1} and keeps the top {n}."
        aggregate = True
    elif kind == 2:
        k = rng.choice((3, 5, 10))
        question = f"Which customers from {place} placed more than {k} orders this year?"
        sql = (
            "SELECT c.customer_id, c.email, count(*) AS orders\nFROM customers c\n"
            "JOIN orders o ON o.customer_id = c.customer_id\n"
            f"WHERE c.country = '{country}' AND o.placed_at >= '{year}-01-01'\n"
            f"GROUP BY c.customer_id, c.email\nHAVING count(*) > {k}"
        )
        explain = f"Groups {year} orders by customer in {place} and keeps those above {k}."
        aggregate = False
    elif kind == 3:
        amount = rng.choice((200, 500, 1000))
        question = f"List orders over €{amount} that have not shipped yet."
        sql = (
            "SELECT order_id, customer_id, placed_at, total_cents / 100.0 AS total\n"
            f"FROM orders\nWHERE shipped_at IS NULL AND total_cents > {amount * 100}\n"
            "ORDER BY placed_at"
        )
        explain = f"Finds unshipped orders whose total is above {amount} euros, oldest first."
        aggregate = False
    elif kind == 4:
        schema = SCHEMA_SUPPORT
        question = f"What is the average CSAT score per channel for {period}?"
        sql = (
            "SELECT t.channel, round(avg(s.score), 2) AS avg_csat\nFROM tickets t\n"
            "JOIN csat s ON s.ticket_id = t.ticket_id\n"
            f"WHERE date_trunc('month', t.opened_at) = '{month_start}'\n"
            "GROUP BY t.channel"
        )
        explain = f"Averages survey scores by ticket channel for {period}."
        aggregate = True
    else:
        schema = SCHEMA_SUPPORT
        agent = pick(rng, AGENTS)
        question = f"Show the open tickets assigned to {agent}, oldest first."
        sql = (
            "SELECT ticket_id, customer_id, opened_at, intent\nFROM tickets\n"
            f"WHERE agent = '{agent}' AND closed_at IS NULL\nORDER BY opened_at"
        )
        explain = f"Lists {agent}'s tickets that are still open, oldest first."
        aggregate = False
    context = {
        "schema": schema,
        "question": question,
        "row_limit": rng.choice((100, 200, 500)),
        "dialect": pick(rng, ("PostgreSQL 15", "PostgreSQL 16")),
        "requester": pick(rng, ("finance", "the growth team", "customer support", "ops")),
    }
    return context, {"sql": sql, "explain": explain, "aggregate": aggregate}


def _sql_response(rng: random.Random, ctx: dict[str, Any], facts: _Facts, variant: int) -> str:
    sql = facts["sql"]
    if variant >= 2 and not facts["aggregate"] and "LIMIT" not in sql:
        sql += f"\nLIMIT {ctx.get('row_limit', 100)}"
    if variant == 0:
        return sql + ";"
    return f"```sql\n{sql};\n```\n{facts['explain']}"


# ---- Globex: classify-intent and lab-notes-summary

_GLOBEX_CLASSIFY = (
    (
        _chat(
            "You triage messages sent to the Globex Labs facilities desk. Answer with one"
            " label from: {labels}.",
            "system",
        ),
        _chat("{message}", required=True),
    ),
    (
        _chat(
            "You triage messages sent to the Globex Labs facilities desk. Answer with one"
            " label from: {labels}. Anything that could injure someone is safety_incident,"
            " even if it is also an equipment fault.",
            "system",
        ),
        _chat("Message from {sender}:\n{message}", required=True),
    ),
)


def _globex_classify_context(rng: random.Random, ts: int) -> tuple[dict[str, Any], _Facts]:
    label = pick(rng, tuple(GLOBEX_MESSAGES))
    message = pick(rng, GLOBEX_MESSAGES[label]).format(
        lab=pick(rng, LABS),
        temp=-rng.randint(55, 72),
        unit=f"CF-{rng.randint(1, 9)}",
        compound=pick(rng, COMPOUNDS),
        experiment_id=f"EXP-{rng.randint(1000, 9999)}",
        weekday=pick(rng, WEEKDAYS),
    )
    context = {"labels": GLOBEX_LABELS, "message": message, "sender": _person(rng)}
    return context, {"label": label}


def _globex_classify_response(
    rng: random.Random, ctx: dict[str, Any], facts: _Facts, variant: int
) -> str:
    return facts["label"] if "message" in ctx else "other"


_LAB_NOTES = (
    (
        _chat("Summarize these lab notes in five sentences or fewer.", "system"),
        _chat("Experiment {experiment_id}\n\n{notes}", required=True),
    ),
    (
        _chat(
            "Summarize these lab notes for {audience}. Lead with the outcome, then deviations"
            " from the protocol, then open questions. Keep sample ids and temperatures exact.",
            "system",
        ),
        _chat("Experiment {experiment_id}\n\n{notes}", required=True),
    ),
)


def _lab_context(rng: random.Random, ts: int) -> tuple[dict[str, Any], _Facts]:
    compound = pick(rng, COMPOUNDS)
    samples = rng.randint(4, 12)
    temp = rng.choice((4, 25, 37, 42))
    conc = rng.choice((5, 10, 25, 50))
    failed = rng.randint(0, 2)
    lines = [
        f"08:{rng.randint(10, 59)} Prepared {samples} samples with {compound} at {conc} mM.",
        f"09:{rng.randint(10, 59)} Incubated at {temp} °C, shaker at 180 rpm.",
        f"11:{rng.randint(10, 59)} Took readings; plate reader calibration checked.",
    ]
    if failed:
        bad = sorted(rng.sample(range(1, samples + 1), failed))
        lines.append(
            f"13:{rng.randint(10, 59)} {' and '.join(f'S{i}' for i in bad)} showed"
            " precipitate, excluded from the analysis."
        )
    if rng.random() < 0.5:
        lines.append(
            f"14:{rng.randint(10, 59)} Incubator door found ajar for about"
            f" {rng.randint(3, 15)} minutes; temperature logged."
        )
    lines.append(
        f"16:{rng.randint(10, 59)} Results uploaded to the ELN. Next run on {pick(rng, WEEKDAYS)}."
    )
    experiment = f"EXP-{rng.randint(1000, 9999)}"
    context = {
        "experiment_id": experiment,
        "notes": "\n".join(lines),
        "audience": pick(rng, ("the lab manager", "the safety officer", "external partners")),
    }
    facts = {"compound": compound, "samples": samples, "temp": temp, "failed": failed}
    return context, facts


def _lab_response(rng: random.Random, ctx: dict[str, Any], facts: _Facts, variant: int) -> str:
    experiment = ctx.get("experiment_id", "this experiment")
    ok = facts["samples"] - facts["failed"]
    text = (
        f"{experiment}: {ok} of {facts['samples']} samples with {facts['compound']} were"
        f" incubated at {facts['temp']} °C and measured successfully."
    )
    if facts["failed"]:
        text += f" {facts['failed']} sample(s) were excluded because of precipitate."
    if variant >= 1:
        text += " Open question: whether the run should be repeated before the next batch."
    return text


FAMILIES: dict[str, Family] = {
    "support-reply": Family(
        "support-reply", 16000, 1500, None, _SUPPORT, _support_context, _support_response
    ),
    "summarize-call": Family(
        "summarize-call", 128000, 3000, None, _SUMMARIZE, _summarize_context, _summarize_response
    ),
    "extract-invoice": Family(
        "extract-invoice", 16000, 2000, 2000, _EXTRACT, _extract_context, _extract_response
    ),
    "product-description": Family(
        "product-description", 16000, 1000, 1000, _DESCRIBE, _describe_context,
        _describe_response,
    ),
    "classify-intent": Family(
        "classify-intent", 16000, 1000, None, _CLASSIFY, _classify_context, _classify_response
    ),
    "sql-helper": Family("sql-helper", 128000, 2000, None, _SQL, _sql_context, _sql_response),
    "globex/classify-intent": Family(
        "classify-intent", 16000, 1000, None, _GLOBEX_CLASSIFY, _globex_classify_context,
        _globex_classify_response,
    ),
    "lab-notes-summary": Family(
        "lab-notes-summary", 128000, 3000, None, _LAB_NOTES, _lab_context, _lab_response
    ),
}  # fmt: skip

"""The demo dataset the embedded local stack seeds: organisations, users, prompts and logs.

Everything is generated from ``(now_ms, seed)`` with a seeded ``random.Random``, so the same
arguments always give the same items (tests compare JSON dumps). Nothing here talks to AWS:
the caller writes the items (and makes UserRoles items once Cognito has given each user a
``sub``, see :func:`user_role_items`).

Shapes follow PRODUCT.md §2. Prompt data is flow-prompt's ``PipePrompt.service_dump()`` shape
and loads with ``PipePrompt.service_load``; a log's ``request.messages`` are what flow-prompt
0.1.31 resolves from that prompt and the log's context (every demo prompt fits its budget).
Numbers are ``int`` or ``decimal.Decimal`` (boto3's DynamoDB serializer rejects ``float``).

A few logs are odd on purpose, the way other writers leave them: about 3% lack ``metrics``,
lack ``request``, or lack a context variable (the model saw a literal ``{name}``), and about
1% name a prompt version whose PromptHistory item was deleted (``classify-intent`` version 3
in Acme staging, rolled back a day after it was published).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from itertools import accumulate
from typing import Any

__all__ = [
    "DEMO_ENV_IDS",
    "DEMO_ORG_ID",
    "OTHER_ENV_IDS",
    "OTHER_ORG_ID",
    "DemoDataset",
    "DemoUser",
    "build_demo_dataset",
    "describe",
    "resolve_messages",
    "user_role_items",
]

DEMO_ORG_ID = "org-acme"
OTHER_ORG_ID = "org-globex"
ACME_STAGING = "env-acme-staging"
ACME_PROD = "env-acme-prod"
GLOBEX_PROD = "env-globex-prod"
DEMO_ENV_IDS: tuple[str, ...] = (ACME_STAGING, ACME_PROD)
OTHER_ENV_IDS: tuple[str, ...] = (GLOBEX_PROD,)

LOG_SOURCE = "production"
WINDOW_DAYS = 30
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

# Share of logs per environment; the last one takes the remainder.
_ENV_SHARES: tuple[tuple[str, Decimal], ...] = (
    (ACME_PROD, Decimal("0.6")),
    (ACME_STAGING, Decimal("0.3")),
    (GLOBEX_PROD, Decimal("0.1")),
)
_ODD_SHARE = Decimal("0.03")
_DELETED_VERSION_SHARE = Decimal("0.01")
_ODD_KINDS = ("no_metrics", "no_request", "missing_variable")


# --------------------------------------------------------------------------- public shapes


@dataclass(frozen=True)
class DemoUser:
    email: str
    password: str
    name: str
    memberships: tuple[tuple[str, str], ...]  # (org_id, role)


@dataclass(frozen=True)
class DemoDataset:
    organizations: list[dict[str, Any]]
    environments: list[dict[str, Any]]
    users: list[DemoUser]
    prompt_history: list[dict[str, Any]]
    latest_prompts: list[dict[str, Any]]
    logs: list[dict[str, Any]]
    behaviours: list[dict[str, Any]]


def user_role_items(user: DemoUser, sub: str) -> list[dict[str, str]]:
    """UserRoles items for ``user`` once Cognito has given it the id ``sub``."""
    if not sub:
        raise ValueError("sub must be the user's non-empty Cognito sub")
    return [{"user_id": sub, "org_id": org_id, "role": role} for org_id, role in user.memberships]


# --------------------------------------------------------------------------- fixed parts

_ORGS = (
    (DEMO_ORG_ID, "Acme Research", 412),  # created this many days before now
    (OTHER_ORG_ID, "Globex Labs", 198),
)

_ENVIRONMENTS = (
    (DEMO_ORG_ID, "staging", ACME_STAGING),
    (DEMO_ORG_ID, "production", ACME_PROD),
    (OTHER_ORG_ID, "production", GLOBEX_PROD),
)

_USERS = (
    DemoUser("alice@acme.example", "Demo-Alice-2026!", "Alice Moreau", ((DEMO_ORG_ID, "admin"),)),
    DemoUser("bob@acme.example", "Demo-Bob-2026!", "Bob Okafor", ((DEMO_ORG_ID, "member"),)),
    DemoUser(
        "mallory@globex.example",
        "Demo-Mallory-2026!",
        "Mallory Nowak",
        ((OTHER_ORG_ID, "admin"),),
    ),
    DemoUser(
        "erin@consulting.example",
        "Demo-Erin-2026!",
        "Erin Castellanos",
        ((DEMO_ORG_ID, "member"), (OTHER_ORG_ID, "member")),
    ),
)


def _behaviours() -> list[dict[str, Any]]:
    gpt4_turbo = {
        "provider": "azure",
        "realm": "westus",
        "deployment_name": "gpt-4-turbo",
        "max_tokens": 128000,
        "support_functions": True,
    }
    mini = {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": 128000}
    gpt4o = {
        "provider": "azure",
        "realm": "westus",
        "deployment_name": "gpt-4o",
        "max_tokens": 128000,
    }
    return [
        {
            "name": "default",
            "spec": {
                "attempts": [{"ai_model": gpt4_turbo, "weight": 100}],
                "fallback_attempt": None,
            },
        },
        {
            "name": "gpt-4o-mini",
            "spec": {
                "attempts": [{"ai_model": dict(mini), "weight": 100}],
                "fallback_attempt": None,
            },
        },
        {
            "name": "azure-with-fallback",
            "spec": {
                "attempts": [
                    {"ai_model": dict(gpt4_turbo), "weight": 70},
                    {"ai_model": gpt4o, "weight": 30},
                ],
                "fallback_attempt": {"ai_model": dict(mini), "weight": 100},
            },
        },
    ]


# The models that served the logged calls, with prices per 1k tokens (prompt, sample) as
# flow-prompt 0.1.31 prices them.
_MODELS: dict[str, tuple[dict[str, str], Decimal, Decimal, int, int]] = {
    # name: (ai_model_details, price in, price out, base latency ms, ms per sampled token)
    "azure-gpt-4-turbo": (
        {"realm": "westus", "deployment_id": "gpt-4-turbo", "family": "GPT-4", "provider": "azure"},
        Decimal("0.01"),
        Decimal("0.03"),
        650,
        22,
    ),
    "azure-gpt-4o": (
        {"realm": "westus", "deployment_id": "gpt-4o", "family": "GPT-4o", "provider": "azure"},
        Decimal("0.005"),
        Decimal("0.015"),
        480,
        12,
    ),
    "openai-gpt-4o-mini": (
        {"model": "gpt-4o-mini", "family": "GPT-4o-mini", "provider": "openai"},
        Decimal("0.00015"),
        Decimal("0.0006"),
        400,
        8,
    ),
}
_MODEL_MIX: dict[str, tuple[tuple[str, int], ...]] = {
    ACME_PROD: (("azure-gpt-4-turbo", 70), ("azure-gpt-4o", 12), ("openai-gpt-4o-mini", 18)),
    ACME_STAGING: (("azure-gpt-4-turbo", 45), ("azure-gpt-4o", 15), ("openai-gpt-4o-mini", 40)),
    GLOBEX_PROD: (("openai-gpt-4o-mini", 70), ("azure-gpt-4-turbo", 30)),
}
_MODEL_SAMPLE_CAP = 4096  # flow-prompt's OpenAIModel.max_sample_budget (C_4K)


# --------------------------------------------------------------------------- word lists

_FIRST = (
    "Maria", "James", "Aisha", "Chen", "Lukas", "Sofia", "Mateo", "Priya", "Olivia", "Kwame",
    "Hannah", "Diego", "Yuki", "Noah", "Fatima", "Liam", "Elena", "Omar", "Grace", "Tomasz",
    "Amara", "Jonas", "Isabel", "Ravi", "Chloe", "Mohammed", "Ingrid", "Samuel", "Leila", "Kenji",
)  # fmt: skip
_LAST = (
    "Garcia", "Smith", "Khan", "Wang", "Müller", "Rossi", "Fernández", "Patel", "Johnson",
    "Mensah", "Schmidt", "López", "Tanaka", "Brown", "Haddad", "O'Connor", "Petrova", "Nasser",
    "Kim", "Nowak", "Okafor", "Berg", "Costa", "Iyer", "Dubois", "Ali", "Larsen", "Adeyemi",
)  # fmt: skip
_AGENTS = ("Dana", "Marco", "Sven", "Ayumi", "Carlos", "Nadia", "Ben", "Ines")

_PRODUCTS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("TrailLite 2 Tent", ("2-person", "1.6 kg packed weight", "aluminium poles",
                          "3-season rating"), 24900),
    ("Summit 45L Backpack", ("adjustable torso length", "rain cover included",
                             "hydration sleeve", "recycled nylon shell"), 15900),
    ("AeroBrew Pour-Over Kettle", ("gooseneck spout", "built-in thermometer",
                                   "1 litre capacity", "works on induction"), 5900),
    ("Nimbus Down Jacket", ("800-fill responsibly sourced down", "packs into its own pocket",
                            "water-repellent shell"), 21900),
    ("Lumen 400 Headlamp", ("400 lumens", "USB-C rechargeable", "red night mode",
                            "IPX6 waterproof"), 4900),
    ("CozyNest Weighted Blanket", ("7 kg", "breathable bamboo cover",
                                   "machine-washable cover"), 12900),
    ("Ridge Hiking Boots", ("Vibram outsole", "waterproof membrane", "wide fit available"),
     18900),
    ("Harbor Cast-Iron Skillet", ("pre-seasoned", "26 cm", "oven safe to 260 °C"), 6900),
    ("Drift Inflatable Kayak", ("2-person", "drop-stitch floor", "pump and paddles included"),
     49900),
    ("Solace Sleep Pad", ("R-value 4.2", "self-inflating", "7.5 cm thick"), 11900),
    ("Glow Smart Desk Lamp", ("adjustable colour temperature", "wireless charging base",
                              "app control"), 7900),
    ("Pebble Bluetooth Speaker", ("12-hour battery", "IP67 dust and water proof",
                                  "stereo pairing"), 8900),
)  # fmt: skip
_AUDIENCES = (
    "first-time backpackers", "busy parents", "weekend campers", "coffee enthusiasts",
    "remote workers", "gift shoppers", "ultralight hikers", "students in their first flat",
)  # fmt: skip
_TONES = ("playful", "premium", "practical", "warm")
_WHEN = ("last Monday", "last week", "two weeks ago", "on the 3rd", "ten days ago", "on Friday")
_EVENTS = ("my trip on the 20th", "my daughter's birthday", "a hiking weekend", "Christmas")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
_EXTRA_SENTENCES = (
    "I've been a customer for {years} years and this is the first time something like this"
    " happened.",
    "Thanks in advance for your help.",
    "I already tried the live chat but it disconnected twice.",
    "Please get back to me soon, this is the second email I'm sending about this.",
    "My phone number is on the account if a call is easier.",
    "Honestly I'm quite disappointed, I recommended you to all my friends.",
    "I attached a photo of the packing slip.",
)

# (kind, subject, body, core of the reply)
_TICKETS: tuple[tuple[str, str, str, str], ...] = (
    (
        "late",
        "Where is my order {order_id}?",
        "Hi, I ordered the {product} {when} and the tracking page has said 'in transit' for"
        " {days} days now. I need it before {event}. Can you check what's going on?",
        "I checked order {order_id}: the {product} left our warehouse {when} and the carrier"
        " shows it at their regional depot. I've opened a trace with them and will email you"
        " an update within 24 hours, so it can still reach you before {event}.",
    ),
    (
        "damaged",
        "{product} arrived damaged",
        "The {product} from order {order_id} arrived today with {damage}. The box itself"
        " looked fine. I'd like a replacement rather than a refund if possible.",
        "I'm sorry the {product} arrived with {damage}. I've started a free replacement for"
        " order {order_id}; it ships within two business days and you don't need to send the"
        " damaged one back first.",
    ),
    (
        "double_charge",
        "Charged twice for order {order_id}",
        "My card statement shows two charges of {amount} for order {order_id}, both on"
        " {weekday}. I only placed one order. Please refund the duplicate.",
        "You're right, I can see two authorisations of {amount} for order {order_id}. The"
        " second one is a pending hold that our payment provider releases within 3 to 5"
        " business days; if it is still there after that, reply here and we'll refund it"
        " manually.",
    ),
    (
        "return",
        "How do I return the {product}?",
        "I bought the {product} {when} but it isn't right for me ({reason}). Order"
        " {order_id}. How do I send it back and how long does the refund take?",
        "You can return the {product} within 60 days: go to acme.example/returns, enter order"
        " {order_id} and print the free label. The refund of {amount} reaches your card 5 to 7"
        " business days after the parcel arrives at our warehouse.",
    ),
    (
        "promo",
        "Discount code {code} not accepted",
        "I tried to use the code {code} on order {order_id} but checkout said it had expired."
        " The newsletter said it's valid until the end of the month. Could you still apply"
        " the discount?",
        "Code {code} should have worked for order {order_id}, so"
        " I've applied the 15% discount manually and refunded {discount} to your original"
        " payment method.",
    ),
    (
        "address",
        "Change delivery address for {order_id}",
        "I just moved and realised order {order_id} ({product}) is going to my old address."
        " The new one is {address}. Is it too late to change it?",
        "Good news: order {order_id} hasn't shipped yet, so I've changed the delivery address"
        " to {address}. You'll get a new confirmation email within the hour.",
    ),
)
_DAMAGES = (
    "a cracked handle", "a torn seam along the side", "a dent in the lid",
    "two missing poles", "a scratched lens", "a broken zip",
)  # fmt: skip
_RETURN_REASONS = ("too small", "the colour is different from the photos", "too heavy for me")
_STREETS = ("Elm Street", "Harbour Road", "Linden Allee", "Rue des Lilas", "Calle Mayor")
_CITIES = ("Leeds", "Hamburg", "Lyon", "Valencia", "Rotterdam", "Gdansk")

_ACCOUNTS = (
    "Northwind Outfitters", "Bluepeak Sports", "Cedar & Pine Retail", "Harbor Camping Co.",
    "Trailhead Rentals", "Alpine Works", "Fjord & Field", "Canyon Supply",
)  # fmt: skip
_LANGUAGES = (("English", 70), ("German", 15), ("Spanish", 15))

_VENDORS: tuple[tuple[str, str, str, tuple[tuple[str, int], ...]], ...] = (
    # name, address, currency, (item, unit price in cents)
    ("Nordic Fabrics AB", "Sveavägen 44, 113 59 Stockholm, Sweden", "SEK",
     (("Ripstop nylon 40D, per metre", 6400), ("Polyester mesh, per metre", 3100),
      ("Seam tape roll, 50 m", 21900))),
    ("Pacific Zipper Co.", "1820 Harbor Blvd, Oakland, CA 94607, USA", "USD",
     (("#5 coil zipper, 60 cm", 42), ("#8 two-way zipper, 90 cm", 118),
      ("Zipper pulls, glow-in-the-dark", 19))),
    ("Greenleaf Packaging Ltd", "Unit 7, Riverside Park, Leeds LS10 1AB, UK", "GBP",
     (("Recycled shipping box, medium", 74), ("Paper void fill, roll", 1650),
      ("Compostable mailer bag", 21))),
    ("Helix Logistics GmbH", "Am Hafen 12, 20457 Hamburg, Germany", "EUR",
     (("Pallet storage, per week", 450), ("Pick and pack, per order", 185),
      ("Express handling surcharge", 1200))),
    ("Keystone Metalworks Inc.", "55 Foundry Lane, Pittsburgh, PA 15222, USA", "USD",
     (("Aluminium tent pole set", 1275), ("Cast-iron skillet blank, 26 cm", 830),
      ("Stainless kettle body", 960))),
)  # fmt: skip
_CURRENCY_SIGNS = {"USD": "$", "GBP": "£", "EUR": "€", "SEK": "kr"}

_ACME_LABELS = "order_status, refund_request, product_question, complaint, account_access, other"
_ACME_MESSAGES: dict[str, tuple[str, ...]] = {
    "order_status": (
        "hey where is my {product}?? ordered {when}, order {order_id}",
        "Hi, can you tell me when order {order_id} will arrive? Tracking hasn't updated.",
    ),
    "refund_request": (
        "I returned the {product} {when} and still have no refund. Order {order_id}.",
        "Please refund order {order_id}, the {product} never arrived and I gave up waiting.",
    ),
    "product_question": (
        "Is the {product} suitable for {audience}? Does it come with a warranty?",
        "Quick question: does the {product} have {feature}? The page isn't clear.",
    ),
    "complaint": (
        "Third time I'm writing. The {product} broke after two uses and nobody answers.",
        "Your courier left order {order_id} in the rain. The {product} box was soaked.",
    ),
    "account_access": (
        "I can't log in, the password reset email never arrives. My email is {email}.",
        "My account got locked after I changed my phone. How do I get back in?",
    ),
    "other": (
        "Do you have a physical store in {city}?",
        "Are you hiring for the warehouse in {city}?",
    ),
}
_CHANNELS = ("email", "live chat", "app review", "Instagram DM", "contact form")

_GLOBEX_LABELS = "equipment_fault, safety_incident, supply_request, scheduling, other"
_GLOBEX_MESSAGES: dict[str, tuple[str, ...]] = {
    "equipment_fault": (
        "The -80 freezer in lab {lab} is alarming again, display reads {temp} °C.",
        "Centrifuge {unit} in lab {lab} makes a grinding noise above 8,000 rpm.",
    ),
    "safety_incident": (
        "Small {compound} spill in lab {lab} fume hood 2, contained, nobody hurt.",
        "Eyewash station in lab {lab} has no water pressure.",
    ),
    "supply_request": (
        "We are down to two boxes of nitrile gloves (size M) in lab {lab}.",
        "Please order 500 g of {compound} for experiment {experiment_id}.",
    ),
    "scheduling": (
        "Can I book the confocal microscope on {weekday} from 9 to 12 for {experiment_id}?",
        "Need to move the {weekday} group meeting, half the team is at the conference.",
    ),
    "other": (
        "Does anyone know who has the key for the storage room next to lab {lab}?",
        "Is the cafeteria open during the inventory week?",
    ),
}
_COMPOUNDS = ("sodium azide", "acetonitrile", "tris buffer", "ethidium bromide", "DMSO")
_LABS = ("B2", "B4", "C1", "C7", "D3")

_SCHEMA_SALES = """\
orders(order_id text primary key, customer_id int, placed_at timestamptz,
       shipped_at timestamptz, ship_country text, status text, total_cents int)
order_items(order_id text, product_id int, quantity int, unit_price_cents int)
products(product_id int primary key, name text, category text, launched_on date)
customers(customer_id int primary key, email text, country text, created_at timestamptz)"""
_SCHEMA_SUPPORT = """\
tickets(ticket_id int primary key, customer_id int, opened_at timestamptz,
        closed_at timestamptz, channel text, intent text, agent text)
customers(customer_id int primary key, email text, country text, created_at timestamptz)
csat(ticket_id int, score int, answered_at timestamptz)"""
_COUNTRIES = ("Germany", "France", "Spain", "United Kingdom", "Netherlands", "Poland", "Sweden")
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip


# --------------------------------------------------------------------------- prompts


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
class _Family:
    """A prompt and its drafts: variant i is the i-th wording the team published."""

    prompt_id: str
    max_tokens: int
    min_sample_tokens: int
    reserved_tokens_budget_for_sampling: int | None
    variants: tuple[tuple[dict[str, Any], ...], ...]
    make_context: _ContextMaker
    make_response: _ResponseMaker


_VAR = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _variables(chats: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> list[str]:
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


def _pick(rng: random.Random, options: tuple[Any, ...] | list[Any]) -> Any:
    return options[rng.randrange(len(options))]


def _person(rng: random.Random) -> str:
    return f"{_pick(rng, _FIRST)} {_pick(rng, _LAST)}"


def _money(cents: int, currency: str = "EUR") -> str:
    sign = _CURRENCY_SIGNS.get(currency, "")
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
    product, _features, price = _pick(rng, _PRODUCTS)
    kind, subject, body, reply = _pick(rng, _TICKETS)
    values = {
        "order_id": f"A-{rng.randint(100000, 999999)}",
        "product": product,
        "when": _pick(rng, _WHEN),
        "days": rng.randint(4, 12),
        "event": _pick(rng, _EVENTS),
        "damage": _pick(rng, _DAMAGES),
        "amount": _money(price),
        "weekday": _pick(rng, _WEEKDAYS),
        "reason": _pick(rng, _RETURN_REASONS),
        "code": f"{_pick(rng, ('SPRING', 'TRAIL', 'WELCOME', 'CAMP'))}{rng.randint(10, 30)}",
        "discount": _money(price * 15 // 100),
        "address": f"{rng.randint(2, 180)} {_pick(rng, _STREETS)}, {_pick(rng, _CITIES)}",
        "years": rng.randint(2, 9),
    }
    text = body.format(**values)
    extras = rng.sample(_EXTRA_SENTENCES, rng.choice((0, 0, 1, 1, 2, 3)))
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
        "agent_name": _pick(rng, _AGENTS),
        "history": history,
    }
    return context, {"kind": kind, "reply": reply.format(**values)}


def _support_response(rng: random.Random, ctx: dict[str, Any], facts: _Facts, variant: int) -> str:
    first = _first_name(ctx.get("customer_name"))
    opening = _pick(
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
    "English": dict(zip(_WEEKDAYS, _WEEKDAYS, strict=True)),
    "German": dict(
        zip(_WEEKDAYS, ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag"), strict=True)
    ),
    "Spanish": dict(
        zip(_WEEKDAYS, ("lunes", "martes", "miércoles", "jueves", "viernes"), strict=True)
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
    account = _pick(rng, _ACCOUNTS)
    agent = _pick(rng, _AGENTS)
    language = rng.choices([n for n, _ in _LANGUAGES], [w for _, w in _LANGUAGES])[0]
    values = {
        "cfirst": customer.split()[0],
        "product": _pick(rng, _PRODUCTS)[0],
        "season": _pick(rng, ("spring", "summer", "autumn", "the holiday season")),
        "weeks": rng.randint(2, 6),
        "qty": rng.choice((120, 150, 200, 240, 300, 500)),
        "stock": rng.randint(300, 900),
        "weekday": _pick(rng, _WEEKDAYS),
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
        at = _pick(rng, [i for i in range(1, len(lines) + 1) if not lines[i - 1][1].endswith("?")])
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
    vendor, address, currency, items = _pick(rng, _VENDORS)
    day = datetime.fromtimestamp((ts - rng.randint(1, 20) * DAY_MS) // 1000, tz=UTC)
    number = f"INV-{day.year}-{rng.randint(100, 9999):04d}"
    date_text = _pick(
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
    name, features, price = _pick(rng, _PRODUCTS)
    chosen = rng.sample(features, rng.randint(2, len(features)))
    context = {
        "product_name": name,
        "audience": _pick(rng, _AUDIENCES),
        "features": ", ".join(chosen),
        "tone": _pick(rng, _TONES),
    }
    return context, {"features": chosen, "price": _money(price)}


def _describe_response(rng: random.Random, ctx: dict[str, Any], facts: _Facts, variant: int) -> str:
    name = ctx.get("product_name", "this product")
    audience = ctx.get("audience", "everyone")
    features = facts["features"]
    opener = _pick(
        rng,
        (
            f"Meet the {name}, made for {audience}.",
            f"The {name} is built for {audience} who want gear that simply works.",
            f"Designed with {audience} in mind, the {name} keeps things simple.",
        ),
    )
    middle = f" With {', '.join(features[:-1])} and {features[-1]}, it is ready when you are."
    if variant >= 1:
        close = _pick(
            rng, (" Order yours today.", " Add it to your cart now.", " Get yours today.")
        )
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
    label = _pick(rng, tuple(_ACME_MESSAGES))
    name, features, _price = _pick(rng, _PRODUCTS)
    first, last = _pick(rng, _FIRST), _pick(rng, _LAST)
    message = _pick(rng, _ACME_MESSAGES[label]).format(
        product=name,
        when=_pick(rng, _WHEN),
        order_id=f"A-{rng.randint(100000, 999999)}",
        audience=_pick(rng, _AUDIENCES),
        feature=_pick(rng, features),
        email=f"{first.lower()}.{last.lower().replace(chr(39), '')}@mail.example",
        city=_pick(rng, _CITIES),
    )
    if rng.random() < 0.5 and message[0].isupper() and not message.startswith("Hi"):
        # some people write letters, not chat lines
        extras = " ".join(rng.sample(_EXTRA_SENTENCES[1:], rng.randint(1, 2)))
        message = f"Hello,\n\n{message} {extras}\n\nKind regards,\n{first} {last}"
    context = {"labels": _ACME_LABELS, "message": message, "channel": _pick(rng, _CHANNELS)}
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
    period = f"{_MONTHS[month]} {month_year}"
    month_start = f"{month_year}-{month + 1:02d}-01"
    kind = rng.randrange(6)
    country = _pick(rng, _COUNTRIES)
    place = f"the {country}" if country in ("Netherlands", "United Kingdom") else country
    n = rng.choice((5, 10, 20))
    schema = _SCHEMA_SALES
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
        schema = _SCHEMA_SUPPORT
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
        schema = _SCHEMA_SUPPORT
        agent = _pick(rng, _AGENTS)
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
        "dialect": _pick(rng, ("PostgreSQL 15", "PostgreSQL 16")),
        "requester": _pick(rng, ("finance", "the growth team", "customer support", "ops")),
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
    label = _pick(rng, tuple(_GLOBEX_MESSAGES))
    message = _pick(rng, _GLOBEX_MESSAGES[label]).format(
        lab=_pick(rng, _LABS),
        temp=-rng.randint(55, 72),
        unit=f"CF-{rng.randint(1, 9)}",
        compound=_pick(rng, _COMPOUNDS),
        experiment_id=f"EXP-{rng.randint(1000, 9999)}",
        weekday=_pick(rng, _WEEKDAYS),
    )
    context = {"labels": _GLOBEX_LABELS, "message": message, "sender": _person(rng)}
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
    compound = _pick(rng, _COMPOUNDS)
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
        f"16:{rng.randint(10, 59)} Results uploaded to the ELN. Next run on"
        f" {_pick(rng, _WEEKDAYS)}."
    )
    experiment = f"EXP-{rng.randint(1000, 9999)}"
    context = {
        "experiment_id": experiment,
        "notes": "\n".join(lines),
        "audience": _pick(rng, ("the lab manager", "the safety officer", "external partners")),
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


_FAMILIES: dict[str, _Family] = {
    "support-reply": _Family(
        "support-reply", 16000, 1500, None, _SUPPORT, _support_context, _support_response
    ),
    "summarize-call": _Family(
        "summarize-call", 128000, 3000, None, _SUMMARIZE, _summarize_context, _summarize_response
    ),
    "extract-invoice": _Family(
        "extract-invoice", 16000, 2000, 2000, _EXTRACT, _extract_context, _extract_response
    ),
    "product-description": _Family(
        "product-description", 16000, 1000, 1000, _DESCRIBE, _describe_context,
        _describe_response,
    ),
    "classify-intent": _Family(
        "classify-intent", 16000, 1000, None, _CLASSIFY, _classify_context, _classify_response
    ),
    "sql-helper": _Family("sql-helper", 128000, 2000, None, _SQL, _sql_context, _sql_response),
    "globex/classify-intent": _Family(
        "classify-intent", 16000, 1000, None, _GLOBEX_CLASSIFY, _globex_classify_context,
        _globex_classify_response,
    ),
    "lab-notes-summary": _Family(
        "lab-notes-summary", 128000, 3000, None, _LAB_NOTES, _lab_context, _lab_response
    ),
}  # fmt: skip

# Per environment: family key -> (popularity weight, ((days ago, variant), ...)).
# Staging gets each wording a day or two before production, sometimes one more.
_DELETED = (ACME_STAGING, "classify-intent", "3")  # (env, prompt, version) with no history item
_PLAN: dict[str, dict[str, tuple[int, tuple[tuple[int, int], ...]]]] = {
    ACME_STAGING: {
        "support-reply": (22, ((34, 0), (17, 1), (4, 2))),
        "summarize-call": (14, ((33, 0), (21, 1), (9, 2))),
        "extract-invoice": (16, ((35, 0), (19, 1), (6, 2))),
        "product-description": (12, ((32, 0), (15, 1))),
        "classify-intent": (20, ((34, 0), (20, 1), (10, 2), (9, 3))),
        "sql-helper": (16, ((31, 0), (16, 1), (5, 2), (2, 3))),
    },
    ACME_PROD: {
        "support-reply": (30, ((33, 0), (15, 1))),
        "summarize-call": (14, ((32, 0), (20, 1), (7, 2))),
        "extract-invoice": (13, ((34, 0), (17, 1), (5, 2))),
        "product-description": (8, ((31, 0), (13, 1))),
        "classify-intent": (25, ((33, 0), (18, 1), (7, 3))),
        "sql-helper": (10, ((31, 0), (14, 1), (3, 2))),
    },
    GLOBEX_PROD: {
        "globex/classify-intent": (60, ((36, 0), (11, 1))),
        "lab-notes-summary": (40, ((40, 0), (8, 1))),
    },
}


# --------------------------------------------------------------------------- generation


@dataclass(frozen=True)
class _Version:
    env_id: str
    prompt_id: str
    number: str
    created_tms: int
    variant: int
    prompt: dict[str, Any]
    variables: tuple[str, ...]
    deleted: bool


def _prompt_dump(family: _Family, variant: int, version: str) -> dict[str, Any]:
    return {
        "prompt_id": family.prompt_id,
        "max_tokens": family.max_tokens,
        "min_sample_tokens": family.min_sample_tokens,
        "reserved_tokens_budget_for_sampling": family.reserved_tokens_budget_for_sampling,
        "chats": [dict(chat) for chat in family.variants[variant]],
        "version": version,
    }


def _prompt_digest(prompt: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(prompt, sort_keys=True).encode()).hexdigest()


def _copy_prompt(prompt: dict[str, Any]) -> dict[str, Any]:
    return {**prompt, "chats": [dict(chat) for chat in prompt["chats"]]}


def _day_start(ms: int) -> int:
    return ms - ms % DAY_MS


def _hour_weight(ms: int) -> int:
    moment = datetime.fromtimestamp(ms // 1000, tz=UTC)
    hour, weekend = moment.hour, moment.weekday() >= 5
    if weekend:
        return 3 if 9 <= hour < 20 else 1
    if 9 <= hour < 17:
        return 20
    if 7 <= hour < 9 or 17 <= hour < 21:
        return 8
    return 2


class _TimeSampler:
    """Draws millisecond timestamps in [lo, hi), busier on weekday business hours (UTC)."""

    def __init__(self, lo: int, hi: int) -> None:
        self.starts: list[int] = []
        self.lengths: list[int] = []
        weights: list[int] = []
        t = lo
        while t < hi:
            end = min(hi, t - t % HOUR_MS + HOUR_MS)
            self.starts.append(t)
            self.lengths.append(end - t)
            weights.append(_hour_weight(t) * (end - t))
            t = end
        self.cum = list(accumulate(weights))
        self.buckets = range(len(self.starts))

    def draw(self, rng: random.Random, k: int) -> list[int]:
        picks = rng.choices(self.buckets, cum_weights=self.cum, k=k)
        return [self.starts[i] + rng.randrange(self.lengths[i]) for i in picks]


def _shares(n: int, shares: tuple[tuple[str, Decimal], ...]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for key, share in shares[:-1]:
        counts[key] = int((share * n).to_integral_value())
    counts[shares[-1][0]] = n - sum(counts.values())
    return counts


def _versions(rng: random.Random, now_ms: int) -> dict[tuple[str, str], list[_Version]]:
    streams: dict[tuple[str, str], list[_Version]] = {}
    for env_id, plan in _PLAN.items():
        for key, (_weight, timeline) in plan.items():
            family = _FAMILIES[key]
            versions = []
            for number, (days_ago, variant) in enumerate(timeline, start=1):
                created = (
                    _day_start(now_ms - days_ago * DAY_MS)
                    + rng.randint(9, 16) * HOUR_MS
                    + rng.randrange(HOUR_MS)
                )
                version = str(number)
                prompt = _prompt_dump(family, variant, version)
                versions.append(
                    _Version(
                        env_id,
                        family.prompt_id,
                        version,
                        created,
                        variant,
                        prompt,
                        tuple(_variables(family.variants[variant])),
                        (env_id, family.prompt_id, version) == _DELETED,
                    )
                )
            streams[(env_id, key)] = versions
    return streams


def build_demo_dataset(now_ms: int, seed: int = 7, n_logs: int = 2400) -> DemoDataset:
    """The whole demo dataset; the same ``(now_ms, seed, n_logs)`` gives the same items."""
    if n_logs < 0:
        raise ValueError("n_logs must be zero or more")
    now_ms = int(now_ms)
    rng = random.Random(seed)
    streams = _versions(rng, now_ms)

    organizations = [
        {"org_id": org_id, "created_tms": _day_start(now_ms - days * DAY_MS), "name": name}
        for org_id, name, days in _ORGS
    ]
    environments = [
        {"org_id": org_id, "env_name": name, "env_id": env_id}
        for org_id, name, env_id in _ENVIRONMENTS
    ]
    prompt_history, latest_prompts = [], []
    for (env_id, _key), versions in streams.items():
        kept = [v for v in versions if not v.deleted]
        for v in kept:
            env_prompt = f"{env_id}#{v.prompt_id}"
            prompt_history.append(
                {
                    "env_id_prompt_id": env_prompt,
                    "version": v.number,
                    "env_id": env_id,
                    "prompt_id": v.prompt_id,
                    "prompt": _copy_prompt(v.prompt),
                    "created_tms": v.created_tms,
                    "env_id_prompt_id_hash_key": f"{env_prompt}#{_prompt_digest(v.prompt)}",
                }
            )
        newest = kept[-1]
        latest_prompts.append(
            {
                "env_id": env_id,
                "prompt_id": newest.prompt_id,
                "version": newest.number,
                "prompt": _copy_prompt(newest.prompt),
            }
        )

    logs = _logs(rng, now_ms, n_logs, streams)
    return DemoDataset(
        organizations=organizations,
        environments=environments,
        users=list(_USERS),
        prompt_history=prompt_history,
        latest_prompts=latest_prompts,
        logs=logs,
        behaviours=_behaviours(),
    )


def _logs(
    rng: random.Random,
    now_ms: int,
    n_logs: int,
    streams: dict[tuple[str, str], list[_Version]],
) -> list[dict[str, Any]]:
    start = now_ms - WINDOW_DAYS * DAY_MS
    sampler = _TimeSampler(start, now_ms)
    env_counts = _shares(n_logs, _ENV_SHARES)
    deleted_stream = (_DELETED[0], _DELETED[1])
    deleted_versions = streams[deleted_stream]
    gone = next(v for v in deleted_versions if v.deleted)
    gone_end = deleted_versions[deleted_versions.index(gone) + 1].created_tms
    n_deleted = min(
        int((_DELETED_VERSION_SHARE * n_logs).to_integral_value()), env_counts[_DELETED[0]]
    )

    # (stream, timestamp) for every log
    planned: list[tuple[tuple[str, str], int]] = []
    for env_id, count in env_counts.items():
        if env_id == _DELETED[0]:
            count -= n_deleted
        keys = list(_PLAN[env_id])
        weights = [_PLAN[env_id][k][0] for k in keys]
        chosen = rng.choices(keys, weights, k=count)
        for key, ts in zip(chosen, sampler.draw(rng, count), strict=True):
            stream = (env_id, key)
            # the deleted version's day only has the logs drawn for it below
            while stream == deleted_stream and gone.created_tms <= ts < gone_end:
                ts = sampler.draw(rng, 1)[0]
            planned.append((stream, ts))
    if n_deleted:
        for ts in _TimeSampler(gone.created_tms, gone_end).draw(rng, n_deleted):
            planned.append((deleted_stream, ts))

    # unique timestamps per (env, prompt) partition
    used: dict[tuple[str, str], set[int]] = {}
    unique: list[tuple[tuple[str, str], int]] = []
    for stream, ts in planned:
        seen = used.setdefault(stream, set())
        while ts in seen:
            ts = ts + 1 if ts + 1 < now_ms else ts - 1
        seen.add(ts)
        unique.append((stream, ts))
    unique.sort(key=lambda item: (item[1], item[0]))

    created = {stream: [v.created_tms for v in vs] for stream, vs in streams.items()}
    picked: list[tuple[tuple[str, str], int, _Version]] = []
    for stream, ts in unique:
        index = bisect.bisect_right(created[stream], ts) - 1
        picked.append((stream, ts, streams[stream][max(index, 0)]))

    candidates = [i for i, (_s, _t, v) in enumerate(picked) if not v.deleted]
    n_odd = min(int((_ODD_SHARE * n_logs).to_integral_value()), len(candidates))
    odd = {i: _ODD_KINDS[j % len(_ODD_KINDS)] for j, i in enumerate(rng.sample(candidates, n_odd))}

    return [
        _log_item(rng, stream, ts, version, odd.get(i))
        for i, (stream, ts, version) in enumerate(picked)
    ]


def _log_item(
    rng: random.Random,
    stream: tuple[str, str],
    ts: int,
    version: _Version,
    odd: str | None,
) -> dict[str, Any]:
    env_id, key = stream
    family = _FAMILIES[key]
    full, facts = family.make_context(rng, ts)
    context = {name: value for name, value in full.items() if name in version.variables}
    if odd == "missing_variable":
        plain = [name for name in version.variables if not isinstance(context.get(name), list)]
        del context[_pick(rng, plain)]
    prompt = _copy_prompt(version.prompt)
    messages = resolve_messages(prompt, context)
    content = family.make_response(rng, context, facts, version.variant)

    model = rng.choices(
        [name for name, _ in _MODEL_MIX[env_id]], [w for _, w in _MODEL_MIX[env_id]]
    )[0]
    details, price_in, price_out, base_ms, per_token_ms = _MODELS[model]
    prompt_tokens = sum(len(m["content"]) for m in messages) // 4 + 4 * len(messages) + 3
    sample_tokens = max(1, len(content) // 4 + rng.randint(0, 4))
    latency = base_ms + sample_tokens * per_token_ms + rng.randint(0, 900)
    if rng.random() < 0.04:
        latency += rng.randint(2000, 6000)  # a slow provider moment
    price = (
        Decimal(prompt_tokens) * price_in / 1000 + Decimal(sample_tokens) * price_out / 1000
    ).quantize(Decimal("0.00001"))
    reserved = family.reserved_tokens_budget_for_sampling
    item: dict[str, Any] = {
        "env_id_prompt_id": f"{env_id}#{family.prompt_id}",
        "timestamp": ts,
        "env_id": env_id,
        "prompt_id": family.prompt_id,
        "version": version.number,
        "context": context,
        "prompt": prompt,
        "response": {"content": content},
        "request": {
            "messages": messages,
            "max_tokens": min(_MODEL_SAMPLE_CAP, reserved or _MODEL_SAMPLE_CAP),
            "temperature": Decimal("0"),
            "top_p": Decimal("1"),
        },
        "metrics": {
            "latency": max(400, min(9000, latency)),
            "prompt_tokens_used": prompt_tokens,
            "sample_tokens_used": sample_tokens,
            "price_of_call": price,
            "ai_model_details": dict(details),
        },
        "source": LOG_SOURCE,
    }
    if odd == "no_metrics":
        del item["metrics"]
    elif odd == "no_request":
        del item["request"]
    return item


# --------------------------------------------------------------------------- summary


def describe(dataset: DemoDataset) -> str:
    """A short human summary of ``dataset``: counts per environment and prompt."""
    env_names = {e["env_id"]: (e["env_name"], e["org_id"]) for e in dataset.environments}
    org_names = {o["org_id"]: o["name"] for o in dataset.organizations}
    versions: dict[tuple[str, str], list[str]] = {}
    for item in dataset.prompt_history:
        versions.setdefault((item["env_id"], item["prompt_id"]), []).append(item["version"])
    per_prompt = Counter((log["env_id"], log["prompt_id"]) for log in dataset.logs)
    per_env = Counter(log["env_id"] for log in dataset.logs)
    lines = [
        f"Demo dataset: {len(dataset.organizations)} organisations,"
        f" {len(dataset.environments)} environments, {len(dataset.users)} users,"
        f" {len(dataset.prompt_history)} prompt versions, {len(dataset.logs)} logs,"
        f" {len(dataset.behaviours)} behaviours per environment",
    ]
    if dataset.logs:
        first = min(log["timestamp"] for log in dataset.logs)
        last = max(log["timestamp"] for log in dataset.logs)
        fmt = "%Y-%m-%d %H:%M UTC"
        lines.append(
            f"Logs from {datetime.fromtimestamp(first // 1000, tz=UTC).strftime(fmt)}"
            f" to {datetime.fromtimestamp(last // 1000, tz=UTC).strftime(fmt)}"
        )
    for env_id, (env_name, org_id) in env_names.items():
        prompts = sorted(p for e, p in versions if e == env_id)
        lines.append(
            f"  {env_id} ({org_names.get(org_id, org_id)} / {env_name}):"
            f" {per_env.get(env_id, 0)} logs, {len(prompts)} prompts"
        )
        for prompt_id in prompts:
            numbers = ", ".join(versions[(env_id, prompt_id)])
            lines.append(
                f"    {prompt_id:<22} versions {numbers:<12}"
                f" {per_prompt.get((env_id, prompt_id), 0):>5} logs"
            )
    known = {(item["env_id_prompt_id"], item["version"]) for item in dataset.prompt_history}
    odd: Counter[str] = Counter()
    for log in dataset.logs:
        odd["without metrics"] += "metrics" not in log
        odd["without request"] += "request" not in log
        names = _variables(log["prompt"]["chats"]) if isinstance(log.get("prompt"), dict) else []
        odd["with an unresolved variable"] += any(n not in log.get("context", {}) for n in names)
        odd["naming a deleted version"] += (log["env_id_prompt_id"], log["version"]) not in known
    lines.append("Odd logs, on purpose: " + ", ".join(f"{n} {what}" for what, n in odd.items()))
    lines.append("Users (email / password / orgs):")
    for user in dataset.users:
        orgs = ", ".join(f"{org}:{role}" for org, role in user.memberships)
        lines.append(f"  {user.email:<26} {user.password:<20} {orgs}")
    return "\n".join(lines)

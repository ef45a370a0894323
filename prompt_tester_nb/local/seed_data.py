"""The demo dataset the embedded local stack seeds: organisations, users, prompts and logs.

Everything is generated from ``(now_ms, seed)`` with a seeded ``random.Random``, so the same
arguments always give the same items (tests compare JSON dumps). Nothing here talks to AWS:
the caller writes the items (and makes UserRoles items once Cognito has given each user a
``sub``, see :func:`user_role_items`).

Shapes follow docs/design/tables.md. Prompt data is flow-prompt's ``PipePrompt.service_dump()`` shape
and loads with ``PipePrompt.service_load``; a log's ``request.messages`` are what flow-prompt
0.1.31 resolves from that prompt and the log's context (every demo prompt fits its budget).
Numbers are ``int`` or ``decimal.Decimal`` (boto3's DynamoDB serializer rejects ``float``).

A few logs are odd on purpose, the way other writers leave them: about 3% lack ``metrics``,
lack ``request``, or lack a context variable (the model saw a literal ``{name}``), and about
1% name a prompt version whose PromptHistory item was deleted (``classify-intent`` version 3
in Acme staging, rolled back a day after it was published).

The parts, by job: ``seed_vocabulary`` (the word lists), ``seed_prompts`` (the prompt
families: their wordings, and how a call's context and answer are drawn), and this module
(organisations, users, behaviours, the models that served the calls, each environment's
publishing plan, and the generation of versions and logs from them).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from itertools import accumulate
from typing import Any

from ..schema import env_prompt_key, prompt_hash_key
from .seed_prompts import FAMILIES, Family, pick, prompt_variables, resolve_messages

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
        {
            # the LLM judge of pt.scorers.judge/ideal/pairwise (behaviour="judge")
            "name": "judge",
            "spec": {
                "attempts": [{"ai_model": dict(gpt4o), "weight": 100}],
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


def _prompt_dump(family: Family, variant: int, version: str) -> dict[str, Any]:
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
            family = FAMILIES[key]
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
                        tuple(prompt_variables(family.variants[variant])),
                        (env_id, family.prompt_id, version) == _DELETED,
                    )
                )
            streams[(env_id, key)] = versions
    return streams


def approximate_sample_tokens(content: str) -> int:
    """About what flow-prompt records for an answer: the tokens of the answer message's JSON
    dump (roughly a token per 4 characters of text, plus the dump's ~45). The stack passes the
    exact count (``engine.flow_adapter.sample_tokens``); this keeps the module standard-only."""
    return len(content) // 4 + 45


def build_demo_dataset(
    now_ms: int,
    seed: int = 7,
    n_logs: int = 2400,
    sample_tokens: Callable[[str], int] = approximate_sample_tokens,
) -> DemoDataset:
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
            env_prompt = env_prompt_key(env_id, v.prompt_id)
            prompt_history.append(
                {
                    "env_id_prompt_id": env_prompt,
                    "version": v.number,
                    "env_id": env_id,
                    "prompt_id": v.prompt_id,
                    "prompt": _copy_prompt(v.prompt),
                    "created_tms": v.created_tms,
                    "env_id_prompt_id_hash_key": prompt_hash_key(
                        env_id, v.prompt_id, _prompt_digest(v.prompt)
                    ),
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

    logs = _logs(rng, now_ms, n_logs, streams, sample_tokens)
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
    sample_tokens: Callable[[str], int],
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
        _log_item(rng, stream, ts, version, odd.get(i), sample_tokens)
        for i, (stream, ts, version) in enumerate(picked)
    ]


def _log_item(
    rng: random.Random,
    stream: tuple[str, str],
    ts: int,
    version: _Version,
    odd: str | None,
    sample_tokens: Callable[[str], int],
) -> dict[str, Any]:
    env_id, key = stream
    family = FAMILIES[key]
    full, facts = family.make_context(rng, ts)
    context = {name: value for name, value in full.items() if name in version.variables}
    if odd == "missing_variable":
        plain = [name for name in version.variables if not isinstance(context.get(name), list)]
        del context[pick(rng, plain)]
    prompt = _copy_prompt(version.prompt)
    messages = resolve_messages(prompt, context)
    content = family.make_response(rng, context, facts, version.variant)

    model = rng.choices(
        [name for name, _ in _MODEL_MIX[env_id]], [w for _, w in _MODEL_MIX[env_id]]
    )[0]
    details, price_in, price_out, base_ms, per_token_ms = _MODELS[model]
    prompt_tokens = sum(len(m["content"]) for m in messages) // 4 + 4 * len(messages) + 3
    rng.randint(0, 4)  # a draw kept so that the data seeded after it stays the same
    # flow-prompt records the sample tokens of the answer message's JSON dump: seed the same
    answer_tokens = max(1, sample_tokens(content))
    latency = base_ms + answer_tokens * per_token_ms + rng.randint(0, 900)
    if rng.random() < 0.04:
        latency += rng.randint(2000, 6000)  # a slow provider moment
    price = (
        Decimal(prompt_tokens) * price_in / 1000 + Decimal(answer_tokens) * price_out / 1000
    ).quantize(Decimal("0.00001"))
    reserved = family.reserved_tokens_budget_for_sampling
    item: dict[str, Any] = {
        "env_id_prompt_id": env_prompt_key(env_id, family.prompt_id),
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
            "sample_tokens_used": answer_tokens,
            "price_of_call": price,
            "ai_model_details": dict(details),
        },
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
        names = (
            prompt_variables(log["prompt"]["chats"]) if isinstance(log.get("prompt"), dict) else []
        )
        odd["with an unresolved variable"] += any(n not in log.get("context", {}) for n in names)
        odd["naming a deleted version"] += (log["env_id_prompt_id"], log["version"]) not in known
    lines.append("Odd logs, on purpose: " + ", ".join(f"{n} {what}" for what, n in odd.items()))
    lines.append("Users (email / password / orgs):")
    for user in dataset.users:
        orgs = ", ".join(f"{org}:{role}" for org, role in user.memberships)
        lines.append(f"  {user.email:<26} {user.password:<20} {orgs}")
    return "\n".join(lines)

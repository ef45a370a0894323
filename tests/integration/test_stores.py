"""The stores against the real local endpoint: they speak domain types, read only what is asked
for, batch their reads, and turn AWS failures into the package's errors."""

from __future__ import annotations

import pytest

import prompt_tester_nb as pt
from prompt_tester_nb.aws import AwsClients
from prompt_tester_nb.ids import ContextId
from prompt_tester_nb.local.fault_proxy import FaultProxy
from prompt_tester_nb.models import AuditEvent, Behaviour, LogEntry
from prompt_tester_nb.provision import init as provision
from prompt_tester_nb.schema import TABLES, env_prompt_key
from prompt_tester_nb.stores.dynamo import serialize
from prompt_tester_nb.stores.logs import LogStore
from prompt_tester_nb.stores.prompts import PromptVersionRef, StoredPrompt
from prompt_tester_nb.stores.provisioning import ProvisioningStore
from prompt_tester_nb.stores.secrets import StoredKeys
from prompt_tester_nb.stores.tokens import ApiTokenOwner

BATCH_GET = "DynamoDB_20120810.BatchGetItem"
T0 = 1_780_000_000_000


def _log(env_id: str, prompt_id: str, ts: int, **parts) -> dict:
    item = {
        "env_id_prompt_id": env_prompt_key(env_id, prompt_id),
        "timestamp": ts,
        "env_id": env_id,
        "prompt_id": prompt_id,
        "version": "2",
        "context": {"name": f"n{ts}"},
        "prompt": {"prompt_id": prompt_id, "chats": [{"content": "hi {name}"}]},
        "response": {"content": f"answer {ts}"},
        "request": {"messages": [{"role": "user", "content": f"hi n{ts}"}]},
        "metrics": {"latency": 12, "sample_tokens_used": 3},
        "source": "production",
    }
    item.update(parts)
    return item


@pytest.fixture(scope="module")
def logs(service, stack):
    """A fresh environment with 230 logs of two prompts (one id holding '#')."""
    import uuid

    env_id = f"env-stores-{uuid.uuid4().hex[:8]}"
    prompts = ("alpha", "beta#2")
    keys = [(prompts[i % 2], T0 + i) for i in range(230)]
    table = service.settings.table("Logs")
    for start in range(0, len(keys), 25):  # set-up only: written 25 per call
        puts = [
            {"PutRequest": {"Item": serialize(_log(env_id, p, ts))}}
            for p, ts in keys[start : start + 25]
        ]
        assert not service.aws.dynamodb.batch_write_item(RequestItems={table: puts}).get(
            "UnprocessedItems"
        )
    return env_id, keys


@pytest.fixture(scope="module")
def proxy(stack):
    p = FaultProxy(stack.aws.url).start()
    yield p
    p.stop()


@pytest.fixture
def proxied_logs(stack, proxy, settings) -> LogStore:
    proxy.clear()
    clients = AwsClients(settings.model_copy(update={"endpoint_url": proxy.url}))
    yield LogStore(clients.dynamodb, settings.table("Logs"))
    proxy.clear()


# --------------------------------------------------------------------------- ContextId


def test_context_id_owns_the_format():
    cid = ContextId.parse("summarize#call#1780000000123")
    assert (cid.prompt_id, cid.timestamp) == ("summarize#call", 1780000000123)
    assert str(cid) == "summarize#call#1780000000123"
    prompt_id, ts = cid
    assert cid.key == (prompt_id, ts)
    assert ContextId.parse(str(ContextId("p", 0))) == ContextId("p", 0)


@pytest.mark.parametrize("text", ["", "#1", "p#", "p", "p#12a", "p#-1", "p#²", 7])
def test_a_bad_context_id_says_what_it_should_look_like(text):
    with pytest.raises(ValueError, match="context_id must look like '<prompt_id>#<timestamp ms>'"):
        ContextId.parse(text)
    with pytest.raises(pt.ValidationError) as info:
        ContextId.parse(text, field="context_ids[3]")
    assert info.value.field == "context_ids[3]"
    assert str(info.value).startswith("context_ids[3]: context_id must look like")


@pytest.mark.parametrize("prompt_id, ts", [("", 1), ("p", -1), ("p", True), (None, 1)])
def test_a_context_id_is_never_built_from_bad_parts(prompt_id, ts):
    with pytest.raises(ValueError, match="context_id"):
        ContextId(prompt_id, ts)


# --------------------------------------------------------------------------- logs


def test_the_log_store_speaks_log_entries(service, logs):
    env_id, keys = logs
    prompt_id, ts = keys[1]
    entry = service.log_store.get(env_id, prompt_id, ts)
    assert isinstance(entry, LogEntry)
    assert entry.context_id == str(ContextId(prompt_id, ts)) == f"beta#2#{ts}"
    assert entry.env_id == env_id and entry.request["messages"]
    assert service.log_store.get(env_id, prompt_id, ts + 10_000) is None
    page, last = service.log_store.page(
        env_id, prompt_id=None, since_ms=None, until_ms=None, limit=5, start_key=None
    )
    assert [e.timestamp for e in page] == [T0 + 229 - i for i in range(5)]
    assert all(isinstance(e, LogEntry) for e in page) and last


def test_items_other_writers_left_incomplete_still_read(service, logs):
    env_id, _ = logs
    service.log_store.put(
        {"env_id_prompt_id": env_prompt_key(env_id, "bare#x"), "timestamp": T0 + 5000}
    )
    entry = service.log_store.get(env_id, "bare#x", T0 + 5000)
    assert (entry.env_id, entry.prompt_id, entry.context_id) == (
        env_id,
        "bare#x",
        f"bare#x#{T0 + 5000}",
    )
    assert entry.context == {} and entry.prompt is None and entry.metrics == {}
    found = service.log_store.batch_get(env_id, [("bare#x", T0 + 5000)], projection=["context"])
    assert found[("bare#x", T0 + 5000)].context == {}


def test_a_projected_page_reads_only_what_was_asked_for(service, logs):
    env_id, _ = logs
    kwargs = {"since_ms": T0 + 10, "until_ms": T0 + 19, "limit": 100, "start_key": None}
    full, _ = service.log_store.page(env_id, prompt_id="alpha", **kwargs)
    slim, _ = service.log_store.page(
        env_id, prompt_id="alpha", projection=["context", "response", "metrics"], **kwargs
    )
    assert [e.context_id for e in slim] == [e.context_id for e in full]
    assert len(slim) == 5
    for a, b in zip(full, slim, strict=True):
        assert (b.context, b.response, b.metrics) == (a.context, a.response, a.metrics)
        assert (b.env_id, b.prompt_id, b.timestamp) == (a.env_id, a.prompt_id, a.timestamp)
        assert a.prompt and a.request and a.version == "2"
        assert b.prompt is None and b.request == {} and b.version is None
    # the environment index projects too, and attribute names that are reserved words work
    slim_env, _ = service.log_store.page(
        env_id, prompt_id=None, projection=["timestamp", "source"], **kwargs
    )
    assert len(slim_env) == 10 and {e.source for e in slim_env} == {"production"}
    assert all(e.context == {} for e in slim_env)


def test_batch_get_reads_a_hundred_per_call_and_leaves_out_what_is_missing(
    proxied_logs, proxy, logs
):
    env_id, keys = logs
    missing = [("alpha", T0 + 1), ("alpha", T0 + 99_999), ("nobody", T0)]  # T0+1 is beta#2's
    asked = [*keys, *missing, keys[0], keys[7]]  # duplicates are read once
    found = proxied_logs.batch_get(env_id, asked)
    assert set(found) == set(keys)
    assert proxy.seen.count(BATCH_GET) == 3  # 233 distinct keys: 100 + 100 + 33
    prompt_id, ts = keys[41]
    assert found[keys[41]] == proxied_logs.get(env_id, prompt_id, ts)
    assert proxied_logs.batch_get(env_id, []) == {}


def test_batch_get_with_a_projection(service, logs):
    env_id, keys = logs
    found = service.log_store.batch_get(env_id, keys[:3], projection=["response", "metrics"])
    assert [found[k].response["content"] for k in keys[:3]] == [
        f"answer {T0 + i}" for i in range(3)
    ]
    assert all(e.request == {} and e.prompt is None and e.context == {} for e in found.values())
    assert all(e.context_id == str(ContextId(*k)) for k, e in found.items())


def test_batch_get_asks_again_for_unprocessed_keys(proxied_logs, proxy, logs):
    env_id, keys = logs
    # DynamoDB answers the first two calls for 10 keys only and hands the rest back
    proxy.add_fault("unprocessed", match="BatchGetItem", count=2, keep=10)
    found = proxied_logs.batch_get(env_id, keys[:100])
    assert set(found) == set(keys[:100])
    assert proxy.seen.count(BATCH_GET) == 3


def test_batch_get_that_never_completes_is_a_clear_error(proxied_logs, proxy, logs):
    env_id, keys = logs
    proxy.add_fault("unprocessed", match="BatchGetItem", count=100, keep=0)
    with pytest.raises(pt.StoreError, match="kept throttling"):
        proxied_logs.batch_get(env_id, keys[:5])


# --------------------------------------------------------------------------- behaviours


def test_the_behaviour_store_speaks_behaviours(service, unique):
    store, env_id = service.behaviour_store, f"env-stores-{unique}"
    audit = service.audit_store.event(env_id, "me", "behaviour.create", "b", {"version": 1})
    created = store.create(
        env_id, "b", {"attempts": []}, "me", "2026-11-01T12:00:00.000+00:00", audit
    )
    assert isinstance(created, Behaviour) and created.version == 1
    assert store.get(env_id, "b") == created
    assert store.list(env_id) == [created]
    assert store.get(env_id, "nope") is None


def test_the_prompt_audit_token_and_secret_stores_speak_models(service, unique):
    """No store hands the service a raw item: prompts, audit events, token owners and the
    stored provider keys come back as models (the keys' values never in a repr)."""
    env_id, s, db = f"env-stores-{unique}", service.settings, service.aws.dynamodb
    body = {"prompt_id": "p", "chats": [{"role": "user", "content": "hi"}]}
    db.put_item(
        TableName=s.table("LatestPrompts"),
        Item=serialize(
            {"env_id": env_id, "prompt_id": "p", "version": "3", "created_tms": T0, "prompt": body}
        ),
    )
    for version, at in (("2", T0 - 1), ("3", T0)):
        db.put_item(
            TableName=s.table("PromptHistory"),
            Item=serialize(
                {
                    "env_id_prompt_id": env_prompt_key(env_id, "p"),
                    "version": version,
                    "created_tms": at,
                    "prompt": body,
                }
            ),
        )
    prompts = service.prompt_store
    assert prompts.latest(env_id, "p") == StoredPrompt(version="3", created_tms=T0, prompt=body)
    assert prompts.version(env_id, "p", "2") == StoredPrompt(
        version="2", created_tms=T0 - 1, prompt=body
    )
    assert prompts.latest(env_id, "nope") is None and prompts.version(env_id, "p", "9") is None
    assert sorted(prompts.history(env_id, "p"), key=lambda ref: ref.version) == [
        PromptVersionRef(version="2", created_tms=T0 - 1),
        PromptVersionRef(version="3", created_tms=T0),
    ]
    service.audit_store.record(env_id, "me", "secret.set", "OPENAI_ORG")
    (event,) = service.audit_store.recent(env_id, 5)
    assert isinstance(event, AuditEvent)
    assert (event.by, event.action, event.target, event.details) == (
        "me",
        "secret.set",
        "OPENAI_ORG",
        {},
    )
    token = f"{env_id}.{unique}-token"
    expires_at = service.token_store.put(env_id, token, "u-1", 3600)
    assert service.token_store.find(token) == ApiTokenOwner(
        env_id=env_id, user_id="u-1", expires_at=expires_at
    )
    assert service.token_store.find(f"{env_id}.another") is None
    name = s.secret_name(env_id)
    try:
        stored = service.secret_store.merge(name, {"OPENAI_API_KEY": f"sk-{unique}-value"}, [], {})
        assert isinstance(stored, StoredKeys) and stored == service.secret_store.read_values(name)
        assert stored.values == {"OPENAI_API_KEY": f"sk-{unique}-value"}
        assert set(stored.updated) == {"OPENAI_API_KEY"}
        assert f"sk-{unique}" not in repr(stored) + str(stored)
    finally:
        service.aws.secretsmanager.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


# --------------------------------------------------------------------------- provisioning


def test_provisioning_is_idempotent_on_the_local_endpoint(settings):
    actions = provision(settings)
    assert {a.table for a in actions} == {settings.table(t.name) for t in TABLES} | {
        f"bucket {settings.experiments_bucket}"
    }
    assert all(a.ok for a in actions)
    assert all(a.what == "already as the schema says" for a in actions)


def test_provisioning_failures_are_store_errors(stack, proxy, settings):
    proxy.clear()
    clients = AwsClients(settings.model_copy(update={"endpoint_url": proxy.url}))
    store = ProvisioningStore(clients.dynamodb)
    proxy.add_fault("status", match="DescribeTable", count=10, status=500)
    with pytest.raises(pt.StoreError, match="Describing table") as info:
        store.ensure_table(TABLES[0], settings.table(TABLES[0].name))
    assert "Traceback" not in str(info.value) and info.value.__cause__ is None
    proxy.clear()


def test_warm_up_goes_through_the_service(service):
    import sys

    service.warm_up()
    assert {"dynamodb", "secretsmanager", "cognito-idp"} <= set(service.aws._clients)
    assert "flow_prompt" in sys.modules

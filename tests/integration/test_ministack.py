"""The core flows against two AWS emulators that share no code: moto's server and MiniStack.

One parametrised set: each test runs once with the suite's moto stack and once with the same
``LocalStack`` (tables, Cognito pool, seeded data, secrets, demo model, log API) whose AWS
endpoint is MiniStack (``tests/support/ministack_support.py``). What passes on both depends on AWS's
documented behaviour rather than on one emulator's. The provider-key store here takes turns
through the ``Leases`` table (``stores/lease.py``), as a deployment with the lease does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

import prompt_tester_nb as pt
from prompt_tester_nb.engine.platform_client import log_worker
from prompt_tester_nb.local.stack import LocalStack
from prompt_tester_nb.service import PromptTesterService
from prompt_tester_nb.stores.lease import LeaseTable
from prompt_tester_nb.stores.secrets import SecretStore
from tests.integration.test_security import _every_operation
from tests.support.key_writers import set_keys_at_once
from tests.support.ministack_support import MiniStackLocalStack

MAX_VERSIONS = 60  # issue 20: 50 concurrent key changes create at most this many versions


@dataclass
class Backend:
    name: str
    stack: LocalStack
    service: PromptTesterService

    def password(self, email: str) -> str:
        assert self.stack.info
        return next(u["password"] for u in self.stack.info.users if u["email"] == email)

    def connect(self, email: str, env: str) -> pt.Session:
        return pt.connect(email=email, password=self.password(email), env=env, service=self.service)


def leased_service(settings: pt.Settings) -> PromptTesterService:
    """A service whose provider-key store takes the per-environment lease before it writes."""
    service = PromptTesterService(settings)
    service.secret_store = SecretStore(
        service.aws.secretsmanager,
        settings.kms_key_id,
        lease=LeaseTable(
            service.aws.dynamodb,
            settings.table("Leases"),
            wait_seconds=settings.secret_lease_wait_seconds,
        ),
    )
    return service


@pytest.fixture(scope="module", params=["moto", "ministack"])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Backend:
    if request.param == "moto":
        stack: LocalStack = request.getfixturevalue("stack")
    else:
        request.getfixturevalue("stack")  # the session's environment (credentials, hand-off)
        stack = MiniStackLocalStack(tmp_path_factory.mktemp("ministack"), n_logs=400)
        stack.start()
        request.addfinalizer(stack.stop)
    assert stack.settings
    settings = stack.settings.model_copy(
        update={
            "model_timeout_seconds": 3.0,
            "model_max_retries": 0,
            "access_cache_seconds": 0,
            # 50 writers in a row on 2 shared cores must not fail for want of time
            "secret_lease_wait_seconds": 60,
        }
    )
    return Backend(request.param, stack, leased_service(settings))


@pytest.fixture
def alice(backend: Backend) -> pt.Session:
    return backend.connect("alice@acme.example", "staging")


@pytest.fixture
def model(backend: Backend):
    server = backend.stack.model
    server.clear_faults()
    server.set_latency(0)
    server.set_accepted_keys(None)
    yield server
    server.clear_faults()


def test_sign_in_by_password(backend):
    s = backend.connect("alice@acme.example", "staging")
    assert (s.env.env_id, s.env.org_id) == ("env-acme-staging", "org-acme")
    assert {e.env_id for e in s.environments()} == {"env-acme-staging", "env-acme-prod"}
    with pytest.raises(pt.AuthenticationError) as info:
        pt.connect(
            email="alice@acme.example",
            password="Wrong-password-1!",
            env="staging",
            service=backend.service,
        )
    assert "not correct" in str(info.value)


def test_logs_and_pages(alice):
    seen: list[str] = []
    cursor = None
    last = None
    for _ in range(3):
        page = alice.logs(limit=40, cursor=cursor)
        stamps = [i.timestamp for i in page.items]
        assert len(stamps) == 40 and stamps == sorted(stamps, reverse=True)
        assert last is None or stamps[0] <= last
        last = stamps[-1]
        seen += [i.context_id for i in page.items]
        assert page.next_cursor
        cursor = page.next_cursor
    assert len(set(seen)) == 120
    entry = alice.log(seen[0])
    assert entry.context_id == seen[0] and isinstance(entry.context, dict)
    prompt_id = alice.prompts()[0]
    by_prompt = alice.logs(prompt_id=prompt_id, limit=20)
    assert by_prompt.items and all(i.prompt_id == prompt_id for i in by_prompt.items)
    assert len(alice.prompt_versions(prompt_id)) >= 2


def test_open_test(alice):
    # a seeded production log: its prompt has a history (other tests' drafts may have none)
    logs = alice.logs(limit=200, source="production").items
    entry = next(i for i in logs if i.version and i.context)
    draft = alice.open_test(entry.context_id)
    assert draft.context_data == entry.context
    assert (draft.prompt_data["prompt_id"], draft.prompt_data["version"]) == (
        entry.prompt_id,
        entry.version,
    )
    other = alice.prompt_versions(entry.prompt_id)[-1]
    assert alice.open_test(entry.context_id, version=other).prompt_data["version"] == other


def test_behaviours_crud_with_the_stale_update_conflict(alice, unique):
    name = f"ms-{unique}"
    spec: dict[str, Any] = {
        "attempts": [
            {
                "ai_model": {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": 1000},
                "weight": 100,
            }
        ]
    }
    assert alice.behaviours.create(name, spec).version == 1
    with pytest.raises(pt.ConflictError):
        alice.behaviours.create(name, spec)
    spec["attempts"][0]["weight"] = 50
    assert alice.behaviours.update(name, spec, version=1).version == 2
    with pytest.raises(pt.ConflictError) as info:
        alice.behaviours.update(name, spec, version=1)  # stale: version 2 is stored
    assert "version 2" in str(info.value)
    assert alice.behaviours.get(name).spec["attempts"][0]["weight"] == 50
    alice.behaviours.delete(name, version=2)
    with pytest.raises(pt.NotFoundError):
        alice.behaviours.get(name)


def test_secrets_set_status_delete(backend, unique):
    s = backend.connect("bob@acme.example", "production")
    realm = f"realm{unique}"
    key = f"azure-key-{unique}-abcdefgh"
    status = {
        x.name: x
        for x in s.secrets.set(
            AZURE_OPENAI_KEYS={realm: {"url": "https://example.openai.azure.com", "key": key}},
            OPENAI_ORG=f"org-{unique}-zzzz",
        )
    }
    assert status[f"AZURE_OPENAI_KEYS.{realm}"].hint == "…efgh"
    assert status["AZURE_OPENAI_KEYS.westus"].is_set  # merged, not replaced
    assert key not in repr(list(status.values()))
    assert {x.name: x.is_set for x in s.secrets.status()}[f"AZURE_OPENAI_KEYS.{realm}"]
    after = {x.name: x for x in s.secrets.delete(f"AZURE_OPENAI_KEYS.{realm}", "OPENAI_ORG")}
    assert f"AZURE_OPENAI_KEYS.{realm}" not in after and not after["OPENAI_ORG"].is_set
    assert after["AZURE_OPENAI_KEYS.westus"].is_set
    name = backend.service.settings.secret_name(s.env.env_id)
    labels = backend.service.aws.secretsmanager.describe_secret(SecretId=name)
    assert not [
        x for v in labels["VersionIdsToStages"].values() for x in v if x.startswith("PENDING-")
    ]


def test_a_test_run_through_flow_prompt(backend, alice, model):
    entry = next(
        i for i in alice.logs(limit=100, source="production").items if i.version and i.context
    )
    draft = alice.open_test(entry.context_id)
    model.clear_requests()
    result = alice.test(draft.prompt_data, draft.context_data, behaviour="default")
    assert result.content and result.finish_reason == "stop"
    assert result.model == "azure/westus/gpt-4-turbo"
    (request,) = model.requests()
    assert request["provider"] == "azure"
    assert result.context_id
    assert log_worker(backend.service.settings.flow_prompt_api_uri).flush(60)  # a guard only
    assert alice.log(result.context_id).response_content == result.content


def test_the_api_token(backend, alice):
    service = backend.service
    token = service.api_token(alice.user, alice.env)
    found = service.token_store.find(token)
    assert found is not None
    table = service.settings.table("ApiTokens")
    items = service.aws.dynamodb.scan(TableName=table)["Items"]
    assert token not in str(items)  # a digest at rest
    ttl = service.aws.dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"
    assert service.api_token(alice.user, alice.env) == token  # reused while it has time left


def test_the_cross_organisation_refusals(backend, alice):
    mallory = backend.connect("mallory@globex.example", "production")
    entry = alice.logs(limit=1).items[0]
    before = {b.name: b.version for b in alice.behaviours.list()}
    secrets_before = [x.model_dump() for x in alice.secrets.status()]
    operations = _every_operation(
        backend.service, mallory.user, "env-acme-staging", entry.context_id, entry.prompt_id
    )
    for name, op in operations.items():
        with pytest.raises(pt.AccessDeniedError):
            op()
            pytest.fail(f"{name} was not refused")
    assert len(operations) == 29
    assert {b.name: b.version for b in alice.behaviours.list()} == before
    assert [x.model_dump() for x in alice.secrets.status()] == secrets_before


def test_a_dataset_flow(backend, alice, unique):
    """Datasets on both emulators: logs and rows in, an item removed, each version read back
    as it was, ten writers at once (none collides, none skipped), a teammate reads it."""
    from concurrent.futures import ThreadPoolExecutor

    name = f"ds-{unique}"
    assert alice.datasets.create(name, description="d").version == 0
    logs = [e for e in alice.logs(limit=100, source="production").items if e.context][:3]
    ds = alice.datasets.add_logs(name, [e.context_id for e in logs])
    assert (ds.version, ds.added) == (1, 3)
    again = alice.datasets.add_logs(name, [logs[0].context_id])
    assert (again.version, again.added, again.already_in) == (1, 0, 1)
    ds = alice.datasets.remove(name, [ds.items[0].item_id])
    assert (ds.version, len(ds.items)) == (2, 2)

    def write(i: int) -> int:
        return alice.datasets.add(name, [{"context": {"w": i}, "prompt_id": "p"}]).version

    with ThreadPoolExecutor(10) as pool:
        versions = sorted(pool.map(write, range(10)))
    assert versions == list(range(3, 13))
    bob = backend.connect("bob@acme.example", "staging")
    assert len(bob.datasets.get(name).items) == 12
    assert [len(bob.datasets.get(f"{name}@{v}").items) for v in (0, 1, 2, 3)] == [0, 3, 2, 3]
    with pytest.raises(pt.ValidationError) as info:
        alice.datasets.add(name, [{"context": {"q": "x" * 420_000}, "prompt_id": "p"}])
    assert info.value.field == "items[0]" and alice.datasets.get(name).version == 12
    alice.datasets.delete(name)
    with pytest.raises(pt.NotFoundError):
        bob.datasets.get(name)


def test_an_experiment_flow(backend, alice, unique):
    """Experiments on both emulators (rows in S3, header in DynamoDB): stored, listed, read
    back equal, blessed by an admin only (a second blessing moves the baseline), deleted and
    audited, seen by a teammate (``test_experiments.experiment_flow``)."""
    from prompt_tester_nb.replay import ReplayRun
    from tests.integration.test_experiments import experiment_flow
    from tests.support.experiments_support import saved_record

    if backend.name == "moto":
        pytest.skip("test_experiments.py runs this flow on moto, with a real replay")
    bob = backend.connect("bob@acme.example", "staging")
    experiment_flow(alice, bob, ReplayRun(saved_record(alice.env.env_id)), unique)


def test_the_key_writer_figure(backend, alice, unique):
    """50 concurrent writers of distinct keys (each its own Azure realm) to one environment,
    through the service: all 50 keys kept, every change in the audit log, at most 60 secret
    versions created (the lease makes them take turns: one ``PutSecretValue`` per change)."""
    service, n = backend.service, 50
    store = service.secret_store
    env_id = alice.env.env_id
    name = service.settings.secret_name(env_id)
    sm = service.aws.secretsmanager
    realms = [f"w{w}-{unique}" for w in range(n)]
    versions_before = store.version_ids(name)
    tries_before = store.tries
    seconds, errors = set_keys_at_once(service, alice.user, env_id, realms, lambda w: f"k{w}")
    try:
        assert not errors, errors[:3]
        stored = store.read_values(name).values["AZURE_OPENAI_KEYS"]
        assert {r: stored[r]["key"] for r in realms if r in stored} == {
            realms[w]: f"k{w}" for w in range(n)
        }
        targets = {f"AZURE_OPENAI_KEYS.{r}" for r in realms}
        events = [e for e in service.audit(alice.user, env_id, limit=1000) if e.target in targets]
        assert sorted(e.target for e in events) == sorted(targets)
        created = len(store.version_ids(name) - versions_before)
        tries = store.tries - tries_before
        labels = sm.describe_secret(SecretId=name)["VersionIdsToStages"]
        pending = [x for v in labels.values() for x in v if x.startswith("PENDING-")]
        print(
            f"\n[{backend.name}] {n} concurrent key writers: {len(events)} audit events,"
            f" {created} secret versions created, {tries} compare-and-swap tries,"
            f" {seconds:.1f} s"
        )
        assert created <= MAX_VERSIONS and tries <= MAX_VERSIONS, (created, tries)
        assert not pending
        assert sum("AWSCURRENT" in v for v in labels.values()) == 1
    finally:
        service.delete_secrets(alice.user, env_id, [f"AZURE_OPENAI_KEYS.{r}" for r in realms])

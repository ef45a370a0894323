"""AWS failing under the service, over real HTTP through a fault-injecting proxy: retries that
succeed, clear errors that don't, nothing half-written, nothing hanging past its bound."""

from __future__ import annotations

import time

import pytest

import prompt_tester_nb as pt
from prompt_tester_nb.local.fault_proxy import FaultProxy
from prompt_tester_nb.service import PromptTesterService
from tests.conftest import password_of

SPEC = {"attempts": [{"ai_model": {"provider": "openai", "model": "gpt-4o", "max_tokens": 1000}}]}


@pytest.fixture(scope="module")
def proxy(stack):
    p = FaultProxy(stack.aws.url).start()
    yield p
    p.stop()


@pytest.fixture
def faulty(stack, proxy):
    proxy.clear()
    settings = stack.settings.model_copy(
        update={"endpoint_url": proxy.url, "aws_timeout_seconds": 1.0, "access_cache_seconds": 0}
    )
    service = PromptTesterService(settings)
    session = pt.connect(
        email="alice@acme.example",
        password=password_of(stack, "alice@acme.example"),
        env="staging",
        service=service,
    )
    yield session
    proxy.clear()


def test_a_few_throttles_are_retried_and_succeed(faulty, proxy, unique):
    proxy.add_fault("throttle", match="TransactWriteItems", count=2)
    created = faulty.behaviours.create(f"thr-{unique}", SPEC)
    assert created.version == 1
    # two throttled, then the behaviour and its audit event in one transaction
    assert proxy.seen.count("DynamoDB_20120810.TransactWriteItems") == 3
    assert [e.target for e in faulty.audit(limit=5)].count(f"thr-{unique}") == 1
    faulty.behaviours.delete(f"thr-{unique}")


def test_persistent_throttling_is_a_clear_error_and_writes_nothing(faulty, proxy, unique):
    proxy.add_fault("throttle", match="TransactWriteItems", count=10)
    with pytest.raises(pt.StoreError) as info:
        faulty.behaviours.create(f"thr-{unique}", SPEC)
    assert "ThrottlingException" in str(info.value) and "Traceback" not in str(info.value)
    proxy.clear()
    with pytest.raises(pt.NotFoundError):
        faulty.behaviours.get(f"thr-{unique}")
    assert f"thr-{unique}" not in [e.target for e in faulty.audit(limit=20)]


@pytest.mark.parametrize(
    ("kind", "options"), [("status", {"status": 500}), ("drop", {}), ("throttle", {})]
)
def test_failed_behaviour_changes_leave_the_behaviour_and_the_audit_log_as_they_were(
    faulty, proxy, unique, kind, options
):
    name = f"keep-{unique}"
    faulty.behaviours.create(name, SPEC)
    before = faulty.behaviours.get(name)
    events = [e.model_dump() for e in faulty.audit(limit=20)]
    changed = {"attempts": [{**SPEC["attempts"][0], "weight": 7}]}
    for change in (
        lambda: faulty.behaviours.update(name, changed, version=1),
        lambda: faulty.behaviours.delete(name, version=1),
        lambda: faulty.behaviours.delete(name),
    ):
        proxy.add_fault(kind, match="TransactWriteItems", count=10, **options)
        with pytest.raises(pt.StoreError):
            change()
        proxy.clear()
        assert faulty.behaviours.get(name) == before  # nothing half-written
        assert [e.model_dump() for e in faulty.audit(limit=20)] == events  # and nothing recorded
    faulty.behaviours.delete(name, version=1)
    assert faulty.audit(limit=1)[0].action == "behaviour.delete"


def test_a_failing_token_write_makes_the_test_fail_plainly_and_keeps_no_token(stack, proxy, faulty):
    service = faulty.service
    proxy.add_fault("status", match="PutItem", count=10, status=500)
    with pytest.raises(pt.StoreError) as info:
        service.api_token(faulty.user, faulty.env)
    assert "API token" in str(info.value) and "Traceback" not in str(info.value)
    assert not service._tokens  # nothing kept in memory that the table does not hold
    proxy.clear()
    token = service.api_token(faulty.user, faulty.env)
    assert service.token_store.find(token) is not None


@pytest.mark.parametrize(
    ("kind", "options", "words"),
    [("status", {"status": 500}, "failed at AWS"), ("drop", {}, "could not be reached")],
)
def test_server_errors_and_dropped_connections(faulty, proxy, unique, kind, options, words):
    before = [s.model_dump() for s in faulty.secrets.status()]
    proxy.add_fault(kind, match="PutSecretValue", count=10, **options)
    with pytest.raises(pt.StoreError) as info:
        faulty.secrets.set(OPENAI_ORG=f"org-{unique}-000000")
    assert words in str(info.value)
    proxy.clear()
    assert [s.model_dump() for s in faulty.secrets.status()] == before  # nothing half-written


def test_a_hanging_endpoint_ends_within_its_bound(faulty, proxy):
    proxy.add_fault("hang", match="Query", count=10, delay_s=30)
    started = time.monotonic()
    with pytest.raises(pt.StoreError) as info:
        faulty.logs(limit=5)
    elapsed = time.monotonic() - started
    assert elapsed < 12, elapsed  # 4 attempts x 1 s read timeout + backoff
    assert "could not be reached" in str(info.value)

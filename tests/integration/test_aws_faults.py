"""AWS failing under the service, over real HTTP through a fault-injecting proxy: retries that
succeed, clear errors that don't, nothing half-written, nothing hanging past its bound."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

import prompt_tester_nb as pt
from prompt_tester_nb.local.fault_proxy import FaultProxy
from prompt_tester_nb.service import PromptTesterService
from tests.conftest import password_of

HANG_S = 300  # longer than any run of the test: a hang never ends on its own
SPEC = {"attempts": [{"ai_model": {"provider": "openai", "model": "gpt-4o", "max_tokens": 1000}}]}


@pytest.fixture(scope="module")
def proxy(stack):
    p = FaultProxy(stack.aws.url).start()
    yield p
    p.stop()


def _through(stack, proxy, aws_timeout_seconds: float, aws_max_retries: int = 4) -> pt.Session:
    settings = stack.settings.model_copy(
        update={
            "endpoint_url": proxy.url,
            "aws_timeout_seconds": aws_timeout_seconds,
            "aws_max_retries": aws_max_retries,
            "access_cache_seconds": 0,
        }
    )
    return pt.connect(
        email="alice@acme.example",
        password=password_of(stack, "alice@acme.example"),
        env="staging",
        service=PromptTesterService(settings),
    )


@pytest.fixture
def faulty(stack, proxy):
    """Alice through the proxy. The read timeout is far above any answer of a busy machine, so
    the proxy sees exactly the attempts the faults caused (no timeout-and-retry of its own)."""
    proxy.clear()
    yield _through(stack, proxy, aws_timeout_seconds=60)
    proxy.clear()


@pytest.fixture
def brittle(stack, proxy):
    """Alice through the proxy with no botocore retry (PROMPT_TESTER_AWS_MAX_RETRIES=0): for
    the tests of what a call that failed for good leaves behind, where retries would only add
    their backoff (seconds per call) to the same outcome."""
    proxy.clear()
    yield _through(stack, proxy, aws_timeout_seconds=60, aws_max_retries=0)
    proxy.clear()


@pytest.fixture
def impatient(stack, proxy):
    """Alice through the proxy with a 1 s read timeout, for hangs."""
    proxy.clear()
    yield _through(stack, proxy, aws_timeout_seconds=1.0)
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
    proxy.add_fault("throttle", match="TransactWriteItems", count=10)  # over the 4 retries
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
    brittle, proxy, unique, kind, options
):
    faulty = brittle
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
def test_server_errors_and_dropped_connections(brittle, proxy, unique, kind, options, words):
    faulty = brittle
    before = [s.model_dump() for s in faulty.secrets.status()]
    proxy.add_fault(kind, match="PutSecretValue", count=10, **options)
    with pytest.raises(pt.StoreError) as info:
        faulty.secrets.set(OPENAI_ORG=f"org-{unique}-000000")
    assert words in str(info.value)
    proxy.clear()
    assert [s.model_dump() for s in faulty.secrets.status()] == before  # nothing half-written


def test_a_hanging_endpoint_ends_within_its_bound(impatient, proxy):
    # Each hang outlasts the whole test: only the client's 1 s read timeout can end an attempt
    # (a hang that ran out would also read as "could not be reached").
    proxy.add_fault("hang", match="Query", count=10, delay_s=HANG_S)
    before = proxy.seen.count("DynamoDB_20120810.Query")  # signing in read the user's access
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(impatient.logs, limit=5)
        with pytest.raises(pt.StoreError) as info:
            pending.result(timeout=HANG_S / 2)  # a guard only: reached if no timeout fired
    assert "could not be reached" in str(info.value)
    # the bound: the first attempt and botocore's 4 retries, each ended by the read timeout
    assert proxy.seen.count("DynamoDB_20120810.Query") - before == 5, proxy.seen

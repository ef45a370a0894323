"""The per-environment lease for provider-key writes, and the 20-label rule kept by the store.

Over real HTTP to the suite's moto server; the fault proxy in front of it stands for a writer
whose later calls never arrive (a crash or a lost connection between its steps). The figure
(50 concurrent writers, at most 60 versions) runs on moto and MiniStack in test_ministack.py.
"""

from __future__ import annotations

import socket
import struct
import time
import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config

import prompt_tester_nb as pt
from prompt_tester_nb.local.fault_proxy import FaultProxy, _Handler
from prompt_tester_nb.service import PromptTesterService
from prompt_tester_nb.stores.lease import LeaseTable
from prompt_tester_nb.stores.secrets import SecretStore

GET = "DynamoDB_20120810.GetItem"
PUT_ITEM = "DynamoDB_20120810.PutItem"
STAGE = "secretsmanager.UpdateSecretVersionStage"
PUT_SECRET = "secretsmanager.PutSecretValue"


class _CutAfterPutHandler(_Handler):
    def _any(self) -> None:
        target = self.headers.get("X-Amz-Target", "")
        owner = self.server.owner
        if owner.cut_after_put and owner.put_seen and target.startswith("secretsmanager."):
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            owner.seen.append(target)
            owner.dropped.append(target)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        super()._any()
        if target == PUT_SECRET:
            owner.put_seen = True

    do_GET = do_POST = do_PUT = do_DELETE = _any


class CutProxy(FaultProxy):
    """The fault proxy, which can also cut a writer off after its PutSecretValue: every later
    Secrets Manager call is dropped, as if the writer had died right after writing."""

    def __init__(self, upstream_url: str):
        super().__init__(upstream_url)
        self._server.RequestHandlerClass = _CutAfterPutHandler
        self.cut_after_put = False
        self.put_seen = False
        self.dropped: list[str] = []

    def clear(self) -> None:
        super().clear()
        self.cut_after_put = False
        self.put_seen = False
        self.dropped = []


@pytest.fixture(scope="module")
def proxy(stack):
    p = CutProxy(stack.aws.url).start()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def through_proxy(stack, proxy) -> PromptTesterService:
    """A service whose AWS calls pass the fault proxy (no client-side wait for dropped calls)."""
    return PromptTesterService(stack.settings.model_copy(update={"endpoint_url": proxy.url}))


def _leases(service: PromptTesterService, **options: Any) -> LeaseTable:
    return LeaseTable(service.aws.dynamodb, service.settings.table("Leases"), **options)


def _store(service: PromptTesterService, **options: Any) -> SecretStore:
    return SecretStore(service.aws.secretsmanager, None, lease=_leases(service, **options))


def _dying_store(service: PromptTesterService) -> SecretStore:
    """A writer through the proxy whose Secrets Manager client makes one attempt per call: a
    dropped call fails at once instead of after botocore's backed-off retries (each of which
    the proxy would drop as well), so a writer dies in milliseconds, not seconds."""
    sm = boto3.session.Session(region_name=service.settings.region).client(
        "secretsmanager",
        endpoint_url=service.settings.endpoint_for("secretsmanager"),
        config=Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=5),
    )
    return SecretStore(sm, None, lease=_leases(service))


def _pending(sm: Any, name: str) -> list[str]:
    stages = sm.describe_secret(SecretId=name)["VersionIdsToStages"]
    return [s for labels in stages.values() for s in labels if s.startswith("PENDING-")]


def _lease_item(service: PromptTesterService, lease_id: str) -> dict[str, Any] | None:
    return service.aws.dynamodb.get_item(
        TableName=service.settings.table("Leases"),
        Key={"lease_id": {"S": lease_id}},
        ConsistentRead=True,
    ).get("Item")


def test_the_leases_table_has_its_ttl(service):
    table = service.settings.table("Leases")
    ttl = service.aws.dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"


def test_a_lease_is_released_after_the_change_and_holds_out_others_until_then(service, unique):
    leases = _leases(service, wait_seconds=0.3)
    lease_id = f"test:{unique}"
    with leases.hold(lease_id, "Saving") as held:
        item = _lease_item(service, lease_id)
        assert item and item["holder"]["S"] == held.token
        assert int(item["expires_at"]["N"]) >= held.expires_at_ms / 1000  # TTL: epoch seconds
        with pytest.raises(pt.ConflictError) as info:
            leases.acquire(lease_id, "Saving provider keys")
        assert "nothing was saved" in str(info.value) and "0.3 seconds" in str(info.value)
    assert _lease_item(service, lease_id) is None  # released: a conditional delete on the token


def test_a_crashed_holders_lease_expires_by_its_condition_not_by_ttl(service, unique):
    """The holder never releases (it crashed). TTL would delete the item hours later on AWS;
    the next writer takes the lease as soon as the expiry in the item has passed, because the
    put's condition compares it. The late release of the old holder keeps its hands off."""
    now = [1_000_000.0]
    leases = _leases(service, hold_seconds=15, wait_seconds=0.3, clock=lambda: now[0])
    lease_id = f"test:{unique}"
    crashed = leases.acquire(lease_id, "Saving")
    now[0] += 10  # still held
    with pytest.raises(pt.ConflictError):
        leases.acquire(lease_id, "Saving")
    now[0] += 6  # past the 15 s
    successor = leases.acquire(lease_id, "Saving")
    assert successor.token != crashed.token
    leases.release(crashed)  # the old holder comes back: not its lease any more
    item = _lease_item(service, lease_id)
    assert item and item["holder"]["S"] == successor.token
    leases.release(successor)
    assert _lease_item(service, lease_id) is None


def test_waiting_for_the_lease_writes_nothing(stack, service, through_proxy, proxy, unique):
    """While another holds the lease, a writer only reads: no PutItem to the Leases table, no
    Secrets Manager call at all; when the wait ends it says so and nothing was saved."""
    name = f"prompt-tester/lease-{unique}/provider-keys"
    holder = _leases(service)
    held = holder.acquire(f"secret:{name}", "Saving")
    try:
        waiting = _store(through_proxy, wait_seconds=0.5)
        proxy.clear()
        with pytest.raises(pt.ConflictError) as info:
            waiting.merge(name, {"OPENAI_API_KEY": f"sk-{unique}-never"}, [], {})
        assert "nothing was saved" in str(info.value)
        seen = list(proxy.seen)
        assert seen and set(seen) == {GET}, seen  # reads only
        assert service.secret_store.read_values(name).values == {}
    finally:
        holder.release(held)
        proxy.clear()


def test_a_writer_that_dies_between_its_steps_leaves_one_pending_label_at_most(
    stack, service, through_proxy, proxy, unique
):
    """22 writers in turn each die right after their PutSecretValue: the proxy drops every later
    Secrets Manager call of theirs (the move of AWSCURRENT and the label's removal), as a crash
    or a lost connection would. Each next writer, holding the lease, first removes the label the
    dead one left: never more than one pending label on the secret, so 22 crashes never reach
    AWS's 20 labels per secret (moto would not refuse them). A healthy writer then leaves none,
    and only the healthy changes were saved."""
    name = f"prompt-tester/labels-{unique}/provider-keys"
    sm = service.aws.secretsmanager
    healthy = _store(service)
    healthy.merge(name, {"OPENAI_ORG": "org-first"}, [], {})
    dying = _dying_store(through_proxy)
    try:
        for w in range(22):
            proxy.clear()
            proxy.cut_after_put = True  # every later call of the writer is dropped
            with pytest.raises(pt.StoreError):
                dying.merge(name, {"OPENAI_API_KEY": f"sk-{w}-{unique}-lost"}, [], {})
            assert PUT_SECRET in proxy.seen and STAGE in proxy.dropped, proxy.seen
            proxy.clear()
            assert len(_pending(sm, name)) == 1, (w, _pending(sm, name))
        healthy.merge(name, {"OPENAI_API_KEY": f"sk-{unique}-kept"}, [], {})
        assert _pending(sm, name) == []
        doc = healthy.read_values(name).values
        assert doc["OPENAI_ORG"] == "org-first" and doc["OPENAI_API_KEY"] == f"sk-{unique}-kept"
    finally:
        proxy.clear()
        sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


def test_a_label_left_by_a_writer_that_died_is_removed_by_the_next_one(service, unique):
    """The same, by driving the steps directly: a writer's PutSecretValue with its pending
    label lands and the writer is gone before it moves AWSCURRENT."""
    name = f"prompt-tester/steps-{unique}/provider-keys"
    sm = service.aws.secretsmanager
    store = _store(service)
    store.merge(name, {"OPENAI_ORG": "org-a"}, [], {})
    token = str(uuid.uuid4())
    sm.put_secret_value(
        SecretId=name,
        SecretString='{"OPENAI_ORG": "never current"}',
        ClientRequestToken=token,
        VersionStages=[f"PENDING-{token}"],
    )
    assert _pending(sm, name) == [f"PENDING-{token}"]
    try:
        store.merge(name, {"OPENAI_API_KEY": "sk-b-123456"}, [], {})
        assert _pending(sm, name) == []
        assert store.read_values(name).values["OPENAI_ORG"] == "org-a"
    finally:
        sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


def test_one_change_is_one_version(service, unique):
    """Under the lease, with no one else writing: one PutSecretValue per change."""
    name = f"prompt-tester/one-{unique}/provider-keys"
    sm = service.aws.secretsmanager
    store = _store(service)
    store.merge(name, {"OPENAI_ORG": "org-a"}, [], {})  # CreateSecret
    started = time.monotonic()
    for i in range(5):
        store.merge(name, {"OPENAI_API_KEY": f"sk-{i}-123456"}, [], {})
    try:
        versions = sm.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)["Versions"]
        assert len(versions) == 6 and store.tries == 6, (len(versions), store.tries)
        assert time.monotonic() - started < 30  # a guard only
    finally:
        sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)

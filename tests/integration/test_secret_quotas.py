"""Secrets Manager refusing a provider-keys write for a quota (versions or staging labels per
secret), over real HTTP: a proxy in front of the local endpoint answers ``LimitExceededException``
as AWS does. The store says which quota, saves nothing, leaves no pending label and does not
retry (neither its own compare-and-swap loop nor botocore's throttling retries)."""

from __future__ import annotations

import json
import threading
import zlib
from typing import Any

import pytest

import prompt_tester_nb as pt
from prompt_tester_nb import QuotaError  # the public name a user catches
from prompt_tester_nb.http_errors import error_response
from prompt_tester_nb.local.fault_proxy import FaultProxy, _Handler
from prompt_tester_nb.service import PromptTesterService
from prompt_tester_nb.stores.secrets import SecretStore
from tests.conftest import password_of

PUT = "secretsmanager.PutSecretValue"
STAGE = "secretsmanager.UpdateSecretVersionStage"
CREATE = "secretsmanager.CreateSecret"
VERSIONS = "You can't create more versions of this secret: it has reached its version quota."
LABELS = "You can't attach more than 20 staging labels to a secret."
OTHER = "The request failed because it would exceed one of the Secrets Manager quotas."


class _RefusingHandler(_Handler):
    def _any(self) -> None:
        target = self.headers.get("X-Amz-Target", "")
        refusal = self.server.owner.take_refusal(target)
        if refusal is None:
            super()._any()
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.owner.seen.append(target)
        code, message = refusal
        data = json.dumps({"__type": code, "message": message, "Message": message}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("x-amzn-ErrorType", code)
        self.send_header("x-amz-crc32", str(zlib.crc32(data) & 0xFFFFFFFF))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _any


class RefusingProxy(FaultProxy):
    """The fault proxy, which can also answer a given AWS error to a given operation."""

    def __init__(self, upstream_url: str):
        self._refusals: list[dict[str, Any]] = []
        self._refusal_lock = threading.Lock()
        super().__init__(upstream_url)
        self._server.RequestHandlerClass = _RefusingHandler

    def refuse(self, target: str, code: str, message: str, count: int = 1000) -> None:
        with self._refusal_lock:
            self._refusals.append({"target": target, "answer": (code, message), "count": count})

    def take_refusal(self, target: str) -> tuple[str, str] | None:
        with self._refusal_lock:
            for refusal in self._refusals:
                if refusal["target"] == target:
                    refusal["count"] -= 1
                    if refusal["count"] <= 0:
                        self._refusals.remove(refusal)
                    return refusal["answer"]
        return None

    def clear(self) -> None:
        with self._refusal_lock:
            self._refusals.clear()
        super().clear()


@pytest.fixture(scope="module")
def proxy(stack):
    p = RefusingProxy(stack.aws.url).start()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def proxied(stack, proxy) -> PromptTesterService:
    settings = stack.settings.model_copy(
        update={"endpoint_url": proxy.url, "aws_timeout_seconds": 60, "access_cache_seconds": 0}
    )
    return PromptTesterService(settings)


@pytest.fixture
def faulty(stack, proxy, proxied):
    """Alice through the proxy."""
    proxy.clear()
    email = "alice@acme.example"
    yield pt.connect(
        email=email, password=password_of(stack, email), env="staging", service=proxied
    )
    proxy.clear()


def _pending(sm: Any, name: str) -> list[str]:
    stages = sm.describe_secret(SecretId=name)["VersionIdsToStages"]
    return [s for labels in stages.values() for s in labels if s.startswith("PENDING-")]


@pytest.mark.parametrize(
    ("target", "message", "quota", "words"),
    [
        (PUT, VERSIONS, "versions", ["versions quota", "about 100 versions", "24 hours"]),
        (PUT, LABELS, "labels", ["20 staging labels per secret"]),
        (STAGE, LABELS, "labels", ["20 staging labels per secret"]),
        (PUT, OTHER, "other", ["one of its quotas"]),
    ],
)
def test_a_quota_refusal_is_named_saves_nothing_and_is_not_retried(
    service, faulty, proxy, unique, target, message, quota, words
):
    name = service.settings.secret_name(faulty.env.env_id)
    faulty.secrets.set(OPENAI_ORG=f"org-{unique}-before")  # the secret exists: a swap
    before = service.secret_store.read_values(name).values
    proxy.clear()
    # UpdateSecretVersionStage: only the move of AWSCURRENT is refused, not the label's removal
    proxy.refuse(target, "LimitExceededException", message, count=1 if target == STAGE else 1000)
    secret = f"sk-{unique}-never-shown-0000"
    with pytest.raises(QuotaError) as info:
        faulty.secrets.set(OPENAI_API_KEY=secret)
    text = str(info.value)
    assert info.value.quota == quota
    assert isinstance(info.value, pt.StoreError)
    for word in [*words, "Nothing was saved"]:
        assert word in text, text
    assert secret not in text and secret not in json.dumps(info.value.to_dict())
    assert "Others kept changing" not in text
    assert error_response(info.value)[0] == 429
    # tried once: no compare-and-swap retries, no botocore throttling retries
    assert proxy.seen.count(PUT) == 1, proxy.seen
    if target == STAGE:
        assert proxy.seen.count(STAGE) == 2, proxy.seen  # the refused move, the label's removal
    proxy.clear()
    assert service.secret_store.read_values(name).values == before  # nothing saved
    assert not _pending(service.aws.secretsmanager, name)  # no pending label left


def test_a_quota_refusal_when_creating_the_secret(service, proxied, proxy, unique):
    name = f"prompt-tester/quota-{unique}/provider-keys"
    store = SecretStore(proxied.aws.secretsmanager, None)
    proxy.clear()
    proxy.refuse(CREATE, "LimitExceededException", OTHER)
    with pytest.raises(QuotaError) as info:
        store.merge(name, {"OPENAI_API_KEY": f"sk-{unique}-x"}, [], {})
    assert info.value.quota == "other" and "Nothing was saved" in str(info.value)
    assert proxy.seen.count(CREATE) == 1, proxy.seen
    proxy.clear()
    assert service.secret_store.read_values(name).values == {}  # no secret was made


def test_a_quota_refusal_under_the_lease_releases_it(service, proxied, proxy, unique):
    """With writers taking turns (stores/lease.py), a quota refusal still ends the change at
    once, and the lease is released: the next writer is not held up until the lease expires."""
    from prompt_tester_nb.stores.lease import LeaseTable

    name = f"prompt-tester/quota-lease-{unique}/provider-keys"
    leases = LeaseTable(proxied.aws.dynamodb, proxied.settings.table("Leases"), wait_seconds=1)
    store = SecretStore(proxied.aws.secretsmanager, None, lease=leases)
    proxy.clear()
    store.merge(name, {"OPENAI_ORG": f"org-{unique}"}, [], {})
    proxy.refuse(PUT, "LimitExceededException", VERSIONS)
    with pytest.raises(QuotaError):
        store.merge(name, {"OPENAI_API_KEY": f"sk-{unique}-x"}, [], {})
    assert proxy.seen.count(PUT) == 1, proxy.seen
    proxy.clear()
    lease = service.aws.dynamodb.get_item(
        TableName=service.settings.table("Leases"),
        Key={"lease_id": {"S": f"secret:{name}"}},
        ConsistentRead=True,
    )
    assert "Item" not in lease
    store.merge(name, {"OPENAI_API_KEY": f"sk-{unique}-y"}, [], {})  # not held up
    assert store.read_values(name).values["OPENAI_API_KEY"] == f"sk-{unique}-y"
    service.aws.secretsmanager.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)

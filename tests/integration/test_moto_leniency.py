"""Pins of moto's known leniencies: each test asserts what moto's server does today where AWS
refuses, so it fails the day moto changes, and says where our code keeps to AWS's rule instead,
so nothing here is relied on. Over HTTP to the suite's moto server (``stack``).

Measured besides (moto 5.2.5, MiniStack 1.5.33): MiniStack refuses the custom-label move without
``RemoveFromVersionId`` and the 4.6 MB transaction, as AWS does; it also accepts 27 labels on one
version and allows 100 items in TransactGetItems.
"""

from __future__ import annotations

import ast
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

STORES = Path(__file__).resolve().parents[2] / "prompt_tester_nb" / "stores"


@pytest.fixture
def secret(service) -> Any:
    sm = service.aws.secretsmanager
    name = f"prompt-tester/leniency-{uuid.uuid4().hex[:8]}/provider-keys"
    first = sm.create_secret(Name=name, SecretString="{}")["VersionId"]
    yield name, first
    sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


@pytest.fixture
def table(service) -> Any:
    db = service.aws.dynamodb
    name = f"leniency-{uuid.uuid4().hex[:8]}"
    db.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield name
    db.delete_table(TableName=name)


def _calls(method: str) -> list[tuple[str, ast.Call]]:
    """Every call of ``<something>.<method>(...)`` in the stores, with its file name."""
    found = []
    for path in STORES.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == method
            ):
                found.append((path.name, node))
    return found


def test_moto_moves_a_custom_label_without_removing_it_from_the_version_holding_it(service, secret):
    """AWS: a staging label is on one version at most; moving one that is attached elsewhere
    without ``RemoveFromVersionId`` naming that version is an ``InvalidParameterException``
    (MiniStack says so too). moto appends the label, which is then on two versions.

    Our code never moves a custom label: ``stores/secrets.py`` puts a version with its own
    ``PENDING-<uuid>`` label and only removes that label, from the version it was put on; the
    compare-and-swap moves ``AWSCURRENT`` with ``RemoveFromVersionId`` always given. A stale
    ``RemoveFromVersionId`` (the version no longer holding the label) is refused by moto 5.2.5
    as by AWS, for a custom label too (pinned below): the issue's report of moto accepting it
    did not reproduce with this moto.
    """
    sm = service.aws.secretsmanager
    name, first = secret
    second = sm.put_secret_value(SecretId=name, SecretString="{}", VersionStages=["CUSTOM"])
    third = sm.put_secret_value(SecretId=name, SecretString="{}", VersionStages=["OTHER"])
    sm.update_secret_version_stage(
        SecretId=name, VersionStage="CUSTOM", MoveToVersionId=third["VersionId"]
    )
    stages = sm.describe_secret(SecretId=name)["VersionIdsToStages"]
    holding = [v for v, labels in stages.items() if "CUSTOM" in labels]
    assert sorted(holding) == sorted([second["VersionId"], third["VersionId"]])  # lenient
    with pytest.raises(ClientError) as info:  # as AWS: stale RemoveFromVersionId refused
        sm.update_secret_version_stage(
            SecretId=name,
            VersionStage="OTHER",
            MoveToVersionId=second["VersionId"],
            RemoveFromVersionId=first,
        )
    assert info.value.response["Error"]["Code"] == "InvalidParameterException"


def test_moto_allows_27_labels_on_one_version(service, secret):
    """AWS: at most 20 staging labels per secret; more is a ``LimitExceededException``. moto
    (and MiniStack) take 27 on one version, so neither would show a leak of labels.

    Our code keeps the rule itself: a change adds one ``PENDING-`` label and removes it, and the
    holder of the lease removes any label a writer that died left behind
    (``SecretStore.clear_pending``; tests/integration/test_key_writers.py crashes 22 writers in turn and
    never sees more than one pending label). AWS's refusal is a ``QuotaError`` naming the quota
    (tests/integration/test_secret_quotas.py).
    """
    sm = service.aws.secretsmanager
    name, _ = secret
    labels = [f"L{i}" for i in range(27)]
    version = sm.put_secret_value(SecretId=name, SecretString="{}", VersionStages=labels)
    stages = sm.describe_secret(SecretId=name)["VersionIdsToStages"]
    assert sorted(stages[version["VersionId"]]) == sorted(labels)


def test_moto_caps_transact_get_items_at_25_items(service, table):
    """AWS allows 100 items in one TransactGetItems (since 2022); moto refuses more than 25
    with a ``ValidationException``, as AWS did before. MiniStack allows 100.

    Our code sends no TransactGetItems at all (checked here): the stores read many items with
    ``BatchGetItem``, 100 keys per call, AWS's limit for that operation, and send again what comes
    back as ``UnprocessedKeys`` (``stores/logs.py``, ``stores/tester_runs.py``).
    """
    db = service.aws.dynamodb

    def get(n: int) -> Any:
        return db.transact_get_items(
            TransactItems=[
                {"Get": {"TableName": table, "Key": {"k": {"S": str(i)}}}} for i in range(n)
            ]
        )

    assert len(get(25)["Responses"]) == 25
    with pytest.raises(ClientError) as info:
        get(26)  # AWS would answer 26 (up to 100)
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert _calls("transact_get_items") == []


def test_moto_accepts_a_transact_write_items_over_4_mb(service, table):
    """AWS refuses a TransactWriteItems whose items add up to more than 4 MB
    (``ValidationException``; MiniStack too). moto accepts 12 items of 390 KiB (4.8 MB).

    Our transactions write at most three items each (a behaviour and its audit event; a
    dataset's header, its version record and the audit event, the items themselves going by
    BatchWriteItem); an item is at most 400 KB, so each stays far below 4 MB (checked here:
    every transaction is a literal list of at most three items).
    """
    db = service.aws.dynamodb
    big = "x" * (390 * 1024)
    items = [
        {"Put": {"TableName": table, "Item": {"k": {"S": f"b{i}"}, "v": {"S": big}}}}
        for i in range(12)
    ]
    assert sum(len(big) for _ in items) > 4.6e6
    db.transact_write_items(TransactItems=items)  # lenient: AWS refuses this
    for i in (0, 11):  # all of it was written
        item = db.get_item(TableName=table, Key={"k": {"S": f"b{i}"}})["Item"]
        assert len(item["v"]["S"]) == len(big)
    calls = _calls("transact_write_items")
    assert sorted({f for f, _ in calls}) == ["behaviours.py", "datasets.py", "experiments.py"]
    for file, call in calls:
        (keyword,) = [k for k in call.keywords if k.arg == "TransactItems"]
        if file == "experiments.py" and isinstance(keyword.value, ast.Name):
            # blessing and deleting: at most four items, each a key, a pointer, a flag update
            # or the audit event (no header, no row), so far below 4 MB whatever the headers hold
            continue
        assert isinstance(keyword.value, ast.List) and len(keyword.value.elts) <= 3

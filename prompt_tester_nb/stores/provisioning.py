"""Provisioning: create whatever tables, indexes, TTL settings and bucket the schema has and
AWS lacks.

Idempotent and additive on any endpoint, real AWS included: it creates, it never drops,
rewrites or re-keys. A table whose keys differ from the schema is reported, not touched.
Failures at AWS come out as the package's ``StoreError``, as from every other store.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ..errors import StoreError
from ..schema import BILLING_MODE, BUCKET_PUBLIC_ACCESS_BLOCK, Index, Table
from .dynamo import aws_errors

ACTIVE_TIMEOUT_S = 300
POLL_INTERVAL_S = 0.5


@dataclass
class Action:
    """One thing provisioning did or found, printed by ``prompt-tester init``."""

    table: str
    what: str
    ok: bool = True

    def __str__(self) -> str:
        return f"{'ok ' if self.ok else 'ERR'} {self.table}: {self.what}"


def _gsi(index: Index) -> dict[str, Any]:
    return {
        "IndexName": index.name,
        "KeySchema": index.key_schema(),
        "Projection": {"ProjectionType": index.projection},
    }


class ProvisioningStore:
    def __init__(self, dynamodb: Any, active_timeout_s: float = ACTIVE_TIMEOUT_S):
        self._db = dynamodb
        self._active_timeout_s = active_timeout_s

    def _describe(self, name: str) -> dict[str, Any] | None:
        with aws_errors(f"Describing table {name}"):
            try:
                return self._db.describe_table(TableName=name)["Table"]
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    return None
                raise

    def _wait_active(self, name: str) -> None:
        """Until the table and its indexes are ACTIVE (at once on a local endpoint; AWS polls)."""
        deadline = time.monotonic() + self._active_timeout_s
        while time.monotonic() < deadline:
            table = self._describe(name)
            if (
                table
                and table.get("TableStatus") == "ACTIVE"
                and all(
                    g.get("IndexStatus", "ACTIVE") == "ACTIVE"
                    for g in table.get("GlobalSecondaryIndexes", [])
                )
            ):
                return
            time.sleep(POLL_INTERVAL_S)
        raise StoreError(
            f"Table {name} did not become ACTIVE within {self._active_timeout_s:g} s;"
            " run `prompt-tester init` again once AWS shows it active"
        )

    def ensure_table(self, table: Table, name: str) -> list[Action]:
        """Make the table ``name`` (the deployment's name for ``table``) match the schema."""
        actions: list[Action] = []
        current = self._describe(name)
        if current is None:
            kwargs: dict[str, Any] = {
                "TableName": name,
                "KeySchema": table.key_schema(),
                "AttributeDefinitions": table.attribute_definitions(),
                "BillingMode": BILLING_MODE,
            }
            if table.indexes:
                kwargs["GlobalSecondaryIndexes"] = [_gsi(i) for i in table.indexes]
            with aws_errors(f"Creating table {name}"):
                self._db.create_table(**kwargs)
            self._wait_active(name)
            actions.append(Action(name, "created"))
        else:
            if current.get("KeySchema") != table.key_schema():
                return [
                    Action(name, "exists with other keys than the schema; left alone", ok=False)
                ]
            present = {g["IndexName"] for g in current.get("GlobalSecondaryIndexes", [])}
            for index in table.indexes:
                if index.name in present:
                    continue
                with aws_errors(f"Adding index {index.name} to table {name}"):
                    self._db.update_table(
                        TableName=name,
                        AttributeDefinitions=table.attribute_definitions(),
                        GlobalSecondaryIndexUpdates=[{"Create": _gsi(index)}],
                    )
                self._wait_active(name)
                actions.append(Action(name, f"added index {index.name}"))
        if table.ttl_attribute:
            actions += self._ensure_ttl(name, table.ttl_attribute)
        if not actions:
            actions.append(Action(name, "already as the schema says"))
        return actions

    def _ensure_ttl(self, name: str, attribute: str) -> list[Action]:
        with aws_errors(f"Reading the TTL of table {name}"):
            ttl = self._db.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
        if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            with aws_errors(f"Enabling TTL on table {name}"):
                self._db.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute},
                )
            return [Action(name, f"enabled TTL on {attribute}")]
        if ttl.get("AttributeName") != attribute:
            return [
                Action(name, f"TTL is on {ttl.get('AttributeName')!r}, not {attribute!r}", ok=False)
            ]
        return []

    def ensure_tables(self, tables: Iterable[tuple[Table, str]]) -> list[Action]:
        """Each ``(table, name)`` in turn; the actions of all of them."""
        actions: list[Action] = []
        for table, name in tables:
            actions += self.ensure_table(table, name)
        return actions


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def bucket_encryption(kms_key_id: str | None) -> dict[str, Any]:
    """The bucket's default encryption: SSE-KMS with the configured key, else SSE-S3."""
    if kms_key_id:
        default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key_id}
        return {
            "Rules": [{"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": True}]
        }
    return {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}


def ensure_bucket(s3: Any, name: str, region: str, kms_key_id: str | None) -> list[Action]:
    """Create the experiments' bucket where missing: public access blocked, encrypted by
    default. An existing bucket gets the public access block if it lacks one; encryption
    other than the schema's is reported, not rewritten."""
    what = f"bucket {name}"
    with aws_errors(f"Reading bucket {name}"):
        try:
            s3.head_bucket(Bucket=name)
            exists = True
        except ClientError as exc:
            if _code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise
            exists = False
    actions: list[Action] = []
    if not exists:
        kwargs: dict[str, Any] = {"Bucket": name}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        with aws_errors(f"Creating bucket {name}"):
            s3.create_bucket(**kwargs)
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=BUCKET_PUBLIC_ACCESS_BLOCK
            )
            s3.put_bucket_encryption(
                Bucket=name, ServerSideEncryptionConfiguration=bucket_encryption(kms_key_id)
            )
        return [Action(what, "created (public access blocked, encrypted)")]
    with aws_errors(f"Reading bucket {name}"):
        try:
            block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        except ClientError as exc:
            if _code(exc) != "NoSuchPublicAccessBlockConfiguration":
                raise
            block = {}
    if block != BUCKET_PUBLIC_ACCESS_BLOCK:
        with aws_errors(f"Blocking public access to bucket {name}"):
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=BUCKET_PUBLIC_ACCESS_BLOCK
            )
        actions.append(Action(what, "blocked public access"))
    with aws_errors(f"Reading the encryption of bucket {name}"):
        try:
            rules = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]
        except ClientError as exc:
            if _code(exc) != "ServerSideEncryptionConfigurationNotFoundError":
                raise
            rules = {"Rules": []}
    wanted = bucket_encryption(kms_key_id)["Rules"][0]["ApplyServerSideEncryptionByDefault"]
    found = [r.get("ApplyServerSideEncryptionByDefault", {}) for r in rules.get("Rules", [])]
    if not found:
        with aws_errors(f"Encrypting bucket {name}"):
            s3.put_bucket_encryption(
                Bucket=name, ServerSideEncryptionConfiguration=bucket_encryption(kms_key_id)
            )
        actions.append(Action(what, "set default encryption"))
    elif not any(
        f.get("SSEAlgorithm") == wanted["SSEAlgorithm"]
        and f.get("KMSMasterKeyID") == wanted.get("KMSMasterKeyID")
        for f in found
    ):
        actions.append(
            Action(what, "encrypted otherwise than the settings say; left alone", ok=False)
        )
    return actions or [Action(what, "already as the schema says")]

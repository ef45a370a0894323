"""``prompt-tester init``: create whatever tables, indexes and TTL settings are missing.

Idempotent and additive on any endpoint, real AWS included: it creates, it never drops,
rewrites or re-keys. A table whose keys differ from the schema is reported, not touched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from .aws import AwsClients
from .schema import TABLES, Table, _key_schema
from .settings import Settings


@dataclass
class Action:
    table: str
    what: str
    ok: bool = True

    def __str__(self) -> str:
        return f"{'ok ' if self.ok else 'ERR'} {self.table}: {self.what}"


def _describe(db: Any, name: str) -> dict[str, Any] | None:
    try:
        return db.describe_table(TableName=name)["Table"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise


def _wait_active(db: Any, name: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        table = _describe(db, name)
        if (
            table
            and table.get("TableStatus") == "ACTIVE"
            and all(
                g.get("IndexStatus", "ACTIVE") == "ACTIVE"
                for g in table.get("GlobalSecondaryIndexes", [])
            )
        ):
            return
        time.sleep(0.5)
    raise TimeoutError(f"table {name} did not become ACTIVE within {timeout:g} s")


def _gsi(index: Any) -> dict[str, Any]:
    return {
        "IndexName": index.name,
        "KeySchema": _key_schema(index.partition_key, index.sort_key),
        "Projection": {"ProjectionType": "ALL"},
    }


def ensure_table(db: Any, table: Table, name: str) -> list[Action]:
    actions: list[Action] = []
    current = _describe(db, name)
    if current is None:
        kwargs: dict[str, Any] = {
            "TableName": name,
            "KeySchema": table.key_schema(),
            "AttributeDefinitions": table.attribute_definitions(),
            "BillingMode": "PAY_PER_REQUEST",
        }
        if table.indexes:
            kwargs["GlobalSecondaryIndexes"] = [_gsi(i) for i in table.indexes]
        db.create_table(**kwargs)
        _wait_active(db, name)
        actions.append(Action(name, "created"))
    else:
        if current.get("KeySchema") != table.key_schema():
            return [Action(name, "exists with other keys than the schema; left alone", ok=False)]
        present = {g["IndexName"] for g in current.get("GlobalSecondaryIndexes", [])}
        for index in table.indexes:
            if index.name in present:
                continue
            db.update_table(
                TableName=name,
                AttributeDefinitions=table.attribute_definitions(),
                GlobalSecondaryIndexUpdates=[{"Create": _gsi(index)}],
            )
            _wait_active(db, name)
            actions.append(Action(name, f"added index {index.name}"))
    if table.ttl_attribute:
        ttl = db.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
        if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            db.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )
            actions.append(Action(name, f"enabled TTL on {table.ttl_attribute}"))
        elif ttl.get("AttributeName") != table.ttl_attribute:
            actions.append(
                Action(
                    name,
                    f"TTL is on {ttl.get('AttributeName')!r}, not {table.ttl_attribute!r}",
                    ok=False,
                )
            )
    if not actions:
        actions.append(Action(name, "already as the schema says"))
    return actions


def init(settings: Settings | None = None, clients: AwsClients | None = None) -> list[Action]:
    settings = settings or Settings()
    db = (clients or AwsClients(settings)).dynamodb
    actions: list[Action] = []
    for table in TABLES:
        actions += ensure_table(db, table, settings.table(table.name))
    return actions

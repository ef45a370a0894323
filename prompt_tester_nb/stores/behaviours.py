"""Behaviours: named behaviour documents per environment, with optimistic locking.

Every write is conditional, so two editors never silently overwrite each other: create needs
the name to be free, update and versioned delete need the version that was read. Each write
commits in one transaction with its audit event (``audit``, from ``AuditStore.event``): the
change and its record land together or not at all. The store speaks ``Behaviour``.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConflictError, NotFoundError
from ..models import Behaviour
from .dynamo import aws_errors, deserialize, query_all, serialize, serialize_value


def behaviour(item: dict[str, Any]) -> Behaviour:
    """A Behaviours item as a ``Behaviour`` (a missing spec reads as empty, version as 0)."""
    return Behaviour(
        name=item["name"],
        spec=item.get("spec") if isinstance(item.get("spec"), dict) else {},
        version=int(item.get("version") or 0),
        created_by=item.get("created_by"),
        created_at=item.get("created_at"),
        updated_by=item.get("updated_by"),
        updated_at=item.get("updated_at"),
    )


class BehaviourStore:
    def __init__(self, dynamodb: Any, table: str):
        self._db = dynamodb
        self._table = table

    def _key(self, env_id: str, name: str) -> dict[str, Any]:
        return {"env_id": {"S": env_id}, "name": {"S": name}}

    def list(self, env_id: str) -> list[Behaviour]:
        """The environment's behaviours, by name."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#e = :e",
            "ExpressionAttributeNames": {"#e": "env_id"},
            "ExpressionAttributeValues": {":e": {"S": env_id}},
        }
        with aws_errors("Listing behaviours"):
            items = query_all(self._db, **kwargs)
        return sorted((behaviour(i) for i in items), key=lambda b: b.name)

    def get(self, env_id: str, name: str) -> Behaviour | None:
        with aws_errors("Reading a behaviour"):
            result = self._db.get_item(
                TableName=self._table, Key=self._key(env_id, name), ConsistentRead=True
            )
        item = deserialize(result.get("Item"))
        return None if item is None else behaviour(item)

    def _write(self, action: str, change: dict[str, Any], audit: dict[str, Any]) -> None:
        with aws_errors(action):
            self._db.transact_write_items(TransactItems=[change, audit])

    def create(
        self, env_id: str, name: str, spec: dict[str, Any], by: str, at: str, audit: dict[str, Any]
    ) -> Behaviour:
        """A new behaviour at version 1; ConflictError when the name is taken."""
        item = {
            "env_id": env_id,
            "name": name,
            "spec": spec,
            "version": 1,
            "created_by": by,
            "created_at": at,
            "updated_by": by,
            "updated_at": at,
        }
        put = {
            "TableName": self._table,
            "Item": serialize(item),
            "ConditionExpression": "attribute_not_exists(#n)",
            "ExpressionAttributeNames": {"#n": "name"},
        }
        try:
            self._write("Creating a behaviour", {"Put": put}, audit)
        except ConflictError:
            raise ConflictError(
                f"A behaviour named {name!r} already exists in this environment"
            ) from None
        return behaviour(item)

    def update(
        self,
        env_id: str,
        name: str,
        spec: dict[str, Any],
        expected_version: int,
        by: str,
        at: str,
        audit: dict[str, Any],
    ) -> None:
        update = {
            "TableName": self._table,
            "Key": self._key(env_id, name),
            "UpdateExpression": "SET #s = :s, #v = :new, #ub = :by, #ua = :at",
            "ConditionExpression": "attribute_exists(#n) AND #v = :old",
            "ExpressionAttributeNames": {
                "#s": "spec",
                "#v": "version",
                "#ub": "updated_by",
                "#ua": "updated_at",
                "#n": "name",
            },
            "ExpressionAttributeValues": {
                ":s": serialize_value(spec),
                ":new": {"N": str(expected_version + 1)},
                ":old": {"N": str(expected_version)},
                ":by": {"S": by},
                ":at": {"S": at},
            },
        }
        try:
            self._write("Saving a behaviour", {"Update": update}, audit)
        except ConflictError:
            raise self._lost(env_id, name, expected_version) from None

    def delete(
        self, env_id: str, name: str, expected_version: int | None, audit: dict[str, Any]
    ) -> None:
        delete: dict[str, Any] = {
            "TableName": self._table,
            "Key": self._key(env_id, name),
            "ConditionExpression": "attribute_exists(#n)",
            "ExpressionAttributeNames": {"#n": "name"},
        }
        if expected_version is not None:
            delete["ConditionExpression"] += " AND #v = :old"
            delete["ExpressionAttributeNames"]["#v"] = "version"
            delete["ExpressionAttributeValues"] = {":old": {"N": str(expected_version)}}
        try:
            self._write("Deleting a behaviour", {"Delete": delete}, audit)
        except ConflictError:
            raise self._lost(env_id, name, expected_version) from None

    def _lost(self, env_id: str, name: str, expected: int | None) -> Exception:
        current = self.get(env_id, name)
        if current is None:
            return NotFoundError(f"No behaviour named {name!r} in this environment")
        return ConflictError(
            f"Behaviour {name!r} was changed by {current.updated_by or 'someone else'}"
            f" (now version {current.version}, you had version {expected});"
            " reload it and apply your change again"
        )

"""AuditLog: who changed which behaviour or provider key in an environment, and when.

Events name the behaviour or the key, never a value. The sort key starts with the ISO time,
so a descending query lists the newest first.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from ..models import AuditEvent
from ..schema import audit_event_id
from .dynamo import aws_errors, deserialize, serialize


class AuditStore:
    def __init__(self, dynamodb: Any, table: str):
        self._db = dynamodb
        self._table = table

    def event(
        self, env_id: str, by: str, action: str, target: str, details: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The event as a ``TransactWriteItems`` entry, to commit together with the change."""
        at = datetime.now(UTC).isoformat(timespec="milliseconds")
        item = {
            "env_id": env_id,
            "event_id": audit_event_id(at, uuid.uuid4().hex[:8]),
            "at": at,
            "by": by,
            "action": action,
            "target": target,
            "details": details or None,
        }
        return {"Put": {"TableName": self._table, "Item": serialize(item)}}

    def record(
        self, env_id: str, by: str, action: str, target: str, details: dict[str, Any] | None = None
    ) -> None:
        """For changes outside DynamoDB (Secrets Manager), which no transaction can span."""
        put = self.event(env_id, by, action, target, details)["Put"]
        with aws_errors("Recording an audit event"):
            self._db.put_item(**put)

    def recent(self, env_id: str, limit: int) -> list[AuditEvent]:
        """The newest ``limit`` events, newest first (a field another writer left out reads
        as ``"?"`` or empty)."""
        with aws_errors("Reading the audit log"):
            page = self._db.query(
                TableName=self._table,
                KeyConditionExpression="#e = :e",
                ExpressionAttributeNames={"#e": "env_id"},
                ExpressionAttributeValues={":e": {"S": env_id}},
                ScanIndexForward=False,
                Limit=limit,
            )
        return [_event(deserialize(i)) for i in page.get("Items", [])]


def _event(item: dict[str, Any]) -> AuditEvent:
    details = item.get("details")
    return AuditEvent(
        at=item["at"],
        by=item.get("by") or "?",
        action=item.get("action") or "?",
        target=item.get("target") or "",
        details=details if isinstance(details, dict) else {},
    )

"""ApiTokens: flow-prompt API tokens, stored only as a SHA-256 digest with a TTL.

DynamoDB's TTL deletion can lag by days, so every read compares ``expires_at`` with now:
an expired token is absent whatever the table still holds.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from pydantic import BaseModel

from .dynamo import aws_errors, deserialize, serialize


class ApiTokenOwner(BaseModel):
    """Whose a live token is: its environment and user, and when it expires (epoch s)."""

    env_id: str
    user_id: str | None = None
    expires_at: int


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    def __init__(self, dynamodb: Any, table: str):
        self._db = dynamodb
        self._table = table

    def put(self, env_id: str, token: str, user_id: str, ttl_seconds: int) -> int:
        now = int(time.time())
        expires_at = now + ttl_seconds
        with aws_errors("Creating an API token"):
            self._db.put_item(
                TableName=self._table,
                Item=serialize(
                    {
                        "env_id": env_id,
                        "secret_key": token_digest(token),
                        "user_id": user_id,
                        "created_at": now,
                        "expires_at": expires_at,
                    }
                ),
                ConditionExpression="attribute_not_exists(secret_key)",
            )
        return expires_at

    def find(self, token: str) -> ApiTokenOwner | None:
        """Whose a presented token is, or None (unknown, malformed or expired)."""
        env_id, sep, _ = token.partition(".")
        if not sep or not env_id:
            return None
        with aws_errors("Checking an API token"):
            result = self._db.get_item(
                TableName=self._table,
                Key={"env_id": {"S": env_id}, "secret_key": {"S": token_digest(token)}},
                ConsistentRead=True,
            )
        item = deserialize(result.get("Item"))
        if not item or int(item.get("expires_at") or 0) <= time.time():
            return None
        return ApiTokenOwner(
            env_id=str(item.get("env_id") or env_id),
            user_id=item.get("user_id"),
            expires_at=int(item["expires_at"]),
        )

"""Logs: logged model calls, newest first, by environment (GSI ``env_id``) or by prompt."""

from __future__ import annotations

from typing import Any

from ..schema import KEY_SEP, env_prompt_key
from .dynamo import aws_errors, deserialize, serialize


class LogStore:
    GSI = "env_id"

    def __init__(self, dynamodb: Any, table: str):
        self._db = dynamodb
        self._table = table

    def page(
        self,
        env_id: str,
        *,
        prompt_id: str | None,
        since_ms: int | None,
        until_ms: int | None,
        limit: int,
        start_key: dict[str, Any] | None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One page, newest first; returns items and DynamoDB's LastEvaluatedKey (raw)."""
        names: dict[str, str] = {}
        if prompt_id is None:
            names["#pk"] = "env_id"
            values: dict[str, Any] = {":pk": {"S": env_id}}
        else:
            names["#pk"] = "env_id_prompt_id"
            values = {":pk": {"S": env_prompt_key(env_id, prompt_id)}}
        condition = "#pk = :pk"
        low = 0 if since_ms is None else since_ms
        high = until_ms
        if since_ms is not None or until_ms is not None:
            values[":lo"] = {"N": str(low)}
            values[":hi"] = {"N": str(high if high is not None else 2**62)}
            names["#t"] = "timestamp"
            condition += " AND #t BETWEEN :lo AND :hi"
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if prompt_id is None:
            kwargs["IndexName"] = self.GSI
        if start_key:
            kwargs["ExclusiveStartKey"] = start_key
        with aws_errors("Reading logs"):
            page = self._db.query(**kwargs)
        items = [deserialize(i) for i in page.get("Items", [])]
        return items, page.get("LastEvaluatedKey")

    def get(self, env_id: str, prompt_id: str, timestamp: int) -> dict[str, Any] | None:
        with aws_errors("Reading a log"):
            result = self._db.get_item(
                TableName=self._table,
                Key={
                    "env_id_prompt_id": {"S": env_prompt_key(env_id, prompt_id)},
                    "timestamp": {"N": str(timestamp)},
                },
            )
        return deserialize(result.get("Item"))

    def put(self, item: dict[str, Any]) -> None:
        """Write one call record (the local flow-prompt API service uses this)."""
        with aws_errors("Writing a log"):
            self._db.put_item(TableName=self._table, Item=serialize(item))


def split_context_id(context_id: str) -> tuple[str, int]:
    """``"{prompt_id}#{timestamp}"`` → (prompt_id, timestamp); prompt ids may hold '#'."""
    prompt_id, sep, ts = context_id.rpartition(KEY_SEP)
    if not sep or not prompt_id or not ts.isdigit():
        raise ValueError("context_id must look like '<prompt_id>#<timestamp ms>'")
    return prompt_id, int(ts)

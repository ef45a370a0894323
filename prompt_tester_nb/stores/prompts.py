"""LatestPrompts and PromptHistory: prompt data by id and version."""

from __future__ import annotations

from typing import Any

from ..schema import env_prompt_key
from .dynamo import aws_errors, deserialize, query_all


class PromptStore:
    def __init__(self, dynamodb: Any, latest: str, history: str):
        self._db = dynamodb
        self._latest = latest
        self._history = history

    def latest(self, env_id: str, prompt_id: str) -> dict[str, Any] | None:
        with aws_errors("Reading the latest prompt"):
            result = self._db.get_item(
                TableName=self._latest,
                Key={"env_id": {"S": env_id}, "prompt_id": {"S": prompt_id}},
            )
        return deserialize(result.get("Item"))

    def version(self, env_id: str, prompt_id: str, version: str) -> dict[str, Any] | None:
        with aws_errors("Reading a prompt version"):
            result = self._db.get_item(
                TableName=self._history,
                Key={
                    "env_id_prompt_id": {"S": env_prompt_key(env_id, prompt_id)},
                    "version": {"S": str(version)},
                },
            )
        return deserialize(result.get("Item"))

    def history(self, env_id: str, prompt_id: str) -> list[dict[str, Any]]:
        """Every version's item (without the prompt bodies, which can be large)."""
        kwargs: dict[str, Any] = {
            "TableName": self._history,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": "env_id_prompt_id", "#v": "version"},
            "ExpressionAttributeValues": {":pk": {"S": env_prompt_key(env_id, prompt_id)}},
            "ProjectionExpression": "#v, created_tms",
        }
        with aws_errors("Reading prompt versions"):
            return query_all(self._db, **kwargs)

    def prompt_ids(self, env_id: str) -> list[str]:
        kwargs: dict[str, Any] = {
            "TableName": self._latest,
            "KeyConditionExpression": "#e = :e",
            "ExpressionAttributeNames": {"#e": "env_id", "#p": "prompt_id"},
            "ExpressionAttributeValues": {":e": {"S": env_id}},
            "ProjectionExpression": "#p",
        }
        with aws_errors("Listing prompts"):
            return sorted(str(i["prompt_id"]) for i in query_all(self._db, **kwargs))

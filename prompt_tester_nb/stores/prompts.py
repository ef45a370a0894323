"""LatestPrompts and PromptHistory: prompt data by id and version.

Items come back as models: ``StoredPrompt`` (a version's data) and ``PromptVersionRef`` (a
version in a prompt's history); the platform writes these tables, so a field it left out or
wrote in another type reads as missing here, never as an error further up.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ..schema import env_prompt_key
from .dynamo import aws_errors, deserialize, query_all


class PromptVersionRef(BaseModel):
    """A version of a prompt and when it was made (epoch ms; None when not recorded)."""

    version: str
    created_tms: int | None = None


class StoredPrompt(BaseModel):
    """A prompt item: its data (``service_dump`` shape; None when the item holds none), its
    version (None when the item does not say) and when it was made."""

    version: str | None = None
    created_tms: int | None = None
    prompt: dict[str, Any] | None = None


def _created(item: dict[str, Any]) -> int | None:
    value = item.get("created_tms")
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError):
        return None


def _stored(item: dict[str, Any] | None) -> StoredPrompt | None:
    if item is None:
        return None
    prompt = item.get("prompt")
    version = item.get("version")
    return StoredPrompt(
        version=str(version) if version else None,
        created_tms=_created(item),
        prompt=dict(prompt) if isinstance(prompt, dict) else None,
    )


class PromptStore:
    def __init__(self, dynamodb: Any, latest: str, history: str):
        self._db = dynamodb
        self._latest = latest
        self._history = history

    def latest(self, env_id: str, prompt_id: str) -> StoredPrompt | None:
        with aws_errors("Reading the latest prompt"):
            result = self._db.get_item(
                TableName=self._latest,
                Key={"env_id": {"S": env_id}, "prompt_id": {"S": prompt_id}},
            )
        return _stored(deserialize(result.get("Item")))

    def version(self, env_id: str, prompt_id: str, version: str) -> StoredPrompt | None:
        with aws_errors("Reading a prompt version"):
            result = self._db.get_item(
                TableName=self._history,
                Key={
                    "env_id_prompt_id": {"S": env_prompt_key(env_id, prompt_id)},
                    "version": {"S": str(version)},
                },
            )
        return _stored(deserialize(result.get("Item")))

    def history(self, env_id: str, prompt_id: str) -> list[PromptVersionRef]:
        """Every version's item (without the prompt bodies, which can be large)."""
        kwargs: dict[str, Any] = {
            "TableName": self._history,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": "env_id_prompt_id", "#v": "version"},
            "ExpressionAttributeValues": {":pk": {"S": env_prompt_key(env_id, prompt_id)}},
            "ProjectionExpression": "#v, created_tms",
        }
        with aws_errors("Reading prompt versions"):
            items = query_all(self._db, **kwargs)
        return [
            PromptVersionRef(version=str(i["version"]), created_tms=_created(i))
            for i in items
            if i.get("version") is not None
        ]

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

"""The embedded default's ``lib/prompts``: registering a prompt as the platform does.

flow-prompt's ``FlowPromptService.get_actual_prompt`` posts ``{"prompt", "id", "version",
"is_taken_globally"}`` and the platform's service answers the prompt to use and its version.
Its documented behaviour, written here into PromptHistory and LatestPrompts:

- a prompt text it has not seen for that prompt id becomes a new version (the next number),
  stored in PromptHistory (with ``env_id_prompt_id_hash_key``) and made the latest;
- a text seen before (any earlier version) answers the latest version and its prompt: nothing
  is written, so sending an old text again never rolls the prompt back.

"The text" is the prompt data with its ``version`` left out (``fingerprint.draft_sha256``).
Writes are conditional, so two registrations at once give two versions and never overwrite
one: a PromptHistory item is put only where its version does not exist (a loser reads again
and takes the next number), and LatestPrompts only moves from the version it was read at to
a higher one.
"""

from __future__ import annotations

import time
from typing import Any

from ..errors import ConflictError
from ..fingerprint import draft_sha256
from ..schema import env_prompt_key, prompt_hash_key
from ..stores.dynamo import aws_errors, deserialize, query_all, serialize

# Registrations of one prompt that may lose the race for a version number in a row.
MAX_ATTEMPTS = 20


def _number(version: Any) -> int:
    text = str(version)
    return int(text) if text.isdigit() else 0


class PromptRegistry:
    """PromptHistory and LatestPrompts, written as the platform's ``lib/prompts`` writes them."""

    def __init__(self, dynamodb: Any, latest: str, history: str):
        self._db = dynamodb
        self._latest = latest
        self._history = history

    def latest(self, env_id: str, prompt_id: str) -> dict[str, Any] | None:
        with aws_errors("Reading the latest prompt"):
            found = self._db.get_item(
                TableName=self._latest,
                Key={"env_id": {"S": env_id}, "prompt_id": {"S": prompt_id}},
                ConsistentRead=True,
            )
        return deserialize(found.get("Item"))

    def _history_items(self, env_id: str, prompt_id: str) -> list[dict[str, Any]]:
        with aws_errors("Reading prompt versions"):
            return query_all(
                self._db,
                TableName=self._history,
                KeyConditionExpression="#pk = :pk",
                ExpressionAttributeNames={"#pk": "env_id_prompt_id"},
                ExpressionAttributeValues={":pk": {"S": env_prompt_key(env_id, prompt_id)}},
                ConsistentRead=True,
            )

    def register(self, env_id: str, prompt_id: str, prompt: dict[str, Any]) -> tuple[str, dict]:
        """The version the prompt text has now, and the prompt data to use (the latest's when
        the text was seen before)."""
        digest = draft_sha256(prompt)
        for _ in range(MAX_ATTEMPTS):
            items = self._history_items(env_id, prompt_id)
            seen = any(
                isinstance(i.get("prompt"), dict) and draft_sha256(i["prompt"]) == digest
                for i in items
            )
            if seen:
                # the latest; LatestPrompts may lag a registration still under way, so the
                # highest version in PromptHistory counts as the latest too
                newest = max(items, key=lambda i: _number(i.get("version")))
                latest = self.latest(env_id, prompt_id)
                if latest is None or _number(latest.get("version")) < _number(newest["version"]):
                    latest = newest
                return str(latest["version"]), dict(latest.get("prompt") or prompt)
            version = str(max((_number(i.get("version")) for i in items), default=0) + 1)
            data = {**prompt, "prompt_id": prompt_id, "version": version}
            item = {
                "env_id_prompt_id": env_prompt_key(env_id, prompt_id),
                "version": version,
                "env_id": env_id,
                "prompt_id": prompt_id,
                "prompt": data,
                "created_tms": int(time.time() * 1000),
                "env_id_prompt_id_hash_key": prompt_hash_key(env_id, prompt_id, digest),
            }
            try:
                with aws_errors("Registering a prompt version"):
                    self._db.put_item(
                        TableName=self._history,
                        Item=serialize(item),
                        ConditionExpression="attribute_not_exists(#v)",
                        ExpressionAttributeNames={"#v": "version"},
                    )
            except ConflictError:
                continue  # another registration took that number: read again
            self._advance_latest(env_id, prompt_id, version, data)
            return version, data
        raise ConflictError(
            f"Registering prompt {prompt_id!r}: too many versions were registered at once; try"
            " again"
        )

    def _advance_latest(self, env_id: str, prompt_id: str, version: str, data: dict) -> None:
        """Make ``version`` the latest unless a higher one already is (compare-and-set on the
        version read, so a newer latest is never replaced by an older one)."""
        for _ in range(MAX_ATTEMPTS):
            current = self.latest(env_id, prompt_id)
            if current is not None and _number(current.get("version")) >= _number(version):
                return
            item = {"env_id": env_id, "prompt_id": prompt_id, "version": version, "prompt": data}
            request: dict[str, Any] = {"TableName": self._latest, "Item": serialize(item)}
            request["ExpressionAttributeNames"] = {"#v": "version"}
            if current is None or current.get("version") is None:
                request["ConditionExpression"] = "attribute_not_exists(#v)"
            else:
                request["ConditionExpression"] = "#v = :read"
                request["ExpressionAttributeValues"] = {":read": {"S": str(current["version"])}}
            try:
                with aws_errors("Making a prompt version the latest"):
                    self._db.put_item(**request)
                return
            except ConflictError:
                continue  # the latest moved meanwhile: read it again
        raise ConflictError(f"Making version {version} of {prompt_id!r} the latest: it kept moving")

"""TesterRuns: the product's own record of every call the Tester sent through ``lib/logs``.

flow-prompt posts each Tester call to the platform's ``lib/logs``, and the platform's service
writes the Logs item from what it is sent; it may drop any field it does not know, so nothing
in a Logs item can say that the Tester made it. This table can: one item per call, keyed
exactly like the Logs item the call created (``env_id_prompt_id``, ``timestamp``), so the
marks of a page of logs are one ``BatchGetItem`` of that page's own keys.

The store speaks ``TesterRun``; ``marked`` answers which of some log keys are the Tester's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..ids import ContextId
from ..models import TesterRun
from ..schema import env_prompt_key, split_env_prompt_key
from .dynamo import aws_errors, batch_get_items, deserialize, serialize
from .logs import log_key

_KEY_NAMES = {"#pk": "env_id_prompt_id", "#ts": "timestamp"}


def _run(item: dict[str, Any]) -> TesterRun:
    env_id, prompt_id = split_env_prompt_key(str(item.get("env_id_prompt_id", "")))
    ts = int(item.get("timestamp") or 0)
    return TesterRun(
        log_id=str(item.get("log_id") or ContextId(prompt_id, ts)),
        env_id=str(item.get("env_id") or env_id),
        prompt_id=str(item.get("prompt_id") or prompt_id),
        timestamp=ts,
        user_id=str(item.get("user_id") or ""),
        email=item.get("email"),
        behaviour=str(item.get("behaviour") or ""),
        draft_sha256=str(item.get("draft_sha256") or ""),
        version=None if item.get("version") is None else str(item["version"]),
        recorded_at=str(item.get("recorded_at") or ""),
    )


class TesterRunStore:
    def __init__(self, dynamodb: Any, table: str):
        self._db = dynamodb
        self._table = table

    def put(self, run: TesterRun) -> None:
        """Record one Tester call (a rerun of the same key overwrites: one call, one mark)."""
        item = {
            "env_id_prompt_id": env_prompt_key(run.env_id, run.prompt_id),
            "timestamp": run.timestamp,
            **run.model_dump(exclude={"timestamp"}),
        }
        with aws_errors("Recording a Tester run"):
            self._db.put_item(TableName=self._table, Item=serialize(item))

    def get(self, env_id: str, prompt_id: str, timestamp: int) -> TesterRun | None:
        with aws_errors("Reading a Tester run"):
            result = self._db.get_item(
                TableName=self._table,
                Key=log_key(env_id, prompt_id, timestamp),
                ConsistentRead=True,
            )
        item = deserialize(result.get("Item"))
        return None if item is None else _run(item)

    def marked(self, env_id: str, keys: Iterable[tuple[str, int]]) -> set[tuple[str, int]]:
        """Which of ``keys`` (``(prompt_id, timestamp)`` of logs) the Tester's calls created.

        Read 100 keys per ``BatchGetItem`` (strongly consistent, keys only: a mark written a
        moment ago is seen); keys DynamoDB leaves unprocessed are asked again with jittered
        backoff, as the log store does.
        """
        wanted = list(dict.fromkeys((str(p), int(t)) for p, t in keys))
        found: set[tuple[str, int]] = set()
        items = batch_get_items(
            self._db,
            self._table,
            [log_key(env_id, p, t) for p, t in wanted],
            "Reading the Tester's runs",
            ConsistentRead=True,
            ProjectionExpression="#pk, #ts",
            ExpressionAttributeNames=_KEY_NAMES,
        )
        for item in items:
            key_env, prompt_id = split_env_prompt_key(str(item["env_id_prompt_id"]))
            if key_env == env_id:
                found.add((prompt_id, int(item["timestamp"])))
        return found

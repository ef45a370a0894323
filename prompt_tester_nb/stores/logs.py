"""Logs: logged model calls, newest first, by environment (GSI ``env_id``) or by prompt.

The store speaks ``LogEntry`` (``log_entry`` reads an item, tolerating items other systems
wrote with parts missing); nothing above it sees a DynamoDB item. A ``projection`` names the
attributes to read (the keys are always read), so a replay reads a log's context, response
and metrics but not its prompt and request messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import ConflictError, NotFoundError
from ..ids import SEP as CONTEXT_SEP
from ..ids import ContextId
from ..models import LogEntry
from ..schema import env_prompt_key, split_env_prompt_key
from .dynamo import aws_errors, batch_get_items, deserialize, serialize

KEY_ATTRIBUTES = ("env_id_prompt_id", "timestamp")
# Attributes that make the LogEntry's identity; read whatever the projection asks for.
IDENTITY_ATTRIBUTES = (*KEY_ATTRIBUTES, "env_id", "prompt_id")


def log_entry(item: dict[str, Any] | LogEntry) -> LogEntry:
    """A log item as a ``LogEntry``. Tolerant: items from other writers may miss anything but
    their keys. (A ``LogEntry`` passes through unchanged.)"""
    if isinstance(item, LogEntry):
        return item
    key_env, key_prompt = split_env_prompt_key(str(item.get("env_id_prompt_id", "")))
    prompt_id = str(item.get("prompt_id") or key_prompt)
    ts = int(item.get("timestamp") or 0)

    def as_dict(name: str) -> dict[str, Any]:
        value = item.get(name)
        return value if isinstance(value, dict) else {}

    prompt = item.get("prompt")
    version = item.get("version")
    if version is None and isinstance(prompt, dict) and prompt.get("version") is not None:
        version = prompt.get("version")
    return LogEntry(
        # An item without a prompt id (no other writer should make one) still gets an id.
        context_id=str(ContextId(prompt_id, ts)) if prompt_id else f"{CONTEXT_SEP}{ts}",
        prompt_id=prompt_id,
        timestamp=ts,
        env_id=str(item.get("env_id") or key_env),
        version=None if version is None else str(version),
        context=as_dict("context"),
        prompt=prompt if isinstance(prompt, dict) else None,
        response=as_dict("response"),
        request=as_dict("request"),
        metrics=as_dict("metrics"),
        # ``source`` is not read from the item: the platform's service writes Logs items and
        # may keep or drop any field, so the service decides it from its TesterRuns records.
        ideal_answer=ideal if isinstance(ideal := item.get("ideal_answer"), str) else None,
    )


def _projection(attributes: Iterable[str] | None) -> dict[str, Any]:
    """``ProjectionExpression`` and its names for the attributes asked for, plus the keys."""
    if attributes is None:
        return {}
    wanted = list(dict.fromkeys([*IDENTITY_ATTRIBUTES, *attributes]))
    names = {f"#p{i}": name for i, name in enumerate(wanted)}
    return {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}


def log_key(env_id: str, prompt_id: str, timestamp: int) -> dict[str, Any]:
    """A Logs item's key, DynamoDB-typed (TesterRuns items are keyed the same way)."""
    return {
        "env_id_prompt_id": {"S": env_prompt_key(env_id, prompt_id)},
        "timestamp": {"N": str(int(timestamp))},
    }


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
        projection: Sequence[str] | None = None,
    ) -> tuple[list[LogEntry], dict[str, Any] | None]:
        """One page, newest first; returns entries and DynamoDB's LastEvaluatedKey (raw, for
        the cursor). ``projection`` names the attributes to read (None: all of them)."""
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
        projected = _projection(projection)
        if projected:
            kwargs["ProjectionExpression"] = projected["ProjectionExpression"]
            names.update(projected["ExpressionAttributeNames"])
        if prompt_id is None:
            kwargs["IndexName"] = self.GSI
        if start_key:
            kwargs["ExclusiveStartKey"] = start_key
        with aws_errors("Reading logs"):
            page = self._db.query(**kwargs)
        entries = [log_entry(deserialize(i)) for i in page.get("Items", [])]
        return entries, page.get("LastEvaluatedKey")

    def start_key_after(self, entry: LogEntry, *, by_prompt: bool) -> dict[str, Any]:
        """The ``ExclusiveStartKey`` that continues a ``page`` query right after ``entry``
        (what DynamoDB's LastEvaluatedKey would be had the page ended there): the table's keys,
        plus the index's for a query over the environment index. A page cut short by a filter
        in the service continues from here, so no log is skipped or listed twice."""
        key = log_key(entry.env_id, entry.prompt_id, entry.timestamp)
        if not by_prompt:
            key["env_id"] = {"S": entry.env_id}
        return key

    def get(self, env_id: str, prompt_id: str, timestamp: int) -> LogEntry | None:
        with aws_errors("Reading a log"):
            result = self._db.get_item(
                TableName=self._table, Key=log_key(env_id, prompt_id, timestamp)
            )
        item = deserialize(result.get("Item"))
        return None if item is None else log_entry(item)

    def batch_get(
        self,
        env_id: str,
        keys: Iterable[tuple[str, int]],
        projection: Sequence[str] | None = None,
    ) -> dict[tuple[str, int], LogEntry]:
        """The logs at ``keys`` (``(prompt_id, timestamp)`` pairs), read 100 per BatchGetItem.

        Keys DynamoDB leaves unprocessed (throttling) are asked again with jittered backoff;
        a log that does not exist is simply absent from the result. Duplicates read once.
        """
        wanted = list(dict.fromkeys((str(p), int(t)) for p, t in keys))
        found: dict[tuple[str, int], LogEntry] = {}
        by_key: dict[tuple[Any, Any], tuple[str, int]] = {
            (env_prompt_key(env_id, p), t): (p, t) for p, t in wanted
        }
        items = batch_get_items(
            self._db,
            self._table,
            [log_key(env_id, p, t) for p, t in wanted],
            "Reading logs",
            **_projection(projection),
        )
        for item in items:
            asked = by_key.get((item.get("env_id_prompt_id"), item.get("timestamp")))
            if asked is not None:
                found[asked] = log_entry(item)
        return found

    def put(self, item: dict[str, Any]) -> None:
        """Write one call record (the local flow-prompt API stand-in uses this)."""
        with aws_errors("Writing a log"):
            self._db.put_item(TableName=self._table, Item=serialize(item))

    def set_ideal_answer(self, env_id: str, prompt_id: str, timestamp: int, text: str) -> None:
        """Write a log's ``ideal_answer`` (the local flow-prompt API stand-in's PUT uses this).
        The log must exist: ``NotFoundError`` otherwise, and no item is created."""
        try:
            with aws_errors("Writing an ideal answer"):
                self._db.update_item(
                    TableName=self._table,
                    Key=log_key(env_id, prompt_id, timestamp),
                    UpdateExpression="SET #ideal = :ideal",
                    ConditionExpression="attribute_exists(#pk)",
                    ExpressionAttributeNames={"#ideal": "ideal_answer", "#pk": "env_id_prompt_id"},
                    ExpressionAttributeValues={":ideal": {"S": text}},
                )
        except ConflictError:  # the condition failed: there is no such log
            raise NotFoundError(
                f"No log {str(ContextId(prompt_id, timestamp))!r} in this environment"
            ) from None

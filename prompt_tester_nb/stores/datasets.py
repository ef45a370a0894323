"""Datasets: an environment's named, versioned sets of cases, in two tables.

``Datasets`` holds one header per (environment, name): the dataset's id, description, latest
committed version and item count. ``DatasetItems`` holds, in one partition per dataset id,
the items (``i#<item_id>``) and the version records (``v#<version>``).

How a version is made, so that it never collides, skips or shows half a write: a change
first writes its items (or marks items removed) under a fresh *write token*, invisible to
readers, in transactions of at most 100 items and 4 MB; then it commits: one transaction
moves the header from version ``n`` to ``n + 1`` on the condition that it still says ``n``
and puts the version record ``v#n+1 → token`` (and the audit event). A writer that lost the
race reads the header again and commits at the next number. A reader maps tokens to versions
through the version records: an item is in version ``v`` when the write that added it
committed at ``v`` or before and no write committed at ``v`` or before removed it. A write
whose commit never came (a crash) stays invisible; after ``STALE_MS`` its items may be taken
over by another write.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from ..errors import ConflictError, NotFoundError, StoreError, ValidationError
from ..models import Dataset, DatasetInfo, DatasetItem
from ..schema import dataset_key
from .dynamo import aws_errors, deserialize, query_all, serialize

ITEM_PREFIX = "i#"
VERSION_PREFIX = "v#"
STALE_MS = 10 * 60 * 1000  # an uncommitted write older than this may be taken over
MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's item size limit
TRANSACTION_ITEMS = 100  # TransactWriteItems' limit of actions per call
TRANSACTION_BYTES = 3_500_000  # under TransactWriteItems' 4 MB per call, with room
COMMIT_ATTEMPTS = 60  # rounds a commit retries when other writers keep committing first
WRITE_ATTEMPTS = 8  # rounds a chunk of items is retried on transaction conflicts


def version_key(version: int) -> str:
    return f"{VERSION_PREFIX}{version:010d}"


def item_key(item_id: str) -> str:
    return f"{ITEM_PREFIX}{item_id}"


def _value_size(value: dict[str, Any]) -> int:
    """DynamoDB's size of a typed value (as AWS documents it: UTF-8 bytes of strings and
    names, about one byte per two digits of a number, 3 bytes of overhead per map or list
    plus one per element)."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return len(inner.lstrip("-").replace(".", "")) // 2 + 2
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in inner)
    if kind in ("SS", "NS", "BS"):
        return sum(len(str(v)) for v in inner)
    return len(str(inner))


def item_size(typed_item: dict[str, Any]) -> int:
    """The size DynamoDB counts against its 400 KB item limit."""
    return sum(len(k.encode()) + _value_size(v) for k, v in typed_item.items())


def _iso(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _now_ms() -> int:
    return int(time.time() * 1000)


def _info(header: dict[str, Any]) -> DatasetInfo:
    return DatasetInfo(
        name=header["name"],
        version=int(header.get("version") or 0),
        description=header.get("description") or "",
        item_count=int(header.get("item_count") or 0),
        created_by=header.get("created_by"),
        created_at=_iso(header.get("created_at")),
        updated_by=header.get("updated_by"),
        updated_at=_iso(header.get("updated_at")),
    )


@dataclass
class Contents:
    """A dataset's partition as read: its item records and which version each write token
    committed at."""

    versions: dict[str, int] = field(default_factory=dict)  # write token → version
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # item_id → record

    def committed(self, token: str | None) -> int | None:
        return None if token is None else self.versions.get(token)

    def in_version(self, record: dict[str, Any], version: int) -> bool:
        added = self.committed(record.get("added_token"))
        if added is None or added > version:
            return False
        removed = self.committed(record.get("removed_token"))
        return removed is None or removed > version

    def pending(self, record: dict[str, Any], token_attr: str, at_attr: str, now_ms: int) -> str:
        """How a record's write under ``token_attr`` stands: ``"none"`` (no such write),
        ``"committed"``, ``"fresh"`` (uncommitted, maybe in flight) or ``"stale"``."""
        token = record.get(token_attr)
        if token is None:
            return "none"
        if token in self.versions:
            return "committed"
        at = int(record.get(at_attr) or 0)
        return "stale" if now_ms - at > STALE_MS else "fresh"

    def items(self, version: int) -> list[DatasetItem]:
        """The items in ``version``, in the order they were added (then by id)."""
        kept = [r for r in self.records.values() if self.in_version(r, version)]
        kept.sort(key=lambda r: (self.versions[r["added_token"]], r["item_id"]))
        return [self._item(r) for r in kept]

    def _item(self, r: dict[str, Any]) -> DatasetItem:
        at = r.get("added_at_ms")
        return DatasetItem(
            item_id=r["item_id"],
            context=r.get("context") if isinstance(r.get("context"), dict) else {},
            prompt_id=r.get("prompt_id") or "",
            prompt_version=r.get("prompt_version"),
            source_context_id=r.get("source_context_id"),
            expected=r.get("expected"),
            production=r.get("production"),
            model=r.get("model") if isinstance(r.get("model"), dict) else None,
            tags=list(r.get("tags") or []),
            added_in=self.versions[r["added_token"]],
            added_by=r.get("added_by"),
            added_at=None if at is None else datetime.fromtimestamp(int(at) / 1000, tz=UTC),
        )


@dataclass(frozen=True)
class Write:
    """One item put (``expected_token``: take over the stale write that holds the key) or
    one removal mark (``expected_token``: the stale removal it replaces)."""

    item_id: str
    record: dict[str, Any] | None = None  # the item to put; None: mark removed
    expected_token: str | None = None


class DatasetStore:
    def __init__(self, dynamodb: Any, datasets_table: str, items_table: str):
        self._db = dynamodb
        self._datasets = datasets_table
        self._items = items_table

    def _header_key(self, env_id: str, name: str) -> dict[str, Any]:
        return {"env_id": {"S": env_id}, "name": {"S": name}}

    # --- headers ----------------------------------------------------------------------------
    def header(self, env_id: str, name: str) -> dict[str, Any] | None:
        """The raw header (with ``dataset_id``), read consistently, or None."""
        with aws_errors("Reading a dataset"):
            result = self._db.get_item(
                TableName=self._datasets, Key=self._header_key(env_id, name), ConsistentRead=True
            )
        return deserialize(result.get("Item"))

    def info(self, header: dict[str, Any]) -> DatasetInfo:
        return _info(header)

    def list(self, env_id: str) -> list[DatasetInfo]:
        with aws_errors("Listing datasets"):
            items = query_all(
                self._db,
                TableName=self._datasets,
                KeyConditionExpression="#e = :e",
                ExpressionAttributeNames={"#e": "env_id"},
                ExpressionAttributeValues={":e": {"S": env_id}},
            )
        return sorted((_info(i) for i in items), key=lambda d: d.name)

    def create(
        self,
        env_id: str,
        name: str,
        description: str,
        dataset_id: str,
        by: str,
        at: str,
        audit: dict[str, Any],
    ) -> DatasetInfo:
        """A new, empty dataset at version 0; ConflictError when the name is taken."""
        header = {
            "env_id": env_id,
            "name": name,
            "dataset_id": dataset_id,
            "description": description,
            "version": 0,
            "item_count": 0,
            "created_by": by,
            "created_at": at,
            "updated_by": by,
            "updated_at": at,
        }
        put = {
            "TableName": self._datasets,
            "Item": serialize(header),
            "ConditionExpression": "attribute_not_exists(#n)",
            "ExpressionAttributeNames": {"#n": "name"},
        }
        try:
            with aws_errors("Creating a dataset"):
                self._db.transact_write_items(TransactItems=[{"Put": put}, audit])
        except ConflictError:
            raise ConflictError(
                f"A dataset named {name!r} already exists in this environment"
            ) from None
        return _info(header)

    def delete(self, env_id: str, name: str, dataset_id: str, audit: dict[str, Any]) -> None:
        """Remove the header (with its audit event), then the partition's records (a dataset
        made again under the name gets a new id, so a record left behind is never read)."""
        delete = {
            "TableName": self._datasets,
            "Key": self._header_key(env_id, name),
            "ConditionExpression": "#d = :d",
            "ExpressionAttributeNames": {"#d": "dataset_id"},
            "ExpressionAttributeValues": {":d": {"S": dataset_id}},
        }
        try:
            with aws_errors("Deleting a dataset"):
                self._db.transact_write_items(TransactItems=[{"Delete": delete}, audit])
        except ConflictError:
            raise NotFoundError(f"No dataset named {name!r} in this environment") from None
        self._purge(env_id, dataset_id)

    def _purge(self, env_id: str, dataset_id: str) -> None:
        with aws_errors("Removing a dataset's items"):
            keys = query_all(
                self._db,
                TableName=self._items,
                KeyConditionExpression="#k = :k",
                ProjectionExpression="#k, #i",
                ExpressionAttributeNames={"#k": "dataset_key", "#i": "item_key"},
                ExpressionAttributeValues={":k": {"S": dataset_key(env_id, dataset_id)}},
            )
            for start in range(0, len(keys), 25):
                pending = {
                    self._items: [
                        {"DeleteRequest": {"Key": serialize(k)}} for k in keys[start : start + 25]
                    ]
                }
                for attempt in range(WRITE_ATTEMPTS):
                    left = self._db.batch_write_item(RequestItems=pending).get("UnprocessedItems")
                    if not left:
                        break
                    pending = left
                    time.sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))

    # --- contents ---------------------------------------------------------------------------
    def contents(self, env_id: str, dataset_id: str) -> Contents:
        """Every record of the dataset's partition (strongly consistent)."""
        with aws_errors("Reading a dataset's items"):
            records = query_all(
                self._db,
                TableName=self._items,
                KeyConditionExpression="#k = :k",
                ExpressionAttributeNames={"#k": "dataset_key"},
                ExpressionAttributeValues={":k": {"S": dataset_key(env_id, dataset_id)}},
                ConsistentRead=True,
            )
        contents = Contents()
        for record in records:
            key = record.get("item_key", "")
            if key.startswith(VERSION_PREFIX):
                contents.versions[record["token"]] = int(record["version"])
            elif key.startswith(ITEM_PREFIX) and "item_id" in record:
                contents.records[record["item_id"]] = record
        return contents

    def read(self, env_id: str, header: dict[str, Any], version: int | None = None) -> Dataset:
        """The dataset at ``version`` (None: the latest committed)."""
        info = _info(header)
        contents = self.contents(env_id, header["dataset_id"])
        at = info.version if version is None else version
        items = contents.items(at)
        return Dataset(
            **{**info.model_dump(), "version": at, "item_count": len(items)}, items=items
        )

    # --- writes -----------------------------------------------------------------------------
    def check_sizes(self, env_id: str, dataset_id: str, records: Sequence[dict[str, Any]]) -> None:
        """ValidationError naming the first record over DynamoDB's item limit (nothing is
        written: the caller checks every record before the first write)."""
        for index, record in enumerate(records):
            full = {"dataset_key": dataset_key(env_id, dataset_id), **record}
            size = item_size(serialize(full)) + 200  # room for the write's own attributes
            if size > MAX_ITEM_BYTES:
                what = record.get("source_context_id") or f"row {index}"
                raise ValidationError(
                    f"items[{index}]: the item for {what} is {size // 1024} KB, over DynamoDB's"
                    f" {MAX_ITEM_BYTES // 1024} KB item limit; nothing was added",
                    field=f"items[{index}]",
                )

    def write(
        self, env_id: str, dataset_id: str, token: str, by: str, writes: Sequence[Write]
    ) -> set[str]:
        """Put the items and mark the removals of ``writes`` under ``token`` (invisible until
        ``commit``), in transactions within DynamoDB's limits; the ids another writer got to
        first (their condition failed) are returned, the rest are written."""
        pk = dataset_key(env_id, dataset_id)
        now = _now_ms()
        actions: list[tuple[str, dict[str, Any], int]] = []
        for w in writes:
            if w.record is not None:
                item = {
                    **w.record,
                    "dataset_key": pk,
                    "item_key": item_key(w.item_id),
                    "item_id": w.item_id,
                    "added_token": token,
                    "added_at_ms": now,
                    "added_by": by,
                }
                typed = serialize(item)
                put: dict[str, Any] = {"TableName": self._items, "Item": typed}
                if w.expected_token is None:
                    put["ConditionExpression"] = "attribute_not_exists(#i)"
                    put["ExpressionAttributeNames"] = {"#i": "item_key"}
                else:
                    put["ConditionExpression"] = "#t = :old"
                    put["ExpressionAttributeNames"] = {"#t": "added_token"}
                    put["ExpressionAttributeValues"] = {":old": {"S": w.expected_token}}
                actions.append((w.item_id, {"Put": put}, item_size(typed)))
            else:
                update: dict[str, Any] = {
                    "TableName": self._items,
                    "Key": {"dataset_key": {"S": pk}, "item_key": {"S": item_key(w.item_id)}},
                    "UpdateExpression": "SET #t = :t, #a = :a",
                    "ExpressionAttributeNames": {
                        "#t": "removed_token",
                        "#a": "removed_at_ms",
                        "#i": "item_key",
                    },
                    "ExpressionAttributeValues": {":t": {"S": token}, ":a": {"N": str(now)}},
                }
                if w.expected_token is None:
                    update["ConditionExpression"] = (
                        "attribute_exists(#i) AND attribute_not_exists(#t)"
                    )
                else:
                    update["ConditionExpression"] = "attribute_exists(#i) AND #t = :old"
                    update["ExpressionAttributeValues"][":old"] = {"S": w.expected_token}
                actions.append((w.item_id, {"Update": update}, 300))
        lost: set[str] = set()
        for chunk in _chunks(actions):
            lost |= self._transact(chunk)
        return lost

    def _transact(self, chunk: list[tuple[str, dict[str, Any], int]]) -> set[str]:
        """One chunk in one transaction; a failed condition drops that action (its id is
        returned) and the rest are tried again; conflicts with other transactions retry."""
        lost: set[str] = set()
        pending = list(chunk)
        attempt = 0
        while pending:
            try:
                self._db.transact_write_items(TransactItems=[a for _, a, _ in pending])
                return lost
            except ClientError as exc:
                error = exc.response.get("Error", {}).get("Code", "")
                reasons = exc.response.get("CancellationReasons") or []
                codes = [r.get("Code") for r in reasons]
                if error == "TransactionCanceledException" and "ConditionalCheckFailed" in codes:
                    if len(codes) != len(pending):  # an emulator without reasons per action
                        return lost | self._one_by_one(pending)
                    lost |= {
                        pending[i][0] for i, c in enumerate(codes) if c == "ConditionalCheckFailed"
                    }
                    pending = [
                        p for i, p in enumerate(pending) if codes[i] != "ConditionalCheckFailed"
                    ]
                    continue
                retryable = error in ("TransactionConflictException", "ThrottlingException") or (
                    error == "TransactionCanceledException"
                    and {"TransactionConflict", "ThrottlingError"} & set(codes)
                )
                attempt += 1
                if not retryable or attempt >= WRITE_ATTEMPTS:
                    with aws_errors("Writing a dataset's items"):
                        raise
                time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))
            except Exception:
                with aws_errors("Writing a dataset's items"):
                    raise
        return lost

    def _one_by_one(self, pending: list[tuple[str, dict[str, Any], int]]) -> set[str]:
        lost: set[str] = set()
        for item_id, action, _ in pending:
            try:
                with aws_errors("Writing a dataset's items"):
                    if "Put" in action:
                        self._db.put_item(**action["Put"])
                    else:
                        self._db.update_item(**action["Update"])
            except ConflictError:
                lost.add(item_id)
        return lost

    def commit(
        self,
        env_id: str,
        name: str,
        dataset_id: str,
        token: str,
        added: int,
        removed: int,
        by: str,
        at: str,
        audit: dict[str, Any],
    ) -> int:
        """Make the write ``token`` the dataset's next version; returns that version. Retried
        at the next number while other writers commit first (never skipping one)."""
        for attempt in range(COMMIT_ATTEMPTS):
            header = self.header(env_id, name)
            if header is None or header.get("dataset_id") != dataset_id:
                raise NotFoundError(f"Dataset {name!r} was deleted while it was being changed")
            old = int(header.get("version") or 0)
            new = old + 1
            count = int(header.get("item_count") or 0) + added - removed
            update = {
                "TableName": self._datasets,
                "Key": self._header_key(env_id, name),
                "UpdateExpression": "SET #v = :new, #c = :c, #ub = :by, #ua = :at",
                "ConditionExpression": "#d = :d AND #v = :old",
                "ExpressionAttributeNames": {
                    "#v": "version",
                    "#c": "item_count",
                    "#ub": "updated_by",
                    "#ua": "updated_at",
                    "#d": "dataset_id",
                },
                "ExpressionAttributeValues": {
                    ":new": {"N": str(new)},
                    ":old": {"N": str(old)},
                    ":c": {"N": str(count)},
                    ":by": {"S": by},
                    ":at": {"S": at},
                    ":d": {"S": dataset_id},
                },
            }
            record = {
                "dataset_key": dataset_key(env_id, dataset_id),
                "item_key": version_key(new),
                "version": new,
                "token": token,
                "added": added,
                "removed": removed,
                "by": by,
                "at": at,
            }
            put = {
                "TableName": self._items,
                "Item": serialize(record),
                "ConditionExpression": "attribute_not_exists(#i)",
                "ExpressionAttributeNames": {"#i": "item_key"},
            }
            try:
                with aws_errors("Committing a dataset version"):
                    self._db.transact_write_items(
                        TransactItems=[{"Update": update}, {"Put": put}, audit]
                    )
                return new
            except ConflictError:
                time.sleep(random.uniform(0, min(0.5, 0.01 * 2 ** min(attempt, 6))))
        raise ConflictError(f"Dataset {name!r}: too many writers committed at once; try again")


def _chunks(
    actions: Iterable[tuple[str, dict[str, Any], int]],
) -> Iterable[list[tuple[str, dict[str, Any], int]]]:
    """Runs of at most ``TRANSACTION_ITEMS`` actions and ``TRANSACTION_BYTES``."""
    chunk: list[tuple[str, dict[str, Any], int]] = []
    size = 0
    for action in actions:
        if chunk and (len(chunk) == TRANSACTION_ITEMS or size + action[2] > TRANSACTION_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(action)
        size += action[2]
    if chunk:
        yield chunk


__all__ = ["Contents", "DatasetStore", "StoreError", "Write", "item_size"]

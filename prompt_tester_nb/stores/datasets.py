"""Datasets: an environment's named, versioned sets of cases, in two tables.

``Datasets`` holds one header per (environment, name): the dataset's id, description, latest
committed version and item count. ``DatasetItems`` holds, in one partition per dataset id,
the items (``i#<item_id>``) and the version records (``v#<version>``).

How a version is made, so that it never collides, skips or shows half a write: a change
first writes its items (25 per BatchWriteItem, each under a new key) or marks items removed
(conditional updates) under a fresh *write token*, invisible to readers; then it commits: one transaction
moves the header from version ``n`` to ``n + 1`` on the condition that it still says ``n``
and puts the version record ``v#n+1 → token`` (and the audit event). A writer that lost the
race reads the header again and commits at the next number. A reader maps tokens to versions
through the version records: an item is in version ``v`` when the write that added it
committed at ``v`` or before and no write committed at ``v`` or before removed it. A write
whose commit never came (a crash) stays invisible; after ``STALE_MS`` its removal marks may
be taken over by another write.
"""

from __future__ import annotations

import builtins
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..errors import ConflictError, NotFoundError, StoreError, ValidationError
from ..models import Dataset, DatasetInfo, DatasetItem
from ..schema import dataset_key
from .dynamo import aws_errors, deserialize, query_all, serialize

ITEM_PREFIX = "i#"
VERSION_PREFIX = "v#"
STALE_MS = 10 * 60 * 1000  # an uncommitted removal older than this may be taken over
MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's item size limit
BATCH_WRITE_ITEMS = 25  # BatchWriteItem's limit per call (25 items of 400 KB: under its 16 MB)
COMMIT_ATTEMPTS = 60  # rounds a commit retries when other writers keep committing first
WRITE_ATTEMPTS = 8  # rounds of a batch write's unprocessed items before giving up


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
    committed at.

    Two writers adding the same log at once both write an item (item keys are never
    overwritten, so no committed version changes after the fact); the one committed later is a
    *duplicate* and is never shown: a record is a duplicate when, at the version that added
    it, an earlier record of the same log was in the dataset. That is decided by versions
    only, so it is the same at every later read, and removing the first does not bring the
    duplicate back.
    """

    versions: dict[str, int] = field(default_factory=dict)  # write token → version
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # item_id → record
    _duplicates: set[str] | None = None

    def committed(self, token: str | None) -> int | None:
        return None if token is None else self.versions.get(token)

    @property
    def duplicates(self) -> set[str]:
        if self._duplicates is None:
            by_log: dict[str, list[tuple[int, str]]] = {}
            for item_id, record in self.records.items():
                added = self.committed(record.get("added_token"))
                source = record.get("source_context_id")
                if added is not None and source:
                    by_log.setdefault(source, []).append((added, item_id))
            duplicates: set[str] = set()
            for group in by_log.values():
                kept: list[str] = []
                for added, item_id in sorted(group):
                    held = any(
                        (removed := self.committed(self.records[k].get("removed_token"))) is None
                        or removed > added
                        for k in kept
                    )
                    if held:
                        duplicates.add(item_id)
                    else:
                        kept.append(item_id)
            self._duplicates = duplicates
        return self._duplicates

    def in_version(self, record: dict[str, Any], version: int) -> bool:
        added = self.committed(record.get("added_token"))
        if added is None or added > version or record["item_id"] in self.duplicates:
            return False
        removed = self.committed(record.get("removed_token"))
        return removed is None or removed > version

    def pending_removal(self, record: dict[str, Any], now_ms: int) -> str:
        """How a record's removal stands: ``"none"``, ``"committed"``, ``"fresh"``
        (uncommitted, maybe in flight) or ``"stale"`` (a crashed writer's: may be taken over)."""
        token = record.get("removed_token")
        if token is None:
            return "none"
        if token in self.versions:
            return "committed"
        at = int(record.get("removed_at_ms") or 0)
        return "stale" if now_ms - at > STALE_MS else "fresh"

    def after(
        self, token: str, version: int, written: list[dict[str, Any]], removed: set[str]
    ) -> Contents:
        """These contents with one more write committed at ``version`` (for a writer whose
        commit came right after the version it read: nothing else can be in between)."""
        records = dict(self.records)
        for record in written:
            records[record["item_id"]] = record
        for item_id in removed:
            records[item_id] = {**records[item_id], "removed_token": token}
        return Contents({**self.versions, token: version}, records)

    def logs_in(self, version: int) -> set[str]:
        """The context ids of the logs in ``version``."""
        return {
            r["source_context_id"]
            for r in self.records.values()
            if r.get("source_context_id") and self.in_version(r, version)
        }

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
    """One new item (``record``), or one removal mark (``record`` None; ``expected_token``:
    the stale removal it takes over)."""

    item_id: str
    record: dict[str, Any] | None = None
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
            elif key.startswith(ITEM_PREFIX):
                record["item_id"] = key[len(ITEM_PREFIX) :]
                contents.records[record["item_id"]] = record
        return contents

    def read(
        self,
        env_id: str,
        header: dict[str, Any],
        version: int | None = None,
        contents: Contents | None = None,
    ) -> Dataset:
        """The dataset at ``version`` (None: the latest committed), from ``contents`` when
        the caller has them (read, or known after its own write), else read now."""
        info = _info(header)
        if contents is None:
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
    ) -> tuple[set[str], builtins.list[dict[str, Any]]]:
        """Put the new items and mark the removals of ``writes`` under ``token``, invisible
        until ``commit``. Items go 25 per BatchWriteItem, each under a key of its own (no
        write overwrites another); a removal is a conditional UpdateItem. The ids whose
        removal another writer got to first are returned."""
        pk = dataset_key(env_id, dataset_id)
        now = _now_ms()
        written: list[dict[str, Any]] = []
        puts: list[dict[str, Any]] = []
        for w in writes:
            if w.record is None:
                continue
            stored = {
                **{k: v for k, v in w.record.items() if v is not None and v != []},
                "added_token": token,
                "added_at_ms": now,
                "added_by": by,
            }
            typed = serialize({"dataset_key": pk, "item_key": item_key(w.item_id), **stored})
            puts.append({"PutRequest": {"Item": typed}})
            written.append({**stored, "item_id": w.item_id})
        for start in range(0, len(puts), BATCH_WRITE_ITEMS):
            self._batch_write(puts[start : start + BATCH_WRITE_ITEMS])
        lost: set[str] = set()
        for w in writes:
            if w.record is None and not self._mark_removed(pk, w, token, now):
                lost.add(w.item_id)
        return lost, written

    def _batch_write(self, requests: builtins.list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {self._items: requests}
        for attempt in range(WRITE_ATTEMPTS):
            with aws_errors("Writing a dataset's items"):
                pending = self._db.batch_write_item(RequestItems=pending).get("UnprocessedItems")
            if not pending:
                return
            time.sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))
        raise StoreError(
            "Writing a dataset's items: DynamoDB kept throttling the batch write; nothing was"
            " added, try again later"
        )

    def _mark_removed(self, pk: str, w: Write, token: str, now: int) -> bool:
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
            "ConditionExpression": "attribute_exists(#i) AND attribute_not_exists(#t)",
        }
        if w.expected_token is not None:
            update["ConditionExpression"] = "attribute_exists(#i) AND #t = :old"
            update["ExpressionAttributeValues"][":old"] = {"S": w.expected_token}
        try:
            with aws_errors("Removing a dataset's items"):
                self._db.update_item(**update)
        except ConflictError:
            return False
        return True

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


__all__ = ["Contents", "DatasetStore", "StoreError", "Write", "item_size"]

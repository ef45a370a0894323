"""Experiments: an environment's stored runs, a header in DynamoDB and the rows in S3.

``Experiments`` holds, in one partition per environment, each experiment's header
(``e#<experiment_id>``: who, when, what was run, its aggregates, where its rows are) and one
baseline record per dataset and prompt (``b#<dataset>#<prompt_id>``: which experiment is
blessed). The rows are one S3 object per experiment, the run record's JSON Lines,
gzip-compressed, under ``experiments/<env_id>/<experiment_id>/``; a pairwise comparison stored
with it is a second object beside them.

Order of writes, so that nothing points at what is missing: the rows (and a comparison) go to
S3 first, the header last; a delete removes the header (and its baseline record) first, the
objects after. Blessing is one transaction: the new header marked, the old one unmarked, the
baseline record moved on the condition that it still names the experiment read, the audit
event beside them.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from ..errors import NotFoundError, StoreError, ValidationError
from ..schema import (
    BASELINE_PREFIX,
    EXPERIMENT_PREFIX,
    baseline_key,
    experiment_comparison_key,
    experiment_key,
    experiment_rows_key,
)
from .datasets import MAX_ITEM_BYTES, item_size
from .dynamo import aws_errors, deserialize, query_all, serialize, serialize_value

CONTENT_TYPE = "application/x-ndjson"


def pack(text: str) -> bytes:
    """UTF-8, gzip-compressed without a timestamp (the same text makes the same bytes)."""
    return gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0)


def unpack(data: bytes) -> str:
    return gzip.decompress(data).decode("utf-8")


class ExperimentStore:
    def __init__(self, dynamodb: Any, s3: Any, table: str, bucket: str):
        self._db = dynamodb
        self._s3 = s3
        self._table = table
        self._bucket = bucket

    @property
    def bucket(self) -> str:
        return self._bucket

    # --- S3 ---------------------------------------------------------------------------------
    def _put_object(self, key: str, text: str, what: str) -> None:
        with aws_errors(f"Storing {what} in bucket {self._bucket}"):
            self._s3.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=pack(text),
                ContentType=CONTENT_TYPE,
                ContentEncoding="gzip",
            )

    def _get_object(self, key: str, what: str) -> str | None:
        with aws_errors(f"Reading {what} from bucket {self._bucket}"):
            try:
                body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    return None
                raise
        return unpack(body)

    def _delete_object(self, key: str, what: str) -> None:
        with aws_errors(f"Deleting {what} from bucket {self._bucket}"):
            self._s3.delete_object(Bucket=self._bucket, Key=key)

    # --- writes -----------------------------------------------------------------------------
    def check_size(self, header: dict[str, Any]) -> None:
        """A header over DynamoDB's 400 KB item limit: a ValidationError naming it (and its
        largest field), before anything is written."""
        typed = serialize({"env_id": header["env_id"], "item_key": "e#", **header})
        size = item_size(typed)
        if size > MAX_ITEM_BYTES:
            largest = max(header, key=lambda k: item_size(serialize({k: header[k]})))
            raise ValidationError(
                f"experiment: its header is {size // 1024} KB, over DynamoDB's"
                f" {MAX_ITEM_BYTES // 1024} KB item limit ({largest!r} is the largest part);"
                " nothing was stored",
                field="experiment",
            )

    def store(
        self,
        header: dict[str, Any],
        rows_text: str,
        comparison_text: str | None,
        audit: dict[str, Any],
    ) -> None:
        """The rows (and the comparison) to S3, then the header with its audit event. S3
        failing leaves no header; the header failing leaves objects no header names."""
        env_id, experiment_id = header["env_id"], header["experiment_id"]
        self._put_object(header["rows_key"], rows_text, f"the rows of experiment {experiment_id}")
        if comparison_text is not None:
            self._put_object(
                header["comparison_key"],
                comparison_text,
                f"the comparison of experiment {experiment_id}",
            )
        item = {"env_id": env_id, "item_key": experiment_key(experiment_id), **header}
        with aws_errors(f"Storing experiment {experiment_id}"):
            self._db.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": serialize(item),
                            "ConditionExpression": "attribute_not_exists(item_key)",
                        }
                    },
                    audit,
                ]
            )

    def attach_comparison(
        self, env_id: str, experiment_id: str, comparison_text: str, win_rate: dict[str, Any]
    ) -> None:
        """A pairwise comparison beside the rows, then its win rate into the header."""
        key = experiment_comparison_key(env_id, experiment_id)
        self._put_object(key, comparison_text, f"the comparison of experiment {experiment_id}")
        with aws_errors(f"Storing the comparison of experiment {experiment_id}"):
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key=serialize({"env_id": env_id, "item_key": experiment_key(experiment_id)}),
                    UpdateExpression="SET #a.#w = :w, comparison_key = :k",
                    ConditionExpression="attribute_exists(item_key)",
                    ExpressionAttributeNames={"#a": "aggregates", "#w": "win_rate"},
                    ExpressionAttributeValues={
                        ":w": serialize_value(win_rate),
                        ":k": serialize_value(key),
                    },
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                    raise NotFoundError(f"No experiment {experiment_id!r}") from None
                raise

    def bless(
        self,
        env_id: str,
        header: dict[str, Any],
        previous: str | None,
        audit: dict[str, Any],
    ) -> None:
        """Make ``header``'s experiment the baseline of its dataset and prompt in one
        transaction; ``previous`` is the blessed one read before (None: none). A concurrent
        bless or delete fails the condition: ConflictError, nothing changed."""
        experiment_id = header["experiment_id"]
        table = self._table
        key = baseline_key(header["dataset"], header["prompt_id"])
        marked = {
            "Update": {
                "TableName": table,
                "Key": serialize({"env_id": env_id, "item_key": experiment_key(experiment_id)}),
                "UpdateExpression": "SET blessed = :t",
                "ConditionExpression": "attribute_exists(item_key)",
                "ExpressionAttributeValues": {":t": {"BOOL": True}},
            }
        }
        pointer: dict[str, Any] = {
            "Put": {
                "TableName": table,
                "Item": serialize(
                    {"env_id": env_id, "item_key": key, "experiment_id": experiment_id}
                ),
            }
        }
        items = [marked, pointer]
        if previous is None:
            pointer["Put"]["ConditionExpression"] = "attribute_not_exists(item_key)"
        else:
            pointer["Put"]["ConditionExpression"] = "experiment_id = :old"
            pointer["Put"]["ExpressionAttributeValues"] = {":old": {"S": previous}}
            items.append(
                {
                    "Update": {
                        "TableName": table,
                        "Key": serialize({"env_id": env_id, "item_key": experiment_key(previous)}),
                        "UpdateExpression": "SET blessed = :f",
                        "ConditionExpression": "attribute_exists(item_key)",
                        "ExpressionAttributeValues": {":f": {"BOOL": False}},
                    }
                }
            )
        items.append(audit)
        with aws_errors(f"Blessing experiment {experiment_id}"):
            self._db.transact_write_items(TransactItems=items)

    def delete(self, env_id: str, header: dict[str, Any], audit: dict[str, Any]) -> None:
        """The header (and its baseline record when it is blessed) with the audit event, then
        its objects."""
        experiment_id = header["experiment_id"]
        items: list[dict[str, Any]] = [
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": serialize({"env_id": env_id, "item_key": experiment_key(experiment_id)}),
                    "ConditionExpression": "attribute_exists(item_key)",
                }
            },
            audit,
        ]
        if header.get("blessed") and header.get("dataset"):
            items.append(
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": serialize(
                            {
                                "env_id": env_id,
                                "item_key": baseline_key(header["dataset"], header["prompt_id"]),
                            }
                        ),
                        "ConditionExpression": "experiment_id = :id",
                        "ExpressionAttributeValues": {":id": {"S": experiment_id}},
                    }
                }
            )
        with aws_errors(f"Deleting experiment {experiment_id}"):
            self._db.transact_write_items(TransactItems=items)
        self._delete_object(header["rows_key"], f"the rows of experiment {experiment_id}")
        if header.get("comparison_key"):
            self._delete_object(
                header["comparison_key"], f"the comparison of experiment {experiment_id}"
            )

    # --- reads ------------------------------------------------------------------------------
    def header(self, env_id: str, experiment_id: str) -> dict[str, Any] | None:
        with aws_errors(f"Reading experiment {experiment_id}"):
            found = self._db.get_item(
                TableName=self._table,
                Key=serialize({"env_id": env_id, "item_key": experiment_key(experiment_id)}),
                ConsistentRead=True,
            ).get("Item")
        return _header(deserialize(found)) if found else None

    def headers(self, env_id: str) -> list[dict[str, Any]]:
        """Every header of the environment, oldest first (ids sort by time)."""
        with aws_errors("Listing experiments"):
            items = query_all(
                self._db,
                TableName=self._table,
                KeyConditionExpression="env_id = :e AND begins_with(item_key, :p)",
                ExpressionAttributeValues={
                    ":e": {"S": env_id},
                    ":p": {"S": EXPERIMENT_PREFIX},
                },
            )
        return [_header(i) for i in items]

    def blessed(self, env_id: str, dataset: str, prompt_id: str) -> str | None:
        """The id of the experiment blessed for the dataset and prompt, if any."""
        with aws_errors("Reading a baseline"):
            found = self._db.get_item(
                TableName=self._table,
                Key=serialize({"env_id": env_id, "item_key": baseline_key(dataset, prompt_id)}),
                ConsistentRead=True,
            ).get("Item")
        return deserialize(found).get("experiment_id") if found else None

    def rows_text(self, header: dict[str, Any]) -> str:
        """The rows' JSON Lines; a StoreError when the object is gone."""
        text = self._get_object(header["rows_key"], f"the rows of {header['experiment_id']}")
        if text is None:
            raise StoreError(
                f"The rows of experiment {header['experiment_id']!r} are missing from bucket"
                f" {self._bucket}"
            )
        return text

    def comparison_text(self, header: dict[str, Any]) -> str | None:
        key = header.get("comparison_key")
        if not key:
            return None
        return self._get_object(key, f"the comparison of {header['experiment_id']}")


def _header(item: dict[str, Any]) -> dict[str, Any]:
    item.pop("item_key", None)
    return item


def lines_page(text: str, offset: int, limit: int) -> tuple[str, list[str], int]:
    """The JSON Lines' first line (the run's header), rows ``offset`` to ``offset + limit``,
    and how many rows there are."""
    lines: Iterator[str] = iter(text.splitlines())
    head = next(lines, "")
    rows = [line for line in lines if line.strip()]
    return head, rows[offset : offset + limit], len(rows)


__all__ = [
    "BASELINE_PREFIX",
    "ExperimentStore",
    "experiment_comparison_key",
    "experiment_rows_key",
    "lines_page",
    "pack",
    "unpack",
]

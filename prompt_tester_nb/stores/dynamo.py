"""DynamoDB item (de)serialisation and error mapping shared by the table stores."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any, overload

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
)

from ..errors import ConflictError, StoreError

_SER = TypeSerializer()
_DE = TypeDeserializer()


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    if isinstance(value, set):
        return sorted(_from_dynamo(v) for v in value)
    return value


def serialize(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _SER.serialize(_to_dynamo(v)) for k, v in item.items() if v is not None}


def serialize_value(value: Any) -> dict[str, Any]:
    return _SER.serialize(_to_dynamo(value))


@overload
def deserialize(item: dict[str, Any]) -> dict[str, Any]: ...
@overload
def deserialize(item: None) -> None: ...
def deserialize(item: dict[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {k: _from_dynamo(_DE.deserialize(v)) for k, v in item.items()}


@contextlib.contextmanager
def aws_errors(action: str) -> Iterator[None]:
    """Map botocore failures to the package's errors, in words, without request details."""
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "TransactionCanceledException":
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons") or []]
            if "ConditionalCheckFailed" in reasons:
                raise ConflictError(f"{action}: the item was changed by someone else") from None
            code = next((r for r in reasons if r and r != "None"), code)
        if code in ("ConditionalCheckFailedException", "TransactionConflictException"):
            raise ConflictError(f"{action}: the item was changed by someone else") from None
        if code == "ResourceNotFoundException":
            raise StoreError(
                f"{action}: a table or secret is missing; run `prompt-tester init` ({code})"
            ) from None
        if code in ("AccessDeniedException", "UnrecognizedClientException"):
            raise StoreError(f"{action}: AWS refused the credentials ({code})") from None
        raise StoreError(f"{action} failed at AWS ({code or 'error'})") from None
    except (NoCredentialsError, PartialCredentialsError, ProfileNotFound) as exc:
        raise StoreError(
            f"{action}: no usable AWS credentials ({type(exc).__name__}); configure a profile"
            " or the AWS_* environment variables"
        ) from None
    except BotoCoreError as exc:
        raise StoreError(f"{action}: AWS could not be reached ({type(exc).__name__})") from None


def query_all(db: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a query, following LastEvaluatedKey (small partitions only)."""
    items: list[dict[str, Any]] = []
    while True:
        page = db.query(**kwargs)
        items += [deserialize(i) for i in page.get("Items", [])]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


BATCH_SIZE = 100  # BatchGetItem's limit per call
BATCH_ATTEMPTS = 8  # rounds for UnprocessedKeys before giving up


def batch_get_items(
    db: Any, table: str, keys: Sequence[dict[str, Any]], what: str, **request: Any
) -> Iterator[dict[str, Any]]:
    """The items at ``keys`` (DynamoDB-typed keys), deserialised, read 100 per BatchGetItem
    with ``request``'s extra parameters (a projection, ``ConsistentRead``). Keys DynamoDB
    leaves unprocessed (throttling) are asked again with full-jitter backoff, as AWS's SDKs
    do (up to 50 ms, doubling, at most 2 s); after ``BATCH_ATTEMPTS`` rounds a StoreError
    says so. An item that does not exist is simply not yielded. ``what`` names the read in
    errors ("Reading logs")."""
    for start in range(0, len(keys), BATCH_SIZE):
        pending: dict[str, Any] = {
            table: {"Keys": list(keys[start : start + BATCH_SIZE]), **request}
        }
        for attempt in range(BATCH_ATTEMPTS):
            with aws_errors(what):
                result = db.batch_get_item(RequestItems=pending)
            for raw in result.get("Responses", {}).get(table, []):
                yield deserialize(raw)
            pending = result.get("UnprocessedKeys") or {}
            if not pending.get(table, {}).get("Keys"):
                break
            if attempt + 1 < BATCH_ATTEMPTS:
                time.sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))
        else:
            raise StoreError(f"{what}: DynamoDB kept throttling the batch read; try again later")

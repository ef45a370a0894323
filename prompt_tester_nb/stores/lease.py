"""A short lease per environment in DynamoDB, so writers of one secret take turns.

Secrets Manager keeps about 100 versions of a secret and removes none younger than 24 hours;
a compare-and-swap whose every try is a ``PutSecretValue`` spends a version per losing try
(50 concurrent writers made 261 versions). Writers therefore take the lease before they write:
one item per lease in the ``Leases`` table, put only if absent or expired
(``attribute_not_exists(lease_id) OR expires_at_ms < :now``). The expiry is in the condition,
not left to DynamoDB's TTL alone, because TTL deletes expired items lazily (hours later on AWS):
a holder that crashed blocks the next writer for at most ``hold_seconds``. The TTL attribute
(``expires_at``, epoch seconds) only tidies the table.

Waiting writes nothing: a waiter reads the item (a strongly consistent ``GetItem``) and tries
the conditional put only when the read shows the lease free or expired. The waits are tenacity's
jittered exponential backoff, bounded in total by ``wait_seconds``; past that the change fails
with a ``ConflictError`` saying that nothing was saved. Releasing is a conditional delete on the
holder's token, so a holder whose lease ran out never removes its successor's.

The lease is an optimisation of the number of versions, not what keeps changes from being lost:
the compare-and-swap on ``AWSCURRENT`` under it still decides (a holder slower than its lease can
overlap the next one). Clocks: the expiry is the holder's clock plus ``hold_seconds``, compared
with the waiter's clock, so ``hold_seconds`` is kept far above both a change's duration (well
under a second) and ordinary clock skew.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_random_exponential,
)

from ..errors import ConflictError
from .dynamo import aws_errors

logger = logging.getLogger(__name__)


class _Busy(Exception):
    """Someone else holds the lease and it has not expired."""


@dataclass(frozen=True)
class Held:
    """One holding of a lease: which lease, whose token, until when (epoch milliseconds)."""

    lease_id: str
    token: str
    expires_at_ms: int


class LeaseTable:
    """Leases in one DynamoDB table (the schema's ``Leases``: key ``lease_id``, TTL
    ``expires_at``).

    ``hold_seconds``: how long a lease is good for unless released (a change takes well under a
    second). ``wait_seconds``: how long a writer waits for it before giving up; 10 s keeps a
    waiting request inside the secrets Lambda function's 15 s timeout (deploy/template.yaml).
    ``max_backoff_seconds`` caps one wait, so a lease released early is taken soon.
    """

    def __init__(
        self,
        dynamodb: Any,
        table: str,
        *,
        hold_seconds: float = 10.0,
        wait_seconds: float = 10.0,
        max_backoff_seconds: float = 0.25,
        clock: Callable[[], float] = time.time,
    ):
        self._db = dynamodb
        self._table = table
        self.hold_seconds = hold_seconds
        self.wait_seconds = wait_seconds
        self._max_backoff = max_backoff_seconds
        self._clock = clock
        self.tries = 0  # conditional puts sent, over this object's life (a figure for tests)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    @contextlib.contextmanager
    def hold(self, lease_id: str, what: str) -> Iterator[Held]:
        """Take the lease, run the block, release it (also when the block raises).

        ``what`` names the work in the error a writer gets when the lease cannot be had in time.
        """
        held = self.acquire(lease_id, what)
        try:
            yield held
        finally:
            self.release(held)

    def acquire(self, lease_id: str, what: str) -> Held:
        retrying = Retrying(
            stop=stop_after_delay(self.wait_seconds),
            wait=wait_random_exponential(multiplier=0.01, max=self._max_backoff),
            retry=retry_if_exception_type(_Busy),
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._try(lease_id, what)
        except RetryError:
            pass
        raise ConflictError(
            f"{what}: another change to the same keys is still being saved and did not finish"
            f" within {self.wait_seconds:g} seconds; nothing was saved, try again"
        )

    def _try(self, lease_id: str, what: str) -> Held:
        """One look and, if the lease is free or expired, one conditional put."""
        now = self._now_ms()
        with aws_errors(what):
            current = self._db.get_item(
                TableName=self._table,
                Key={"lease_id": {"S": lease_id}},
                ConsistentRead=True,
                ProjectionExpression="expires_at_ms",
            ).get("Item")
        if current is not None and int(current.get("expires_at_ms", {}).get("N", "0")) >= now:
            raise _Busy  # held: wait without writing
        expires_ms = now + int(self.hold_seconds * 1000)
        token = uuid.uuid4().hex
        self.tries += 1
        with aws_errors(what):
            try:
                self._db.put_item(
                    TableName=self._table,
                    Item={
                        "lease_id": {"S": lease_id},
                        "holder": {"S": token},
                        "expires_at_ms": {"N": str(expires_ms)},
                        # TTL wants whole epoch seconds; it only tidies, the condition decides
                        "expires_at": {"N": str(math.ceil(expires_ms / 1000) + 60)},
                    },
                    ConditionExpression="attribute_not_exists(lease_id) OR expires_at_ms < :now",
                    ExpressionAttributeValues={":now": {"N": str(now)}},
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                    raise _Busy from None  # another waiter took it first
                raise
        return Held(lease_id, token, expires_ms)

    def release(self, held: Held) -> None:
        """Delete the lease if it is still ours. Best effort: an unreleased lease expires."""
        with contextlib.suppress(ClientError, BotoCoreError):
            self._db.delete_item(
                TableName=self._table,
                Key={"lease_id": {"S": held.lease_id}},
                ConditionExpression="holder = :token",
                ExpressionAttributeValues={":token": {"S": held.token}},
            )
            return
        logger.debug("A lease was not released (expired and taken by another, or AWS failed)")

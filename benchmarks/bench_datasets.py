"""A 10,000-item dataset: created and read back through ``s.datasets``, against plain boto3
batch writes and queries of the same items, in one run (issue 33's target: at most 1.5x).

    python -m benchmarks.bench_datasets [--items 10000] [--repeats 3]

A throw-away ``LocalStack`` (moto's server over HTTP). The baseline writes the same records,
serialised with boto3's ``TypeSerializer``, 25 per ``BatchWriteItem`` (unprocessed items sent
again) into the same table under another partition, and reads them back with ``Query`` pages
deserialised with ``TypeDeserializer``: what a hand-written store would do, without versions,
conditions or access checks. Each side leaves the table as it found it (moto's server reads
the whole table for each query page, so a fuller table is slower). Printed, not asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

import prompt_tester_nb as pt
from prompt_tester_nb.local.stack import LocalStack

ENV = "staging"
_SER, _DE = TypeSerializer(), TypeDeserializer()


def rows(n: int) -> list[dict[str, Any]]:
    return [
        {
            "context": {
                "customer_name": f"Customer {i}",
                "ticket_subject": f"Where is my order A-{100000 + i}?",
                "ticket_body": "I ordered a skillet ten days ago and tracking says in transit. "
                * 4,
                "order_id": f"A-{100000 + i}",
            },
            "prompt_id": "support-reply",
            "prompt_version": "2",
            "expected": "Hi, thanks for following up. The Acme Support Team",
        }
        for i in range(n)
    ]


def ours(s: pt.Session, data: list[dict[str, Any]]) -> tuple[float, float]:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    start = time.perf_counter()
    s.datasets.create(name)
    made = s.datasets.add(name, data)
    created = time.perf_counter() - start
    start = time.perf_counter()
    read = s.datasets.get(name)
    got = time.perf_counter() - start
    assert len(made.items) == len(read.items) == len(data)
    s.datasets.delete(name)  # untimed: removes the items too
    return created, got


def baseline(s: pt.Session, data: list[dict[str, Any]]) -> tuple[float, float]:
    db = s.service.aws.dynamodb
    table = s.service.settings.table("DatasetItems")
    pk = f"bench-baseline#{uuid.uuid4().hex}"
    start = time.perf_counter()
    requests = [
        {
            "PutRequest": {
                "Item": {
                    "dataset_key": {"S": pk},
                    "item_key": {"S": f"i#{uuid.uuid4().hex[:16]}"},
                    **{k: _SER.serialize(v) for k, v in row.items() if v is not None},
                }
            }
        }
        for row in data
    ]
    for i in range(0, len(requests), 25):
        pending: dict[str, Any] = {table: requests[i : i + 25]}
        while pending:
            pending = db.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    created = time.perf_counter() - start
    start = time.perf_counter()
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "dataset_key = :k",
        "ExpressionAttributeValues": {":k": {"S": pk}},
    }
    while True:
        page = db.query(**kwargs)
        items += [{k: _DE.deserialize(v) for k, v in it.items()} for it in page["Items"]]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    got = time.perf_counter() - start
    assert len(items) == len(data)
    # untimed: leave the table as it was (moto's server reads a whole table per query page,
    # so both sides must run against the same table size)
    deletes = [
        {"DeleteRequest": {"Key": {"dataset_key": {"S": pk}, "item_key": it["item_key"]}}}
        for it in ({"item_key": _SER.serialize(i["item_key"])} for i in items)
    ]
    for i in range(0, len(deletes), 25):
        pending = {table: deletes[i : i + 25]}
        while pending:
            pending = db.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return created, got


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = rows(args.items)
    with tempfile.TemporaryDirectory() as tmp, LocalStack(tmp, persist=False) as stack:
        user = stack.info.users[0]
        s = pt.connect(
            email=user["email"], password=user["password"], env=ENV, settings=stack.settings
        )
        ours(s, data[:200])  # warm-up
        baseline(s, data[:200])
        mine, base = [], []
        for _ in range(args.repeats):
            base.append(baseline(s, data))
            mine.append(ours(s, data))
        print(f"A {args.items}-item dataset, moto's server over HTTP (median of {args.repeats})")
        for label, pick in (("create", 0), ("read back", 1), ("both", None)):

            def med(runs: list[tuple[float, float]], pick: int | None = pick) -> float:
                return statistics.median(sum(r) if pick is None else r[pick] for r in runs)

            m, b = med(mine), med(base)
            print(
                f"  {label:<10} s.datasets {m:7.2f} s   boto3 batch writes + queries {b:7.2f} s"
                f"   ratio {m / b:4.2f}x (target <= 1.5x)"
            )


if __name__ == "__main__":
    main()

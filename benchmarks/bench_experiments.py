"""A 10,000-row experiment: stored and loaded through ``s.experiments``, against a plain S3
put and get of the same rows on the same endpoint, in one run (issue 33's target: at most
1.5x).

    python -m benchmarks.bench_experiments [--rows 10000] [--repeats 3]

A throw-away ``LocalStack`` (moto's server over HTTP). The run is the saved run of
``tests/data/replay-run-v1.jsonl`` with its rows repeated to ``--rows`` (three scorers). The
baseline does what a hand-written store would: the run's JSON Lines encoded
(``RunRecord.to_lines``), one ``PutObject``, one ``GetObject`` and the lines decoded back into
a ``RunRecord``; no compression, no header, no access check, no aggregates. Ours adds the
header's aggregates (bootstrap and Wilson intervals per scorer), gzip, the DynamoDB header
and audit transaction, and the access check of each call. Printed, not asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import prompt_tester_nb as pt
from prompt_tester_nb.local.stack import LocalStack
from prompt_tester_nb.replay import RunRecord

ENV = "staging"
SAVED = Path(__file__).resolve().parents[1] / "tests" / "data" / "replay-run-v1.jsonl"


def big_record(env_id: str, n: int) -> RunRecord:
    """The saved run with its rows repeated to ``n`` (each its own context id)."""
    lines = SAVED.read_text().splitlines()
    head = json.loads(lines[0])
    head.update(env_id=env_id, env_name=None, stopped_reason=None)
    rows = [json.loads(line) for line in lines[1:] if line.strip()]
    out = []
    for i in range(n):
        row = dict(rows[i % len(rows)])
        row["context_id"] = f"support-reply#{1_790_000_000_000 + i}"
        out.append(json.dumps(row))
    head["rows_follow"] = n
    return RunRecord.from_lines([json.dumps(head), *out])


def ours(s: pt.Session, record: RunRecord) -> tuple[float, float]:
    start = time.perf_counter()
    info = s.experiments._store(record, name="bench")
    stored = time.perf_counter() - start
    start = time.perf_counter()
    run = s.experiments.get(info.experiment_id)
    loaded = time.perf_counter() - start
    assert len(run) == len(record)
    s.experiments.delete(info.experiment_id)  # untimed
    return stored, loaded


def baseline(s: pt.Session, record: RunRecord) -> tuple[float, float]:
    s3 = s.service.aws.s3
    bucket = s.service.settings.experiments_bucket
    key = f"bench-baseline/{uuid.uuid4().hex}/rows.jsonl"
    start = time.perf_counter()
    s3.put_object(Bucket=bucket, Key=key, Body="".join(record.to_lines()).encode("utf-8"))
    stored = time.perf_counter() - start
    start = time.perf_counter()
    text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    back = RunRecord.from_lines(text.splitlines(keepends=True))
    loaded = time.perf_counter() - start
    assert len(back) == len(record)
    s3.delete_object(Bucket=bucket, Key=key)  # untimed
    return stored, loaded


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, LocalStack(tmp, persist=False) as stack:
        user = stack.info.users[0]
        s = pt.connect(
            email=user["email"], password=user["password"], env=ENV, settings=stack.settings
        )
        record = big_record(s.env.env_id, args.rows)
        small = big_record(s.env.env_id, 200)
        ours(s, small)  # warm-up
        baseline(s, small)
        mine, base = [], []
        for _ in range(args.repeats):
            base.append(baseline(s, record))
            mine.append(ours(s, record))
        print(f"A {args.rows}-row experiment, moto's server over HTTP (median of {args.repeats})")
        for label, pick in (("store", 0), ("load", 1), ("both", None)):

            def med(runs: list[tuple[float, float]], pick: int | None = pick) -> float:
                return statistics.median(sum(r) if pick is None else r[pick] for r in runs)

            m, b = med(mine), med(base)
            print(
                f"  {label:<6} s.experiments {m:7.2f} s   plain S3 put/get + JSON Lines {b:7.2f} s"
                f"   ratio {m / b:4.2f}x (target <= 1.5x)"
            )


if __name__ == "__main__":
    main()

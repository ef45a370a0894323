"""The local stand-ins' speed, with the figures the tests used to assert and no longer do.

Tests check what makes these fast (the model server's 32 calls are asleep in their latency at
once, one keep-alive connection without Nagle, the restore replays the 130 requests made) by
counting; how fast they are is measured here, each figure next to a baseline measured in the
same run on the same machine. Printed, not asserted:

    python -m benchmarks.bench_local [--calls 200] [--latency-ms 200] [--concurrency 32]

1. demo model server, one openai client, latency 0: sequential calls/s, against the same POST
   on one raw ``http.client`` keep-alive connection (the floor: no client library).
2. demo model server, latency 200 ms: 32 concurrent calls' wall time against the same 32 calls
   one after the other (the serial time the overlap saves); and against the ideal, 0.2 s.
3. demo dataset: ``build_demo_dataset`` against a deep copy of what it builds.
4. local AWS server: ``start()`` that replays a realistic recording (80 BatchWriteItem of 25
   logs, 49 secrets) against ``start()`` of an empty server.
"""

from __future__ import annotations

import argparse
import copy
import http.client
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import boto3
import openai

from prompt_tester_nb.local.aws_server import AwsServer
from prompt_tester_nb.local.model_server import ModelServer
from prompt_tester_nb.local.seed_data import build_demo_dataset

KEY = "sk-bench-plaintext-key"
HELLO = [{"role": "user", "content": "What is the capital of France?"}]
NOW_MS = 1_793_534_400_000  # 2026-11-01T12:00:00Z, the notebooks' pinned seed time


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def medians(fn: Callable[[], object], n: int) -> float:
    fn()  # warm-up
    return statistics.median(seconds(fn) for _ in range(n))


def openai_client(server: ModelServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.openai_base_url, api_key=KEY, max_retries=0, timeout=60)


def ask(client: openai.OpenAI, model: str = "gpt-4o-mini") -> object:
    return client.chat.completions.create(model=model, messages=HELLO)


def sequential(calls: int) -> None:
    with ModelServer() as server:
        client = openai_client(server)
        ask(client)  # connect
        ours = seconds(lambda: [ask(client) for _ in range(calls)])

        url = urlparse(server.url)
        raw = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        body = json.dumps({"model": "gpt-4o-mini", "messages": HELLO})
        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}

        def post() -> None:
            raw.request("POST", "/v1/chat/completions", body=body, headers=headers)
            raw.getresponse().read()

        post()  # connect
        floor = seconds(lambda: [post() for _ in range(calls)])
        raw.close()
    print(f"1. sequential, latency 0 ms, {calls} calls on one connection")
    print(
        f"   openai client        {calls / ours:8.0f} calls/s  {ours / calls * 1000:6.2f} ms/call"
    )
    print(
        f"   raw http.client      {calls / floor:8.0f} calls/s  {floor / calls * 1000:6.2f} ms/call"
        "  (baseline)"
    )
    print(f"   ratio openai / raw (time per call): {ours / floor:.2f}")


def concurrent(latency_ms: int, n: int) -> None:
    with ModelServer(latency_ms=latency_ms) as server:
        client = openai_client(server)
        ask(client)  # connect
        with ThreadPoolExecutor(n) as pool:
            wall = seconds(lambda: list(pool.map(lambda i: ask(client, f"m{i}"), range(n))))
        serial = seconds(lambda: [ask(client, f"m{i}") for i in range(n)])
    ideal = latency_ms / 1000
    print(f"2. {n} calls, latency {latency_ms} ms")
    print(f"   concurrent ({n} threads) {wall:7.2f} s")
    print(f"   one after the other      {serial:7.2f} s  (baseline)")
    print(
        f"   ratio concurrent / serial: {wall / serial:.3f}; concurrent / ideal {ideal:g} s:"
        f" {wall / ideal:.2f}"
    )


def seeding() -> None:
    dataset = build_demo_dataset(NOW_MS)
    build = medians(lambda: build_demo_dataset(NOW_MS + 1, seed=3), 5)
    copied = medians(lambda: copy.deepcopy(dataset), 5)
    print(f"3. demo dataset, {len(dataset.logs)} logs (median of 5)")
    print(f"   build_demo_dataset   {build * 1000:8.1f} ms")
    print(f"   deepcopy of it       {copied * 1000:8.1f} ms  (baseline)")
    print(f"   ratio build / copy: {build / copied:.2f}")


def _record(server: AwsServer) -> None:
    ddb = boto3.client("dynamodb", endpoint_url=server.url, region_name="us-east-1")
    ddb.create_table(
        TableName="logs",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for batch in range(80):
        items = [
            {
                "PutRequest": {
                    "Item": {
                        "pk": {"S": f"call#{batch:03d}-{i:02d}"},
                        "prompt": {"S": "Summarise the following text. " * 8},
                        "tokens": {"N": str(batch * 25 + i)},
                    }
                }
            }
            for i in range(25)
        ]
        ddb.batch_write_item(RequestItems={"logs": items})
    sm = boto3.client("secretsmanager", endpoint_url=server.url, region_name="us-east-1")
    for i in range(49):
        sm.create_secret(Name=f"secret-{i}", SecretString=f"value-{i}")


def restore() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = AwsServer(Path(tmp) / "state")
        server.start()
        _record(server)
        server.stop()
        try:
            with_replay = seconds(server.start)
        finally:
            server.stop()
        report = server.last_restore
        size = server.recording_path.stat().st_size / 1e6  # type: ignore[union-attr]
        empty = AwsServer(None)
        try:
            baseline = seconds(empty.start)
        finally:
            empty.stop()
    assert report is not None
    print(f"4. local AWS server, recording of {report.entries} requests, {size:.2f} MB")
    print(f"   start with restore   {with_replay:7.2f} s  (replay {report.seconds:.2f} s)")
    print(f"   start empty          {baseline:7.2f} s  (baseline)")
    print(f"   ratio restore / empty: {with_replay / baseline:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # moto takes any
        os.environ.setdefault(name, "testing")
    sequential(args.calls)
    concurrent(args.latency_ms, args.concurrency)
    seeding()
    restore()


if __name__ == "__main__":
    main()

"""The call engine's four targets (issue #11), each as a ratio to a baseline of the same run.

    python -m benchmarks.bench_engine [--rows 500] [--memory-rows 10000] [--calls 100]

The demo model runs in a SEPARATE process (its CPU is not the client's GIL); the logs live in
a throw-away LocalStack (moto's server). Printed, not asserted:

1. whole ``s.replay`` at 200 ms model latency, concurrency 32, 500 logs, against the larger
   of the ideal call time (500 x 0.2 s / 32) and the time plain boto3 takes to read the same
   500 logs from the same endpoint (target: <= 1.15x);
2. whole ``s.replay`` at zero latency, calls/s, against one reused openai client calling the
   same model sequentially with the same resolved messages (target: >= 0.5x);
3. 10,000 logs: the peak memory growth during ``s.replay`` (tracemalloc; target <= 200 MB);
4. ``s.test`` against a raw ``FlowPrompt.call`` on the same model (median; target <= 1.0x);
5. six deterministic scorers on a 500-row replay: wall time with and without (<= +10 %);
6. one LLM judge on 500 rows at 200 ms, concurrency 32: against the ideal 1,000 calls / 32 x
   0.2 s (target <= 1.2x).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import tracemalloc

import boto3

from prompt_tester_nb.local.stack import LocalStack

from .bench_core import seed_style_call, timed
from .bench_replay import (
    ENV,
    PROMPT_ID,
    clear_requests,
    connect,
    count_requests,
    model_server_process,
    resolved_messages,
    seed_many_logs,
    set_latency,
)


def plain_boto3_read(stack: LocalStack, env_id: str, n: int) -> float:
    """Seconds to read the newest ``n`` logs of the prompt with boto3's paginator (whole
    items, as a script would), from the same endpoint."""
    settings = stack.settings
    db = boto3.client(
        "dynamodb",
        endpoint_url=settings.endpoint_for("dynamodb"),
        region_name=settings.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    started = time.perf_counter()
    got = 0
    pages = db.get_paginator("query").paginate(
        TableName=settings.table("Logs"),
        KeyConditionExpression="env_id_prompt_id = :pk",
        ExpressionAttributeValues={":pk": {"S": f"{env_id}#{PROMPT_ID}"}},
        ScanIndexForward=False,
        PaginationConfig={"MaxItems": n, "PageSize": 100},
    )
    for page in pages:
        got += len(page["Items"])
    elapsed = time.perf_counter() - started
    assert got == n, (got, n)
    return elapsed


def reused_client_rate(url: str, messages: list[list[dict]]) -> float:
    """Calls/s of one openai client, reused, calling the model sequentially."""
    import openai

    client = openai.AzureOpenAI(
        azure_endpoint=url, api_key="bench-key", api_version="2023-07-01-preview", max_retries=0
    )

    def ask(m: list[dict]) -> None:
        client.chat.completions.create(model="gpt-4-turbo", messages=m, max_tokens=1500)

    ask(messages[0])
    started = time.perf_counter()
    for m in messages:
        ask(m)
    return len(messages) / (time.perf_counter() - started)


def _logs_into_a_list(s, m: int) -> tuple[int, float, int]:
    """Peak memory growth (bytes), seconds and count of reading ``m`` logs into one list with
    ``s.logs`` pages: what holding the logs costs at all, the replay's memory baseline."""
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    started = time.perf_counter()
    held: list = []
    cursor = None
    while len(held) < m:
        page = s.logs(prompt_id=PROMPT_ID, limit=min(1000, m - len(held)), cursor=cursor)
        held.extend(page.items)
        cursor = page.next_cursor
        if not cursor:
            break
    wall = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak - base, wall, len(held)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--memory-rows", type=int, default=10_000)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--calls", type=int, default=100)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        model_server_process(0) as url,
        LocalStack(tmp, persist=False, n_logs=3000) as stack,
    ):
        run_all(args, url, stack)


def run_all(args, url: str, stack: LocalStack) -> None:
    n = args.rows
    s = connect(stack, url)
    have = len(s.logs(prompt_id=PROMPT_ID, limit=1000).items)
    if have < max(n, args.memory_rows if not args.no_memory else 0):
        seed_many_logs(stack, s, PROMPT_ID, max(n, 0 if args.no_memory else args.memory_rows))
    entry = next(e for e in s.logs(prompt_id=PROMPT_ID, limit=50).items if e.version)
    draft = s.open_test(entry.context_id).prompt_data
    print(f"model server: separate process at {url}; environment {ENV!r}, prompt {PROMPT_ID!r}")
    s.replay(draft, "default", limit=20, progress=False)  # warm-up: clients, encodings

    # 1. 200 ms latency, concurrency 32 -----------------------------------------------
    read_s = min(plain_boto3_read(stack, s.env.env_id, n) for _ in range(2))
    set_latency(url, 200)
    try:
        started = time.perf_counter()
        run = s.replay(draft, "default", limit=n, concurrency=32, progress=False)
        wall = time.perf_counter() - started
    finally:
        set_latency(url, 0)
    ideal = n * 0.2 / 32
    bound = max(ideal, read_s)
    print(
        f"[1] s.replay 200 ms / concurrency 32 / {n} logs: {wall:.2f} s"
        f" ({run.summary()['succeeded']} ok); ideal calls {ideal:.2f} s, plain boto3 read"
        f" {read_s:.2f} s; ratio {wall / bound:.2f} (target <= 1.15)"
    )

    # 2. zero latency vs one reused openai client --------------------------------------
    clear_requests(url)
    started = time.perf_counter()
    run = s.replay(draft, "default", limit=n, concurrency=32, progress=False)
    wall = time.perf_counter() - started
    requests = count_requests(url)
    rate = len(run.rows) / wall
    contexts = [r.context for r in run.rows]
    ids = [r.context_id for r in run.rows]
    plain = reused_client_rate(url, resolved_messages(s, draft, contexts, url))
    print(
        f"[2] s.replay latency 0 / concurrency 32, {n} logs by query: {wall:.2f} s ="
        f" {rate:.0f} calls/s ({requests} model requests); one reused openai client,"
        f" sequential: {plain:.0f} calls/s; ratio {rate / plain:.2f} (target >= 0.5)"
    )
    started = time.perf_counter()
    run = s.replay(draft, "default", context_ids=ids, concurrency=32, progress=False)
    wall = time.perf_counter() - started
    print(
        f"[2] the same {len(ids)} logs by context_ids (BatchGetItem, no query): {wall:.2f} s ="
        f" {len(ids) / wall:.0f} calls/s; ratio {len(ids) / wall / plain:.2f} to the same"
        f" baseline ({run.summary()['succeeded']} ok)"
    )

    # 3. memory over 10,000 logs ---------------------------------------------------------
    if args.no_memory:
        print("[3] memory: skipped (--no-memory)")
    else:
        m = args.memory_rows
        tracemalloc.start()
        base, _ = tracemalloc.get_traced_memory()
        started = time.perf_counter()
        run = s.replay(draft, "default", limit=m, concurrency=32, progress=False)
        wall = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del run
        read_peak, read_wall, read_n = _logs_into_a_list(s, m)
        print(
            f"[3] s.replay of {m} logs: peak memory growth {(peak - base) / 2**20:.0f} MB"
            f" (target <= 200 MB), {wall:.1f} s; baseline, the same {read_n} logs read into a"
            f" list with s.logs: {read_peak / 2**20:.0f} MB, {read_wall:.1f} s; ratio"
            f" {(peak - base) / max(read_peak, 1):.2f}"
        )

    # 5. deterministic scorers' overhead; 6. a judge at 200 ms ----------------------------
    import prompt_tester_nb as pt

    sc = pt.scorers
    checks = [
        sc.contains("order", name="mentions_order"),
        sc.regex(r"\d", name="has_digit"),
        sc.json_valid(),
        sc.similarity(),
        sc.max_latency(5000),
        sc.max_cost(0.05),
    ]
    walls = {}
    for label, scorers in (("without", None), ("with", checks), ("without again", None)):
        started = time.perf_counter()
        s.replay(draft, "default", limit=n, concurrency=32, progress=False, scorers=scorers)
        walls[label] = time.perf_counter() - started
    base = (walls["without"] + walls["without again"]) / 2
    print(
        f"[5] {n} rows, latency 0, {len(checks)} deterministic scorers: {walls['with']:.2f} s"
        f" with, {base:.2f} s without (mean of two runs around it); overhead"
        f" {walls['with'] / base - 1:+.1%} (target <= +10%)"
    )
    set_latency(url, 200)
    try:
        clear_requests(url)
        started = time.perf_counter()
        run = s.replay(
            draft,
            "default",
            limit=n,
            concurrency=32,
            progress=False,
            scorers=[sc.judge("Is the answer polite and specific?", name="polite")],
        )
        wall = time.perf_counter() - started
    finally:
        set_latency(url, 0)
    ideal = 2 * n * 0.2 / 32
    print(
        f"[6] {n} rows + 1 judge, 200 ms, concurrency 32: {wall:.2f} s"
        f" ({count_requests(url)} model requests, {run.summary()['judge_calls']} judge"
        f" calls); ideal {ideal:.2f} s; ratio {wall / max(ideal, read_s):.2f} of the larger of"
        f" the ideal and the read time (target <= 1.2)"
    )

    # 4. s.test vs a raw FlowPrompt.call ---------------------------------------------------
    test_draft = s.open_test(entry.context_id)
    ours = timed(lambda: s.test(test_draft.prompt_data, test_draft.context_data), args.calls)
    raw_call = seed_style_call(url, test_draft.prompt_data)
    raw = timed(lambda: raw_call(test_draft.context_data), args.calls)
    ratio = statistics.median(ours) / statistics.median(raw)
    print(
        f"[4] s.test median {statistics.median(ours) * 1000:.1f} ms; raw FlowPrompt.call"
        f" median {statistics.median(raw) * 1000:.1f} ms; ratio {ratio:.2f} (target <= 1.0)"
    )


if __name__ == "__main__":
    main()

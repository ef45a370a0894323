"""Core benchmarks: ``s.test`` against a raw flow-prompt call, ``s.logs`` against raw boto3.

Each figure is compared with a baseline measured in the same run, on the same local stack
and the same demo model (latency 0). Printed, not asserted: run ``make bench``.

    python -m benchmarks.bench_core [--calls 200] [--pages 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable

import prompt_tester_nb as pt
from prompt_tester_nb.local.stack import LocalStack


def timed(fn: Callable[[], object], n: int) -> list[float]:
    fn()  # warm-up: first client, first JWKS fetch, first encoding load
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def describe(name: str, samples: list[float]) -> str:
    med = statistics.median(samples) * 1000
    p95 = sorted(samples)[int(len(samples) * 0.95) - 1] * 1000
    rate = len(samples) / sum(samples)
    return f"{name:<44} median {med:7.2f} ms  p95 {p95:7.2f} ms  {rate:8.1f} /s"


def seed_style_call(url: str, draft: dict) -> Callable[[dict, bool], object]:
    """What a script would write with flow-prompt alone (the seed's call_openai.py): one
    FlowPrompt with the Azure key, the seed's behaviour, ``call(context, reload)`` loading the
    draft with ``PipePrompt.service_load`` first when ``reload``. The replay benchmark uses it
    too, so both compare against the same baseline."""
    from flow_prompt import AttemptToCall, AzureAIModel, FlowPrompt, PipePrompt, behaviour
    from flow_prompt.ai_models.openai.openai_models import C_128K

    os.environ["FLOW_PROMPT_USE_API_SERVICE"] = "false"
    flow = FlowPrompt(azure_keys={"westus": {"url": url, "key": "bench-key"}})
    gpt4 = behaviour.AIModelsBehaviour(
        attempts=[
            AttemptToCall(
                ai_model=AzureAIModel(
                    realm="westus",
                    deployment_id="gpt-4-turbo",
                    max_tokens=C_128K,
                    support_functions=True,
                ),
                weight=100,
            )
        ]
    )
    chats = [
        {k: v for k, v in c.items() if k not in ("ref_name", "ref_value")} for c in draft["chats"]
    ]

    def call(context: dict, reload: bool = True) -> object:
        if reload:
            PipePrompt.service_load({**draft, "chats": chats})
        return flow.call(draft["prompt_id"], context, gpt4).content

    return call


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--pages", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, LocalStack(tmp, persist=False) as stack:
        user = stack.info.users[0]
        settings = stack.settings.model_copy(update={"flow_prompt_api_uri": None})
        s = pt.connect(
            email=user["email"], password=user["password"], env="staging", settings=settings
        )
        entry = next(i for i in s.logs(limit=50).items if i.version and i.context)
        draft = s.open_test(entry.context_id)
        print(f"demo model latency 0 ms, {args.calls} calls, {args.pages} pages")
        ours = timed(lambda: s.test(draft.prompt_data, draft.context_data, "default"), args.calls)
        raw_call = seed_style_call(stack.model.url, draft.prompt_data)
        raw = timed(lambda: raw_call(draft.context_data), args.calls)
        print(describe("s.test(...)", ours))
        print(describe("raw FlowPrompt.call (baseline)", raw))
        ratio = statistics.median(ours) / statistics.median(raw)
        print(f"ratio s.test / raw flow-prompt (median): {ratio:.2f}")

        db = s.service.aws.dynamodb
        table = settings.table("Logs")

        def raw_query() -> object:
            return db.query(
                TableName=table,
                IndexName="env_id",
                KeyConditionExpression="env_id = :e",
                ExpressionAttributeValues={":e": {"S": "env-acme-staging"}},
                ScanIndexForward=False,
                Limit=50,
            )["Items"]

        pages = timed(lambda: s.logs(limit=50), args.pages)
        raw_pages = timed(raw_query, args.pages)
        print(describe("s.logs(limit=50) first page", pages))
        print(describe("raw boto3 GSI query, 50 items (baseline)", raw_pages))
        ratio = statistics.median(pages) / statistics.median(raw_pages)
        print(f"ratio s.logs / raw boto3 (median): {ratio:.2f}")


if __name__ == "__main__":
    main()

"""What a new openai client per call costs, the figure behind the engine's client cache.

    python -m benchmarks.bench_client [--calls 200]

The demo model runs at zero latency in a separate process. Both sides make the same calls
one after the other in the same run: a new ``AzureOpenAI`` client for every call (what a
naive engine would do: a client per attempt, each with its own connection pool and TLS-less
HTTP connection) against one reused client. Printed, not asserted: the per-call difference is
the cost the cache (``engine/cache.py``: clients per endpoint and key digest) saves.
"""

from __future__ import annotations

import argparse
import statistics
import time

import openai

from .bench_replay import model_server_process

MESSAGES = [{"role": "user", "content": "Hello, where is my order A-123456?"}]


def _client(url: str) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        azure_endpoint=url, api_key="bench-key", api_version="2023-07-01-preview", max_retries=0
    )


def _ask(client: openai.AzureOpenAI) -> None:
    client.chat.completions.create(model="gpt-4-turbo", messages=MESSAGES, max_tokens=200)


def per_call_ms(url: str, calls: int, *, reuse: bool) -> list[float]:
    """Milliseconds of each call, with one client for all or a new one for each."""
    shared = _client(url)
    _ask(shared)  # warm both paths' imports and the server
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        client = shared if reuse else _client(url)
        _ask(client)
        if not reuse:
            client.close()
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    with model_server_process(0) as url:
        # alternate the two sides in rounds so a busy machine weighs on both alike
        fresh: list[float] = []
        reused: list[float] = []
        rounds = 4
        for _ in range(rounds):
            reused += per_call_ms(url, args.calls // rounds, reuse=True)
            fresh += per_call_ms(url, args.calls // rounds, reuse=False)
    r, f = statistics.median(reused), statistics.median(fresh)
    print(f"model server: separate process at {url}, zero latency; {len(reused)} calls a side")
    print(f"one reused client:     median {r:.2f} ms per call")
    print(f"a new client per call: median {f:.2f} ms per call")
    print(f"a new client costs:    {f - r:+.2f} ms per call ({f / r:.2f}x the reused client)")


if __name__ == "__main__":
    main()

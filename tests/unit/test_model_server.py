"""The demo model server, seen through the real openai clients over HTTP.

No mocking: every test talks to a ModelServer on 127.0.0.1 with ``openai.OpenAI`` or
``openai.AzureOpenAI`` (what flow-prompt uses), or with plain ``requests`` for the control API,
so what is asserted is what the rest of the suite and the demo will see.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
import requests

from prompt_tester_nb.local.model import ModelServer
from prompt_tester_nb.local.model import cli as ms_cli
from prompt_tester_nb.local.model import server as ms

KEY = "sk-test-plaintext-key-3f9a1c77"
AZURE_KEY = "azure-test-plaintext-key-81be20d4"
AZURE_VERSION = "2023-07-01-preview"
HELLO = [{"role": "user", "content": "What is the capital of France?"}]


# Client timeouts are failure guards only: no answer of the demo server on a busy machine
# comes near them. Where a timeout is what a test is about, the server hangs for HANG_S,
# longer than the test can run, so the timeout is the only thing that can end the call.
GUARD_S = 60
HANG_S = 600


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def until(condition: Any, what: str, timeout_s: float = GUARD_S) -> None:
    """Polls ``condition()`` until it holds; fails after a deadline only a broken server hits."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s:g} s"
        time.sleep(0.01)


def handler_threads() -> set[Any]:
    """The live request-handler threads of every ThreadingHTTPServer in this process."""
    return {t for t in threading.enumerate() if "process_request_thread" in t.name}


@pytest.fixture(scope="module")
def module_server() -> Iterator[ModelServer]:
    with ModelServer() as server:
        yield server


@pytest.fixture
def server(module_server: ModelServer) -> Iterator[ModelServer]:
    """One server for the module, reset around each test so tests stay independent."""

    def reset() -> None:
        module_server.clear_faults()
        module_server.set_latency(0)
        module_server.set_accepted_keys(None)
        module_server.set_judge_mode("fair")
        module_server.clear_requests()

    reset()
    yield module_server
    reset()


@pytest.fixture
def client(server: ModelServer) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=server.openai_base_url, api_key=KEY, max_retries=0, timeout=GUARD_S
    )


@pytest.fixture
def azure(server: ModelServer) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        azure_endpoint=server.url,
        api_key=AZURE_KEY,
        api_version=AZURE_VERSION,
        max_retries=0,
        timeout=GUARD_S,
    )


def ask(client: openai.OpenAI, model: str = "gpt-4o-mini", messages: Any = None, **kw: Any) -> Any:
    return client.chat.completions.create(model=model, messages=messages or HELLO, **kw)


# --- answers ---------------------------------------------------------------------------------
def test_openai_client_gets_a_labelled_chat_completion(server, client):
    reply = ask(client, max_tokens=256)
    content = reply.choices[0].message.content
    assert content.startswith("[demo model gpt-4o-mini] ")
    assert "capital of France" in content
    assert reply.object == "chat.completion" and reply.model == "gpt-4o-mini"
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].finish_reason == "stop"
    usage = reply.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    (record,) = server.requests()
    assert record["provider"] == "openai" and record["model"] == "gpt-4o-mini"
    assert record["api_version"] is None and record["max_tokens"] == 256
    assert record["messages"] == HELLO and record["status"] == 200
    assert record["key_sha256"] == sha(KEY)


def test_azure_client_is_routed_by_deployment_and_api_key_header(server, azure):
    reply = azure.chat.completions.create(model="gpt-4-turbo-westus", messages=HELLO)
    assert reply.choices[0].message.content.startswith("[demo model gpt-4-turbo-westus] ")
    (record,) = server.requests()
    assert record["provider"] == "azure" and record["model"] == "gpt-4-turbo-westus"
    assert record["api_version"] == AZURE_VERSION
    assert record["key_sha256"] == sha(AZURE_KEY)


def test_answers_are_deterministic_per_model_and_messages(client):
    first, again = ask(client), ask(client)
    assert first.choices[0].message.content == again.choices[0].message.content
    assert first.id == again.id
    other_text = ask(client, messages=[{"role": "user", "content": "Summarise this contract."}])
    other_model = ask(client, model="gpt-4o")
    contents = {
        r.choices[0].message.content for r in (first, other_text, other_model)
    }  # all visibly different
    assert len(contents) == 3
    assert "Summarise this contract" in other_text.choices[0].message.content


def test_content_parts_and_tiny_max_tokens(client):
    parts = [{"role": "user", "content": [{"type": "text", "text": "Explain recursion briefly"}]}]
    reply = ask(client, messages=parts)
    assert "Explain recursion briefly" in reply.choices[0].message.content
    short = ask(client, max_tokens=2)
    assert short.choices[0].finish_reason == "length"
    assert short.choices[0].message.content.startswith("[demo model gpt-4o-mini] ")


def test_streaming_is_refused_clearly(client):
    with pytest.raises(openai.BadRequestError) as info:
        ask(client, stream=True)
    assert "stream" in str(info.value)


# --- faults ----------------------------------------------------------------------------------
def test_429_with_retry_after_is_a_rate_limit_error(server, client):
    server.add_fault("status", status=429, retry_after=2)
    with pytest.raises(openai.RateLimitError) as info:
        ask(client)
    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "2"
    assert info.value.code == "rate_limit_exceeded"
    assert ask(client).choices[0].finish_reason == "stop"  # consumed after one call
    assert [r["status"] for r in server.requests()] == [429, 200]


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_is_an_internal_server_error(server, client, status):
    server.add_fault("status", status=status)
    with pytest.raises(openai.InternalServerError) as info:
        ask(client)
    assert info.value.status_code == status
    assert "retry-after" not in info.value.response.headers


def test_hang_times_out_the_client(server):
    # The hang outlasts the test (the module server's stop wakes it): the client's timeout is
    # what ended the call. A hang that ran out would be a connection error, not a timeout.
    server.add_fault("hang", delay_s=HANG_S)
    impatient = openai.OpenAI(
        base_url=server.openai_base_url, api_key=KEY, max_retries=0, timeout=0.3
    )
    with pytest.raises(openai.APITimeoutError):
        ask(impatient)
    until(lambda: server.requests(), "the hung call recorded")  # its handler may lag behind
    assert [r["status"] for r in server.requests()] == [0]


def test_reset_is_a_connection_error(server, client):
    server.add_fault("reset")
    with pytest.raises(openai.APIConnectionError) as info:
        ask(client)
    assert not isinstance(info.value, openai.APITimeoutError)
    assert ask(client).choices[0].finish_reason == "stop"  # the pool recovers


def test_malformed_body_is_not_json(server, client):
    server.add_fault("malformed")
    with pytest.raises(json.JSONDecodeError):
        ask(client)
    assert server.requests()[-1]["status"] == 200


def test_azure_content_filter_is_a_bad_request(server, azure):
    server.add_fault("content_filter")
    with pytest.raises(openai.BadRequestError) as info:
        azure.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert info.value.status_code == 400 and info.value.code == "content_filter"
    assert "response was filtered" in str(info.value)


def test_slow_answers_normally_after_the_delay(server, client):
    server.add_fault("slow", delay_s=0.3)
    started = time.monotonic()
    reply = ask(client)
    assert time.monotonic() - started >= 0.3
    assert reply.choices[0].message.content.startswith("[demo model gpt-4o-mini] ")


def test_match_and_count_and_fifo(server, client):
    server.add_fault("status", status=500, match="model-a", count=2)
    server.add_fault("status", status=503, match="model-a")
    assert ask(client, model="model-b").choices  # not matched: untouched
    statuses = []
    for _ in range(4):
        try:
            ask(client, model="model-a")
            statuses.append(200)
        except openai.APIStatusError as exc:
            statuses.append(exc.status_code)
    assert statuses == [500, 500, 503, 200]
    assert [(r["model"], r["status"]) for r in server.requests()] == [
        ("model-b", 200),
        ("model-a", 500),
        ("model-a", 500),
        ("model-a", 503),
        ("model-a", 200),
    ]


def test_faults_are_validated(server):
    for bad in (
        {"kind": "explode"},
        {"kind": "status"},
        {"kind": "status", "status": 200},
        {"kind": "reset", "count": 0},
        {"kind": "reset", "delay_s": 1},
    ):
        kind = bad.pop("kind")
        with pytest.raises(ValueError):
            server.add_fault(kind, **bad)


def test_faults_are_consumed_once_each_under_concurrency(server, client):
    server.add_fault("status", status=500, count=10)

    def call(_: int) -> int:
        try:
            ask(client)
            return 200
        except openai.APIStatusError as exc:
            return exc.status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(call, range(40)))
    assert statuses.count(500) == 10 and statuses.count(200) == 30


# --- keys ------------------------------------------------------------------------------------
def test_keys_are_recorded_as_digests_only(server, client, azure):
    ask(client)
    azure.chat.completions.create(model="dep", messages=HELLO)
    records = server.requests()
    assert [r["key_sha256"] for r in records] == [sha(KEY), sha(AZURE_KEY)]
    for text in (json.dumps(records), requests.get(server.url + "/_control/requests").text):
        assert KEY not in text and AZURE_KEY not in text


def test_accepted_keys_reject_others_with_401(server, client, azure):
    server.set_accepted_keys(["some-other-key"])
    with pytest.raises(openai.AuthenticationError) as info:
        ask(client)
    assert info.value.status_code == 401 and info.value.code == "invalid_api_key"
    assert KEY not in str(info.value)
    with pytest.raises(openai.AuthenticationError):
        azure.chat.completions.create(model="dep", messages=HELLO)
    server.set_accepted_keys([KEY, AZURE_KEY])
    assert ask(client).choices
    assert azure.chat.completions.create(model="dep", messages=HELLO).choices
    assert [r["status"] for r in server.requests()] == [401, 401, 200, 200]


def test_missing_key_is_401(server):
    response = requests.post(
        server.openai_base_url + "/chat/completions", json={"model": "m", "messages": HELLO}
    )
    assert response.status_code == 401
    assert server.requests()[-1]["key_sha256"] == ""


# --- control API over HTTP -------------------------------------------------------------------
def test_control_api_over_http(server, client):
    base = server.url
    assert requests.get(base + "/health").json() == {"status": "ok"}

    assert requests.post(base + "/_control/latency", json={"latency_ms": 150}).ok
    assert server.latency_ms == 150
    started = time.monotonic()
    ask(client)
    assert time.monotonic() - started >= 0.15
    assert requests.post(base + "/_control/latency", json={"latency_ms": 0}).ok

    faults = [{"kind": "status", "status": 503, "match": "x"}, {"kind": "content_filter"}]
    response = requests.post(base + "/_control/faults", json={"faults": faults})
    assert response.json() == {"added": 2, "pending": 2}
    with pytest.raises(openai.BadRequestError):
        ask(client)  # the 503 only matches "x"; the content filter applies to any model
    assert requests.delete(base + "/_control/faults").ok
    assert ask(client).choices

    records = requests.get(base + "/_control/requests").json()
    assert [r["status"] for r in records] == [200, 400, 200]
    assert records[0]["key_sha256"] == sha(KEY)
    assert requests.delete(base + "/_control/requests").ok
    assert requests.get(base + "/_control/requests").json() == []

    keys = {"accepted_key_sha256": [sha("another-key")]}
    assert requests.post(base + "/_control/keys", json=keys).ok
    with pytest.raises(openai.AuthenticationError):
        ask(client)
    assert requests.post(base + "/_control/keys", json={"accepted_key_sha256": None}).ok
    assert ask(client).choices


def test_control_api_rejects_bad_input_and_browsers(server):
    base = server.url
    bad = [
        ("/_control/latency", {"latency_ms": -1}),
        ("/_control/latency", {}),
        ("/_control/faults", {"faults": [{"kind": "nope"}]}),
        ("/_control/faults", {"faults": [{"kind": "status", "status": 429, "colour": 1}]}),
        ("/_control/keys", {"accepted_key_sha256": ["plaintext-is-not-a-digest"]}),
    ]
    for path, payload in bad:
        response = requests.post(base + path, json=payload)
        assert response.status_code == 400, (path, payload, response.text)
    assert requests.post(base + "/_control/faults", data=b"{not json").status_code == 400
    assert requests.get(base + "/nowhere").status_code == 404
    origin = {"Origin": "https://evil.example"}
    assert requests.delete(base + "/_control/faults", headers=origin).status_code == 403
    rebound = {"Host": "evil.example:80"}
    assert requests.get(base + "/_control/requests", headers=rebound).status_code == 403
    assert server.latency_ms == 0 and server.requests() == []


# --- capacity --------------------------------------------------------------------------------
# How fast: benchmarks/bench_local.py. Here: what makes it fast, counted.
def test_concurrent_requests_overlap_their_latency(server, client):
    server.set_latency(200)
    with ThreadPoolExecutor(32) as pool:
        replies = list(pool.map(lambda i: ask(client, model=f"m{i}"), range(32)))
    assert sorted(r.model for r in replies) == sorted(f"m{i}" for i in range(32))
    assert len(server.requests()) == 32


def test_32_calls_are_in_their_latency_at_once():
    """Overlap shown by the server, not a stopwatch: with a latency longer than the test, all
    32 calls are received (recorded before the latency sleep) while none is answered."""
    with ModelServer(latency_ms=HANG_S * 1000) as slow:
        c = openai.OpenAI(base_url=slow.openai_base_url, api_key=KEY, max_retries=0, timeout=None)
        with ThreadPoolExecutor(32) as pool:
            pending = [pool.submit(ask, c, model=f"m{i}") for i in range(32)]
            until(lambda: len(slow.requests()) == 32 or any(p.done() for p in pending), "32 in")
            assert not any(p.done() for p in pending), [p.exception() for p in pending if p.done()]
            assert sorted(r["model"] for r in slow.requests()) == sorted(f"m{i}" for i in range(32))
            slow.stop()  # wakes the 32 sleeping handlers
            for p in pending:  # each one answered as it woke or cut by the stop
                with contextlib.suppress(openai.APIConnectionError):
                    p.result(timeout=GUARD_S)  # a guard only: the client has no timeout


def test_one_client_reuses_one_keep_alive_connection_without_nagle():
    """Without keep-alive and TCP_NODELAY each call on a reused connection waits for the peer's
    delayed ACK (~40 ms): the stall the throughput benchmark would show, checked directly."""
    with ModelServer() as fresh:
        c = openai.OpenAI(
            base_url=fresh.openai_base_url, api_key=KEY, max_retries=0, timeout=GUARD_S
        )
        for _ in range(50):
            assert ask(c).choices[0].finish_reason == "stop"
        assert len(fresh.requests()) == 50
        with fresh._lock:  # the server side of each open connection
            connections = list(fresh._connections)
        assert len(connections) == 1, connections  # every call on the same connection
        assert connections[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_records_are_capped(monkeypatch):
    monkeypatch.setattr(ms, "MAX_RECORDS", 5)
    with ModelServer() as small:
        c = openai.OpenAI(
            base_url=small.openai_base_url, api_key=KEY, max_retries=0, timeout=GUARD_S
        )
        for i in range(8):
            ask(c, model=f"m{i}")
        assert [r["model"] for r in small.requests()] == [f"m{i}" for i in range(3, 8)]
    with pytest.raises(RuntimeError):
        _ = small.url  # stopped


def test_stop_wakes_hung_handlers_and_is_idempotent():
    before = handler_threads()
    server = ModelServer().start()
    server.add_fault("hang", delay_s=HANG_S)  # only stop() can end it
    c = openai.OpenAI(base_url=server.openai_base_url, api_key=KEY, max_retries=0, timeout=None)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(ask, c)
        until(lambda: server.requests(), "the call reaches its hang")
        assert handler_threads() - before  # asleep in the hang
        server.stop()
        server.stop()
        with pytest.raises(openai.APIConnectionError) as info:
            pending.result(timeout=GUARD_S)  # a guard only: the client itself has no timeout
    assert not isinstance(info.value, openai.APITimeoutError)
    until(lambda: not handler_threads() - before, "the hung handler's thread ends")


def test_main_runs_in_the_foreground():
    proc = subprocess.Popen(
        [sys.executable, "-m", "prompt_tester_nb.local.model", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:"), line
        assert requests.get(url + "/health", timeout=GUARD_S).json() == {"status": "ok"}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=GUARD_S) == 0


def test_the_old_module_path_still_serves():
    from prompt_tester_nb.local import model_server

    assert model_server.ModelServer is ModelServer and model_server.main is ms_cli.main
    out = subprocess.run(
        [sys.executable, "-m", "prompt_tester_nb.local.model_server", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "demo model" in out.stdout

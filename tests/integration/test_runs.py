"""Running drafts through the real flow-prompt and openai client against the demo model."""

from __future__ import annotations

import copy
import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import prompt_tester_nb as pt
from prompt_tester_nb.engine.platform_client import log_worker
from prompt_tester_nb.service import PromptTesterService
from tests.conftest import ALICE, _connect

GUARD_S = 60  # failure guards only: nothing here comes near them unless it is broken
HANG_S = 600  # longer than the test runs


def _draft(alice):
    # a production support reply (its answer starts "Hi "), whatever prompt the seed of the
    # day made newest
    page = alice.logs(prompt_id="support-reply", limit=100, source="production")
    entry = next(i for i in page.items if i.version and i.context)
    return alice.open_test(entry.context_id)


def _with_last_user(prompt: dict, text: str) -> dict:
    prompt = copy.deepcopy(prompt)
    users = [
        c for c in prompt["chats"] if c.get("role", "user") == "user" and not c.get("is_multiple")
    ]
    users[-1]["content"] = text
    return prompt


def test_a_test_runs_the_draft_through_flow_prompt(alice, model, settings):
    draft = _draft(alice)
    model.clear_requests()
    result = alice.test(draft.prompt_data, draft.context_data, behaviour="default")
    assert result.content.startswith("Hi ") and "[demo model" not in result.content
    assert (result.attempt, result.model) == ("attempts[0]", "azure/westus/gpt-4-turbo")
    assert result.finish_reason == "stop"
    assert result.prompt_tokens and result.prompt_tokens > 0
    assert result.sample_tokens and result.sample_tokens > 0
    assert result.price is not None and result.price > 0
    assert result.latency_ms >= 0
    assert result.unresolved_variables == []
    (request,) = model.requests()
    assert request["provider"] == "azure" and request["model"] == "gpt-4-turbo"
    # The call was posted to lib/logs with the user's API token and is now a log.
    assert result.context_id
    assert log_worker(settings.flow_prompt_api_uri).flush(60)  # a guard only
    logged = alice.log(result.context_id)
    assert logged.source == "prompt-tester"
    assert logged.response_content == result.content
    assert logged.context == draft.context_data


def test_edited_draft_and_context_are_what_runs(alice, model):
    draft = _draft(alice)
    prompt = {
        **draft.prompt_data,
        "chats": [
            {"role": "system", "content": "You answer in one line."},
            {"role": "user", "content": "Reply about {topic} for {person} and {missing_one}"},
        ],
    }
    model.clear_requests()
    result = alice.test(prompt, {"topic": "zebras", "person": "Ada"}, behaviour="default")
    assert result.unresolved_variables == ["missing_one"]
    sent = model.requests()[0]["messages"]
    assert sent == [
        {"role": "system", "content": "You answer in one line."},
        {"role": "user", "content": "Reply about zebras for Ada and {missing_one}"},
    ]


def test_openai_behaviour_and_unknown_behaviour(alice, model):
    draft = _draft(alice)
    result = alice.test(draft.prompt_data, draft.context_data, behaviour="gpt-4o-mini")
    assert result.model == "openai/gpt-4o-mini"
    assert model.requests()[-1]["provider"] == "openai"
    with pytest.raises(pt.NotFoundError):
        alice.test(draft.prompt_data, draft.context_data, behaviour="nope")


@pytest.mark.parametrize(
    ("prompt", "context", "field"),
    [
        ({"prompt_id": "x", "chats": []}, {}, "prompt_data.chats"),
        ({"prompt_id": "x"}, {}, "prompt_data.chats"),
        ({"chats": [{"content": "hi"}]}, {}, "prompt_data.prompt_id"),
        (
            {"prompt_id": "x", "chats": [{"content": "hi", "role": "robot"}]},
            {},
            "prompt_data.chats[0].role",
        ),
        ({"prompt_id": "x", "chats": [{"content": "hi"}]}, ["not", "an", "object"], "context_data"),
        ({"prompt_id": "x", "chats": [{"content": "hi"}]}, {"big": "x" * 400_000}, "context_data"),
        ("nope", {}, "prompt_data"),
    ],
)
def test_bad_test_input_is_refused_before_any_call(alice, model, prompt, context, field):
    model.clear_requests()
    with pytest.raises(pt.ValidationError) as info:
        alice.test(prompt, context, behaviour="default")
    assert info.value.field == field
    assert model.requests() == []


def test_claude_is_accepted_but_fails_plainly_at_test_time(alice, unique, model):
    name = f"claude-{unique}"
    alice.behaviours.create(
        name,
        {
            "attempts": [
                {
                    "ai_model": {
                        "provider": "claude",
                        "model": "claude-3-haiku",
                        "max_tokens": 200000,
                    }
                }
            ]
        },
    )
    draft = _draft(alice)
    with pytest.raises(pt.ProviderError) as info:
        alice.test(draft.prompt_data, draft.context_data, behaviour=name)
    assert "Claude is not supported" in str(info.value) and "httpx" in str(info.value)
    alice.behaviours.delete(name)


def test_missing_key_says_which_and_how(alice, unique):
    name = f"eastus-{unique}"
    alice.behaviours.create(
        name,
        {
            "attempts": [
                {
                    "ai_model": {
                        "provider": "azure",
                        "realm": "eastus",
                        "deployment_name": "gpt-4o",
                        "max_tokens": 128000,
                    }
                }
            ]
        },
    )
    draft = _draft(alice)
    with pytest.raises(pt.ProviderError) as info:
        alice.test(draft.prompt_data, draft.context_data, behaviour=name)
    assert "no Azure key for realm 'eastus'" in str(info.value)
    assert "AZURE_OPENAI_KEYS" in str(info.value)
    assert "Secrets tab" in str(info.value)  # the way in the app, beside the Python one
    alice.behaviours.delete(name)


def test_two_drafts_of_one_prompt_run_concurrently_without_mixing(alice, model):
    draft = _draft(alice)
    model.set_latency(50)
    words = ["APPLE", "BANANA", "CHERRY", "DAMSON"]
    results: dict[str, list[str]] = {w: [] for w in words}
    errors: list[BaseException] = []

    def run(word: str) -> None:
        try:
            prompt = _with_last_user(draft.prompt_data, f"Answer with the word {word}")
            for _ in range(5):
                results[word].append(alice.test(prompt, {}, behaviour="default").content)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in words]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    for word, answers in results.items():
        assert len(answers) == 5
        others = [w for w in words if w != word]
        assert all(word in a and not any(o in a for o in others) for a in answers), answers


def test_each_environment_uses_only_its_own_keys(service, stack, model, settings, unique):
    """Tests in two environments at once, in one process and one service: 16 threads (8 per
    environment) started together, each alternating an OpenAI and an Azure behaviour. Every
    call reached the model with its own environment's key for that provider, none twice."""
    from tests.conftest import password_of

    email = "alice@acme.example"
    sessions = {
        env: pt.connect(email=email, password=password_of(stack, email), env=env, service=service)
        for env in ("staging", "production")
    }
    sm = service.aws.secretsmanager
    saved = {
        env: sm.get_secret_value(SecretId=settings.secret_name(s.env.env_id))["SecretString"]
        for env, s in sessions.items()
    }
    keys = {
        (env, provider): f"sk-{env}-{provider}-only-{unique}"
        for env in sessions
        for provider in ("openai", "azure")
    }
    threads_per_env, calls_per_thread = 8, 4
    try:
        for env, s in sessions.items():
            s.secrets.set(
                OPENAI_API_KEY=keys[(env, "openai")],
                AZURE_OPENAI_KEYS={"westus": {"url": stack.model.url, "key": keys[(env, "azure")]}},
            )
        draft = _draft(sessions["staging"])
        model.clear_requests()
        errors: list[BaseException] = []
        barrier = threading.Barrier(threads_per_env * len(sessions))

        def run(env: str, t: int) -> None:
            try:
                barrier.wait()
                for i in range(calls_per_thread):
                    behaviour = ("gpt-4o-mini", "default")[(t + i) % 2]  # openai, azure
                    prompt = _with_last_user(draft.prompt_data, f"env marker {env} {t} {i}")
                    sessions[env].test(prompt, {}, behaviour=behaviour)
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=run, args=(env, t))
            for env in sessions
            for t in range(threads_per_env)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors[:3]
    finally:
        for env, s in sessions.items():  # the seeded keys back, exactly
            sm.put_secret_value(
                SecretId=settings.secret_name(s.env.env_id), SecretString=saved[env]
            )
    digest = {k: hashlib.sha256(v.encode()).hexdigest() for k, v in keys.items()}
    records = model.requests()
    total = len(sessions) * threads_per_env * calls_per_thread
    assert len(records) == total
    markers = []
    for record in records:
        text = " ".join(
            m["content"] for m in record["messages"] if isinstance(m.get("content"), str)
        )
        env = "production" if "env marker production" in text else "staging"
        marker = text[text.index("env marker") :].split("\n")[0]
        markers.append(marker)
        assert record["key_sha256"] == digest[(env, record["provider"])], (marker, record)
    assert len(set(markers)) == total  # each call once
    assert {r["provider"] for r in records} == {"openai", "azure"}


def test_rate_limit_then_fallback(alice, unique, model):
    name = f"fallback-{unique}"
    alice.behaviours.create(
        name,
        {
            "attempts": [
                {
                    "ai_model": {
                        "provider": "azure",
                        "realm": "westus",
                        "deployment_name": "gpt-4-turbo",
                        "max_tokens": 128000,
                    },
                    "weight": 100,
                }
            ],
            "fallback_attempt": {
                "ai_model": {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": 128000}
            },
        },
    )
    draft = _draft(alice)
    model.add_fault("status", status=429, retry_after=1, match="gpt-4-turbo", count=5)
    result = alice.test(draft.prompt_data, draft.context_data, behaviour=name)
    assert result.attempt == "fallback_attempt" and result.model == "openai/gpt-4o-mini"
    assert result.failed_attempts[0]["kind"] == "rate_limit"
    alice.behaviours.delete(name)


@pytest.mark.parametrize(
    ("fault", "kwargs", "kind", "words"),
    [
        (
            "status",
            {"status": 429, "retry_after": 2},
            "rate_limit",
            "rate-limiting requests (HTTP 429; it asked to wait 2 s)",
        ),
        ("status", {"status": 500}, "server_error", "the provider failed (HTTP 500)"),
        ("status", {"status": 503}, "server_error", "HTTP 503"),
        # a hang the test outlasts (the stack's stop wakes it): only the 3 s timeout ends it
        ("hang", {"delay_s": HANG_S}, "timeout", "no answer within 3 s"),
        ("reset", {}, "connection", "could not connect"),
        ("malformed", {}, "bad_response", "not valid JSON"),
        ("content_filter", {}, "content_filter", "content filter"),
    ],
)
def test_provider_failures_end_in_clear_errors_without_hanging(
    alice, model, fault, kwargs, kind, words
):
    draft = _draft(alice)
    model.add_fault(fault, count=3, **kwargs)
    model.clear_requests()
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(
            alice.test, draft.prompt_data, draft.context_data, behaviour="default"
        )
        with pytest.raises(pt.ProviderError) as info:
            pending.result(timeout=GUARD_S)  # a guard only: the run ends on its own
    assert info.value.attempts[0]["kind"] == kind, info.value.attempts
    assert words in str(info.value)
    assert "Traceback" not in str(info.value)
    # Without hanging: one call per attempt of the behaviour (model_max_retries is 0 here),
    # then the error; not a retry more. (A timed-out call may be recorded after the error.)
    calls = len(info.value.attempts)
    deadline = time.monotonic() + GUARD_S
    while len(model.requests()) < calls and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(model.requests()) == calls, (model.requests(), info.value.attempts)


def test_bad_key_is_reported_as_such(alice, model):
    draft = _draft(alice)
    model.set_accepted_keys(["only-this-key-is-valid"])
    with pytest.raises(pt.ProviderError) as info:
        alice.test(draft.prompt_data, draft.context_data, behaviour="default")
    assert info.value.attempts[0]["kind"] == "auth"
    assert "rejected the stored key" in str(info.value)


def test_slow_model_within_timeout_succeeds(stack, settings, model):
    # The suite's 3 s model timeout is the thing the fault tests hit; here the model is slow
    # (1 s) and the timeout far above what a busy machine adds to that.
    patient = PromptTesterService(settings.model_copy(update={"model_timeout_seconds": GUARD_S}))
    alice = _connect(stack, patient, ALICE)
    draft = _draft(alice)
    model.add_fault("slow", delay_s=1.0)
    result = alice.test(draft.prompt_data, draft.context_data, behaviour="default")
    assert result.content and result.latency_ms >= 1000

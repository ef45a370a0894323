"""The Tester and a one-row replay are one engine: every fault gets one verdict from both.

Each case drives a fault the demo model can inject (or an input or a key that cannot work)
once through ``s.test`` and once through ``s.replay`` of the same log with the same draft,
over real HTTP, and compares the error kind and the message word for word.
"""

from __future__ import annotations

import copy
import uuid

import pytest

import prompt_tester_nb as pt
from prompt_tester_nb.replay import RetryPolicy

PROMPT = "support-reply"
NO_RETRY = RetryPolicy(max_retries=0)


@pytest.fixture(scope="module")
def case(alice):
    """A production log of the prompt, and the draft it used."""
    entry = next(
        i
        for i in alice.logs(prompt_id=PROMPT, limit=100).items
        if i.version and i.context and i.source != "prompt-tester"
    )
    return entry, alice.open_test(entry.context_id).prompt_data


def _tester_verdict(alice, draft, context, behaviour="default") -> tuple[str, str]:
    with pytest.raises((pt.ProviderError, pt.PromptError)) as info:
        alice.test(draft, context, behaviour=behaviour)
    return info.value.kind, info.value.message


def _replay_verdict(alice, draft, context_id, behaviour="default") -> tuple[str, str]:
    run = alice.replay(draft, behaviour, context_ids=[context_id], progress=False, retry=NO_RETRY)
    (row,) = run.rows
    assert not row.ok and run.summary()["failed"] == 1
    return row.error_kind, row.error_message


FAULTS = [
    ("429 with Retry-After", {"kind": "status", "status": 429, "retry_after": 0}, "rate_limit"),
    ("500", {"kind": "status", "status": 500}, "server_error"),
    ("503", {"kind": "status", "status": 503}, "server_error"),
    ("hang", {"kind": "hang", "delay_s": 20}, "timeout"),
    ("reset", {"kind": "reset"}, "connection"),
    ("malformed JSON", {"kind": "malformed"}, "bad_response"),
    ("content filter", {"kind": "content_filter"}, "content_filter"),
]


@pytest.mark.parametrize(
    ("fault", "expected"), [(f[1], f[2]) for f in FAULTS], ids=[f[0] for f in FAULTS]
)
def test_a_provider_fault_gets_one_verdict(alice, model, case, fault, expected):
    entry, draft = case
    model.add_fault(**fault, count=1)
    tester = _tester_verdict(alice, draft, entry.context)
    model.add_fault(**fault, count=1)
    replayed = _replay_verdict(alice, draft, entry.context_id)
    assert tester == replayed
    assert tester[0] == expected and tester[1].startswith("Every attempt failed. attempts[0]")


def test_over_budget_gets_one_verdict(alice, model, case):
    entry, draft = case
    big = {**draft, "min_sample_tokens": 500_000}
    model.clear_requests()
    tester = _tester_verdict(alice, big, entry.context)
    assert tester == _replay_verdict(alice, big, entry.context_id)
    assert tester[0] == "over_budget" and "token budget" in tester[1]
    assert model.requests() == []


def test_empty_prompt_gets_one_verdict(alice, model, case):
    entry, draft = case
    empty = {**draft, "chats": [{"role": "user", "content": "{nothing_here}", "is_multiple": True}]}
    model.clear_requests()
    tester = _tester_verdict(alice, empty, entry.context)
    assert tester == _replay_verdict(alice, empty, entry.context_id)
    assert tester[0] == "empty_prompt"
    assert model.requests() == []


def test_a_missing_key_gets_one_verdict(alice, model, case):
    entry, draft = case
    name = f"parity-{uuid.uuid4().hex[:8]}"
    model_spec = {
        "provider": "azure",
        "realm": "nowhere",
        "deployment_name": "gpt-4-turbo",
        "max_tokens": "C_128K",
    }
    alice.behaviours.create(name, {"attempts": [{"ai_model": model_spec, "weight": 100}]})
    try:
        tester = _tester_verdict(alice, draft, entry.context, behaviour=name)
        with pytest.raises(pt.ProviderError) as info:  # no attempt can run: before any row
            alice.replay(draft, name, context_ids=[entry.context_id], progress=False)
        assert tester == (info.value.kind, info.value.message)
        assert tester[0] == "setup" and "no Azure key for realm 'nowhere'" in tester[1]
    finally:
        alice.behaviours.delete(name)


def test_an_answer_is_the_same_answer(alice, model, case):
    """No fault: the same attempt of a weighted behaviour answers, with the same text."""
    entry, draft = case
    for behaviour in ("default", "azure-with-fallback"):
        result = alice.test(draft, copy.deepcopy(entry.context), behaviour=behaviour)
        run = alice.replay(draft, behaviour, context_ids=[entry.context_id], progress=False)
        (row,) = run.rows
        assert (row.attempt, row.model, row.new) == (result.attempt, result.model, result.content)
        assert (row.prompt_tokens, row.sample_tokens) == (
            result.prompt_tokens,
            result.sample_tokens,
        )

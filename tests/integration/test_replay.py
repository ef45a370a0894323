"""Replaying a draft on logged calls: real HTTP against the local stack and the demo model."""

from __future__ import annotations

import _thread
import copy
import hashlib
import json
import math
import sqlite3
import threading
import time

import pytest

import prompt_tester_nb as pt
from prompt_tester_nb.engine.platform_client import log_worker
from prompt_tester_nb.replay import COLUMNS, ReplayRequest, RetryPolicy, replay
from tests.conftest import password_of
from tests.support import attacks

PROMPT = "support-reply"
CONTRACT_COLUMNS = [
    "context_id",
    "production",
    "new",
    "changed",
    "similarity",
    "latency_ms",
    "prompt_tokens",
    "sample_tokens",
    "price",
    "attempt",
    "model",
    "error",
]
FAST = RetryPolicy(max_retries=4, base_delay_s=0.01, max_delay_s=5.0, grow_every=10)


@pytest.fixture(scope="module")
def draft(alice) -> dict:
    entry = next(i for i in alice.logs(prompt_id=PROMPT, limit=50).items if i.version)
    return alice.open_test(entry.context_id).prompt_data


def _production(session, n: int) -> list[str]:
    """Context ids of the newest *production* logs with their metrics: other tests log their
    own calls (source 'prompt-tester'), whose answers are the demo model's, and write foreign
    items without metrics (test_log_source), which list as production but size no estimate."""
    items = session.logs(prompt_id=PROMPT, limit=200, source="production").items
    return [
        i.context_id
        for i in items
        if i.context and (i.metrics or {}).get("sample_tokens_used") is not None
    ][:n]


def _replay(session, draft, **kwargs):
    kwargs.setdefault("progress", False)
    kwargs.setdefault("retry", FAST)
    # these tests are about the engine over any logs: a row lacking a variable is sent as it
    # was before ``unresolved="skip"`` became the default (tests/test_versions.py covers that)
    kwargs.setdefault("unresolved", "send")
    return session.replay(draft, kwargs.pop("behaviour", "default"), **kwargs)


def _with_last_user(prompt: dict, text: str) -> dict:
    prompt = copy.deepcopy(prompt)
    users = [c for c in prompt["chats"] if c.get("role") == "user" and not c.get("is_multiple")]
    users[-1]["content"] = text
    return prompt


# --------------------------------------------------------------------------- estimate


def test_estimate_is_made_before_any_call(alice, draft, model):
    model.clear_requests()
    ids = _production(alice, 10)  # the newest logs may be other tests' calls, without metrics
    dry = _replay(alice, draft, context_ids=ids, dry_run=True)
    assert model.requests() == []  # estimating made no model call
    est = dry.estimate
    assert (est.rows, est.calls, est.cached) == (10, 10, 0)
    assert est.prompt_tokens > 0 and est.sample_tokens > 0 and est.estimated_cost > 0
    assert {r.error_kind for r in dry.rows} == {"not_run"}

    seen_at_start: list[int] = []

    def progress(done: int, total: int) -> None:
        if not seen_at_start:
            seen_at_start.append(len(model.requests()))

    run = _replay(alice, draft, context_ids=ids, progress=progress)
    assert seen_at_start == [0]  # the run's estimate existed before its first call
    assert run.estimate == est
    assert len(model.requests()) == 10
    # the call used the very resolution the estimate counted (tokens counted once per row)
    assert sum(r.prompt_tokens for r in run.rows) == est.prompt_tokens
    production = [alice.log(r.context_id).metrics["sample_tokens_used"] for r in run.rows]
    assert sum(production) == est.sample_tokens
    # flow-prompt's gpt-4-turbo prices: 0.01 / 1k prompt tokens, 0.03 / 1k sample tokens
    expected = sum(
        r.prompt_tokens * 0.01 / 1000 + s * 0.03 / 1000
        for r, s in zip(run.rows, production, strict=True)
    )
    assert est.estimated_cost == pytest.approx(expected, abs=1e-4)


# --------------------------------------------------------------------------- results


def test_dataframe_and_summary(alice, draft, model):
    run = _replay(alice, draft, context_ids=_production(alice, 8), concurrency=4)
    df = run.to_dataframe()
    assert list(df.columns) == COLUMNS and list(df.columns[: len(CONTRACT_COLUMNS)]) == (
        CONTRACT_COLUMNS
    )
    assert len(df) == 8
    first = alice.log(df.context_id[0])
    assert df.production[0] == first.response_content
    assert df.new.str.startswith("Hi ").all()  # a support reply, shaped like production's
    assert (df.changed == (df.new != df.production)).all()
    assert ((df.similarity >= 0) & (df.similarity <= 1)).all()
    assert (df.model == "azure/westus/gpt-4-turbo").all() and (df.attempt == "attempts[0]").all()
    assert df.error.isna().all() and not df.cached.any() and (df.tries == 1).all()
    assert (df.price > 0).all() and (df.sample_tokens > 0).all()

    s = run.summary()
    assert s["calls"] == 8 and s["succeeded"] == 8 and s["failed"] == 0 and s["not_run"] == 0
    assert s["errors_by_kind"] == {} and s["stopped_reason"] is None
    assert s["changed"] == df.changed.sum() and s["share_changed"] == df.changed.mean()
    assert s["total_cost"] == pytest.approx(df.price.sum())
    assert s["estimated_cost"] == run.estimate.estimated_cost
    latencies = sorted(df.latency_ms)
    assert s["latency_p50_ms"] == latencies[3] and s["latency_p95_ms"] == latencies[7]
    assert s["model_requests"] == 8 and s["cache_hits"] == 0
    assert "behaviour='default'" in repr(run)


def test_an_unchanged_answer_is_reported_as_such(alice, draft, model, settings):
    """A log of a test run of this very draft: the replay answers exactly the same (that
    Tester log is a baseline only when asked for: ``source="all"``)."""
    entry = alice.log(_production(alice, 1)[0])
    result = alice.test(draft, entry.context, behaviour="default")
    assert log_worker(settings.flow_prompt_api_uri).flush(10)
    run = _replay(alice, draft, context_ids=[result.context_id, entry.context_id], source="all")
    df = run.to_dataframe()
    assert not df.changed[0] and df.similarity[0] == 1.0
    # production's own answer may or may not be the demo model's (both follow the same shape)
    assert df.changed[1] == (df.new[1] != df.production[1])
    assert (df.similarity[1] < 1.0) == df.changed[1]
    # and the replay's answer is what s.test answers for the same context
    assert df.new[0] == result.content
    assert run.summary()["share_changed"] == df.changed.mean()


def test_replays_use_one_access_check_one_key_read_and_are_not_logged(
    alice, draft, model, service, monkeypatch, settings
):
    before = len(alice.logs(prompt_id=PROMPT, limit=1000))
    counts = {"environments": 0, "keys": 0, "behaviour": 0}
    real = {
        "environments": service.environments,
        "keys": service.secret_store.read_values,
        "behaviour": service.behaviour_store.get,
    }

    def counting(name):
        def wrapped(*args, **kwargs):
            counts[name] += 1
            return real[name](*args, **kwargs)

        return wrapped

    monkeypatch.setattr(service, "environments", counting("environments"))
    monkeypatch.setattr(service.secret_store, "read_values", counting("keys"))
    monkeypatch.setattr(service.behaviour_store, "get", counting("behaviour"))
    run = _replay(alice, draft, limit=12, concurrency=4)
    assert run.summary()["succeeded"] == 12
    assert counts == {"environments": 1, "keys": 1, "behaviour": 1}
    monkeypatch.undo()
    assert log_worker(settings.flow_prompt_api_uri).flush(10)
    assert len(alice.logs(prompt_id=PROMPT, limit=1000)) == before  # nothing went to lib/logs


# --------------------------------------------------------------------------- cost cap


def test_max_cost_stops_and_keeps_the_rows_not_run(alice, draft, model):
    dry = _replay(alice, draft, limit=12, dry_run=True)
    cap = dry.estimate.estimated_cost * 0.4
    model.clear_requests()
    run = _replay(alice, draft, limit=12, concurrency=1, max_cost=cap)
    s = run.summary()
    assert s["stopped_reason"] == "max_cost"
    assert len(run.rows) == 12  # nothing silently dropped
    ran = [r for r in run.rows if r.ok]
    skipped = [r for r in run.rows if not r.ok]
    assert 0 < len(ran) < 12 and s["not_run"] == len(skipped)
    assert all(r.error.startswith("not_run: ") and "max_cost" in r.error for r in skipped)
    assert len(model.requests()) == len(ran)
    assert s["total_cost"] <= cap
    # no call was started whose estimate would have passed the cap
    spent = 0.0
    for row in ran:
        assert spent + row.estimated_cost <= cap + 1e-9
        spent += row.price
    assert run.to_dataframe().error.str.startswith("not_run").sum() == len(skipped)


# --------------------------------------------------------------------------- faults


def test_429_with_retry_after_is_retried_after_the_wait(alice, draft, model):
    entry = alice.logs(prompt_id=PROMPT, limit=1).items[0]
    model.clear_requests()
    model.add_fault("status", status=429, retry_after=1, count=1)
    started = time.monotonic()
    run = _replay(alice, draft, context_ids=[entry.context_id], concurrency=1)
    elapsed = time.monotonic() - started
    (row,) = run.rows
    assert row.ok and row.tries == 2 and row.error is None
    assert run.summary()["retries"] == 1 and run.summary()["model_requests"] == 2
    first, second = model.requests()
    assert (first["status"], second["status"]) == (429, 200)
    assert second["time"] - first["time"] >= 1.0  # Retry-After: 1 was honoured
    assert elapsed >= 1.0


def test_failures_are_recorded_per_row_and_the_run_goes_on(alice, draft, model):
    model.clear_requests()
    retry = RetryPolicy(max_retries=2, base_delay_s=0.01, max_delay_s=1.0)
    # rows 1 and 2 meet a 500 on all three tries; row 3 a content filter (not retried)
    model.add_fault("status", status=500, count=6)
    model.add_fault("content_filter", count=1)
    run = _replay(alice, draft, limit=8, concurrency=1, retry=retry)
    s = run.summary()
    assert s["errors_by_kind"] == {"content_filter": 1, "server_error": 2}
    assert (s["failed"], s["succeeded"], s["not_run"]) == (3, 5, 0)
    rows = run.rows
    assert [r.tries for r in rows[:3]] == [3, 3, 1]
    assert rows[0].error.startswith("server_error: ") and "HTTP 500" in rows[0].error
    assert rows[2].error.startswith("content_filter: ")
    assert all(r.ok for r in rows[3:])
    df = run.to_dataframe()
    assert df.new.isna().sum() == 3 and df.changed.isna().sum() == 3
    assert math.isnan(df.similarity[0])
    assert len(model.requests()) == 6 + 1 + 5


def test_concurrency_backs_off_on_rate_limits_and_grows_back(alice, draft, model):
    model.set_latency(40)
    model.add_fault("status", status=429, retry_after=0, count=12)
    retry = RetryPolicy(max_retries=8, base_delay_s=0.02, max_delay_s=1.0, grow_every=2)
    run = _replay(alice, draft, limit=40, concurrency=8, retry=retry)
    s = run.summary()
    assert s["succeeded"] == 40 and s["retries"] >= 1
    allowed = [n for _, n in run.concurrency_trace]
    assert allowed[0] == 8
    assert s["min_concurrency"] < 8  # halved on 429
    low = allowed.index(min(allowed))
    assert max(allowed[low:]) > min(allowed)  # and grew back with successes


def test_cancel_keeps_partial_results(alice, draft, model):
    model.set_latency(150)
    done = threading.Event()
    finished: list[str] = []

    def on_row(row) -> None:
        finished.append(row.context_id)
        if len(finished) >= 3:
            done.set()

    model.clear_requests()
    run = _replay(alice, draft, limit=40, concurrency=2, on_row=on_row, wait=False)
    assert done.wait(60)
    run.cancel()
    assert run.wait(60)
    s = run.summary()
    assert s["stopped_reason"] == "cancelled"
    assert len(run.rows) == 40 and s["succeeded"] >= 3 and s["not_run"] > 20
    assert s["succeeded"] + s["not_run"] == 40
    assert {r.context_id for r in run.rows if r.ok} <= set(finished)
    # only the calls in flight were waited for: a row not run made no request
    assert len(model.requests()) == s["succeeded"] + s["failed"]


def _interrupt_at(phase: str):
    """An on_phase hook that presses Ctrl-C when the run reaches ``phase`` and holds the run
    there until the Ctrl-C became a cancel: no timer, no race with the machine's speed."""
    reached: list[str] = []

    def hook(name: str, run) -> None:
        reached.append(name)
        if name == phase:
            _thread.interrupt_main()
            assert run.cancel_event.wait(60), "Ctrl-C did not cancel the run"

    return hook, reached


@pytest.mark.parametrize("by_id", [False, True], ids=["query", "context_ids"])
@pytest.mark.parametrize("phase", ["selecting", "planning", "estimating", "calling"])
def test_ctrl_c_in_every_phase_cancels_and_returns_the_partial_run(
    alice, draft, model, tmp_path, phase, by_id
):
    model.clear_requests()
    hook, reached = _interrupt_at(phase)
    path = tmp_path / "answers.sqlite"
    selection = {"context_ids": _production(alice, 30)} if by_id else {"limit": 30}
    run = _replay(alice, draft, concurrency=2, cache=path, on_phase=hook, **selection)
    assert run.done and reached[-1] == "finished" and phase in reached
    s = run.summary()
    assert s["stopped_reason"] == "cancelled"
    assert all(r.settled for r in run.rows)  # nothing left half done
    assert s["succeeded"] + s["failed"] + s["not_run"] == len(run.rows) <= 30
    assert s["succeeded"] < 30 and len(model.requests()) <= s["succeeded"] + 2
    if phase != "calling":
        assert s["succeeded"] == 0 and model.requests() == []
    # the answer cache holds exactly the answers that finished, and is a whole SQLite file
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM answers").fetchone()[0] == s["succeeded"]


def test_ctrl_c_twice_gives_up_waiting(alice, draft, model):
    """A second Ctrl-C while the calls in flight end stops waiting for them."""
    model.set_latency(400)
    pressed = threading.Event()

    def hook(name: str, run) -> None:
        if name == "calling":
            _thread.interrupt_main()
            assert run.cancel_event.wait(60)
            pressed.set()
            _thread.interrupt_main()  # the second press, while the first calls are in flight

    with pytest.raises(KeyboardInterrupt):
        _replay(alice, draft, limit=10, concurrency=2, on_phase=hook)
    assert pressed.is_set()


# --------------------------------------------------------------------------- cache


def test_cache_answers_a_rerun_without_model_calls(alice, draft, model, tmp_path):
    path = tmp_path / "answers.sqlite"
    model.clear_requests()
    contexts = _production(alice, 10)
    first = _replay(alice, draft, context_ids=contexts, cache=path)
    assert len(model.requests()) == 10
    model.clear_requests()
    second = _replay(alice, draft, context_ids=contexts, cache=path)
    assert model.requests() == []  # zero model calls
    assert second.estimate.calls == 0 and second.estimate.cached == 10
    assert [r.new for r in second.rows] == [r.new for r in first.rows]
    assert all(r.cached for r in second.rows) and second.summary()["cache_hits"] == 10
    assert second.summary()["total_cost"] == 0
    assert second.to_dataframe().cached.all()
    # another draft is another request: called, then cached too
    other = _with_last_user(draft, "Reply in one short sentence to: {customer_message}")
    third = _replay(alice, other, context_ids=contexts, cache=path)
    # (rows stream: a context whose messages match an earlier row's, answered meanwhile, is
    # answered from the record)
    twins = sum(r.cached for r in third.rows)
    assert len(model.requests()) + twins == 10 and twins < 10
    # the record holds answers and hashes, no key or token
    raw = path.read_bytes()
    assert b"demo-azure-key" not in raw and b"demo-openai-key" not in raw
    with sqlite3.connect(path) as db:
        # one record per distinct request (two contexts may resolve to the same messages)
        assert 10 < db.execute("SELECT count(*) FROM answers").fetchone()[0] <= 20
        columns = [c[1] for c in db.execute("PRAGMA table_info(answers)")]
    assert not {"api_key", "key_value", "token", "messages"} & set(columns)


# --------------------------------------------------------------------------- save / load


def test_save_and_load_round_trip_without_secrets(service, stack, model, tmp_path):
    sentinel = "SENTINEL-" + hashlib.sha256(str(time.time()).encode()).hexdigest()[:24]
    email = "bob@acme.example"
    s = pt.connect(
        email=email, password=password_of(stack, email), env="production", service=service
    )
    try:
        s.secrets.set(
            OPENAI_API_KEY=sentinel,
            AZURE_OPENAI_KEYS={"westus": {"url": stack.model.url, "key": sentinel}},
        )
        entry = next(i for i in s.logs(prompt_id=PROMPT, limit=20).items if i.version)
        draft = s.open_test(entry.context_id).prompt_data
        model.clear_requests()
        run = _replay(s, draft, limit=5, behaviour="azure-with-fallback", concurrency=2)
        assert run.summary()["succeeded"] == 5
        assert {r["key_sha256"] for r in model.requests()} == {
            hashlib.sha256(sentinel.encode()).hexdigest()
        }
    finally:
        s.secrets.set(
            OPENAI_API_KEY="demo-openai-key-env-acme-prod",
            AZURE_OPENAI_KEYS={
                "westus": {"url": stack.model.url, "key": "demo-azure-key-env-acme-prod"}
            },
        )
    for name in ("run.json", "run.jsonl"):
        path = run.save(tmp_path / name)
        text = path.read_text()
        attacks.record(
            "python",
            f"ReplayRun.save ({name})",
            "secret-search",
            sentinel in text or "demo-azure-key" in text,
        )
        assert sentinel not in text and "demo-azure-key" not in text
        loaded = pt.load_run(path)
        assert loaded == run
        assert loaded.summary() == run.summary()
        assert loaded.to_dataframe().equals(run.to_dataframe())
        assert loaded.behaviour == "azure-with-fallback" and loaded.env_id == "env-acme-prod"
        assert loaded.draft == run.draft and loaded.estimate == run.estimate
        assert path.stat().st_mode & 0o077 == 0
    saved = json.loads((tmp_path / "run.json").read_text())
    assert {"draft", "behaviour", "env_id", "estimate", "summary", "rows"} <= set(saved)
    assert saved["behaviour"]["spec"]["attempts"][0]["ai_model"]["realm"] == "westus"
    row = saved["rows"][0]
    assert {"context", "production", "new", "price", "latency_ms"} <= set(row)
    for text in (repr(run), repr(run.summary()), repr(run.estimate)):
        assert sentinel not in text
    with pytest.raises(pt.ValidationError):
        (tmp_path / "not-a-run.json").write_text("{}")
        pt.load_run(tmp_path / "not-a-run.json")


# --------------------------------------------------------------------------- refusals


def test_another_organisation_is_denied(service, alice, mallory, draft, model):
    entry = alice.logs(prompt_id=PROMPT, limit=1).items[0]
    model.clear_requests()
    for env in ("env-acme-staging", "env-acme-prod", "staging"):
        # got anything = a run came back (rows, or model calls made)
        with attacks.refused("python", "replay", "other-org", pt.AccessDeniedError, env):
            replay(service, mallory.user, env, draft, ReplayRequest.build(limit=5))
        with attacks.refused(
            "python", "replay", "other-org", pt.AccessDeniedError, f"{env}, Acme's context_ids"
        ):
            request = ReplayRequest.build(context_ids=[entry.context_id])
            replay(service, mallory.user, env, draft, request)
    assert model.requests() == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": 65}, "concurrency"),
        ({"concurrency": "8"}, "concurrency"),
        ({"limit": 0}, "limit"),
        ({"limit": 10_001}, "limit"),
        ({"limit": True}, "limit"),
        ({"max_cost": 0}, "max_cost"),
        ({"max_cost": -1.0}, "max_cost"),
        ({"max_cost": float("nan")}, "max_cost"),
        ({"max_cost": "1"}, "max_cost"),
        ({"context_ids": "support-reply#1"}, "context_ids"),
        ({"context_ids": []}, "context_ids"),
        ({"context_ids": ["no-timestamp"]}, "context_ids[0]"),
        ({"context_ids": ["support-reply#1"], "prompt_id": PROMPT}, "prompt_id"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"prompt_id": ""}, "prompt_id"),
        ({"behaviour": "no spaces allowed"}, "behaviour"),
        ({"cache": "/nonexistent-folder/answers.sqlite"}, "cache"),
        ({"progress": "yes"}, "progress"),
        ({"on_row": 3}, "on_row"),
        ({"prompt_data": {"prompt_id": "x", "chats": []}}, "prompt_data.chats"),
    ],
)
def test_bad_input_names_the_field_and_makes_no_call(alice, draft, model, kwargs, field):
    model.clear_requests()
    prompt = kwargs.pop("prompt_data", draft)
    kwargs.setdefault("progress", False)
    with pytest.raises(pt.ValidationError) as info:
        alice.replay(prompt, kwargs.pop("behaviour", "default"), **kwargs)
    assert info.value.field == field
    assert model.requests() == []


def test_unknown_behaviour_or_log_is_not_found_before_any_call(alice, draft, model):
    model.clear_requests()
    with pytest.raises(pt.NotFoundError):
        _replay(alice, draft, behaviour="no-such-behaviour", limit=3)
    with pytest.raises(pt.NotFoundError) as info:
        _replay(alice, draft, context_ids=[f"{PROMPT}#1"])
    assert f"{PROMPT}#1" in str(info.value)
    assert model.requests() == []


def test_progress_bar_in_a_terminal(alice, draft, model, capsys):
    run = alice.replay(draft, "default", limit=3, progress=True)
    assert run.summary()["succeeded"] == 3
    err = capsys.readouterr().err
    assert "replay default" in err and "3/3" in err

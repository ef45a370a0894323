"""Ideal answers (flow-prompt's ``lib/logs`` PUT, the local stand-in, the audit), log sets as
DataFrames (``logs_frame``, ``pt.sample``), rich display and the DataFrame helpers, against
the local stack over HTTP."""

from __future__ import annotations

import html
import json
import re
from html import escape as html_escape

import pandas as pd
import pytest
import requests

import prompt_tester_nb as pt
from prompt_tester_nb.models import LOG_FRAME_COLUMNS, LogEntry, LogPage, TestResult
from prompt_tester_nb.sampling import allocate
from prompt_tester_nb.schema import env_prompt_key
from prompt_tester_nb.service import MAX_IDEAL_ANSWER, PromptTesterService
from prompt_tester_nb.widgets import Tester
from tests.support import attacks

BASE_TS = 1_500_000_000_000  # 2017: older than every seeded log, so no "newest" list shows these


def _put_log(service: PromptTesterService, env_id: str, prompt_id: str, ts: int, **extra) -> str:
    """A log item as the platform writes it (test data, through the store over HTTP)."""
    item = {
        "env_id_prompt_id": env_prompt_key(env_id, prompt_id),
        "timestamp": ts,
        "env_id": env_id,
        "prompt_id": prompt_id,
        "version": extra.pop("version", "1"),
        "context": extra.pop("context", {"q": f"question {ts}"}),
        "prompt": {"prompt_id": prompt_id, "chats": [{"role": "user", "content": "{q}"}]},
        "response": {"content": extra.pop("answer", f"answer {ts}")},
        "request": {"messages": []},
        "metrics": {"latency": 120, "prompt_tokens_used": 10, "sample_tokens_used": 5,
                    "price_of_call": 0.001, "ai_model_details": {"deployment_id": "gpt-4-turbo"}},
        **extra,
    }  # fmt: skip
    service.log_store.put(item)
    return f"{prompt_id}#{ts}"


@pytest.fixture
def own_log(service, alice, unique) -> str:
    return _put_log(service, alice.env.env_id, f"ideal-{unique}", BASE_TS + 1)


# --------------------------------------------------------------------------- ideal answers


def test_set_ideal_answer_round_trips_through_the_flow_prompt_api(
    alice, bob, service, own_log, caplog
):
    assert alice.log(own_log).ideal_answer is None
    text = "Refunds take <b>5</b> days; the order id is [A-1]."
    entry = alice.set_ideal_answer(own_log, text)
    assert isinstance(entry, pt.LogEntry) and entry.ideal_answer == text
    assert alice.log(own_log).ideal_answer == text
    assert bob.log(own_log).ideal_answer == text  # the same environment sees it
    # replays read it (the projection names it)
    scope = service.scope(alice.user, alice.env.env_id)
    assert scope.logs_by_id([own_log])[0].ideal_answer == text
    # replacing it works too
    assert alice.set_ideal_answer(own_log, "second").ideal_answer == "second"
    # audited like behaviour changes: who, what, the length, never the text
    events = [e for e in bob.audit(limit=20) if e.action == "log.ideal_answer"]
    assert events[0].target == own_log and events[0].by == "alice@acme.example"
    assert events[0].details == {"length": len("second")}
    assert text not in repr(bob.audit(limit=50)) and "second" not in json.dumps(
        [e.model_dump(mode="json") for e in events]
    )
    # the environment's API token took it there, and shows up nowhere
    token = service.api_token(alice.user, alice.env)
    seen = repr(entry) + entry.model_dump_json() + entry._repr_html_() + caplog.text
    seen += repr(alice.audit(limit=50)) + alice.audit_frame().to_string()
    assert not attacks.record("python", "set_ideal_answer", "secret-search", token in seen)


def test_an_answer_from_a_test_is_saved_only_for_the_logs_own_inputs(
    alice, bob, model, service, unique
):
    """The ideal-answer rule holds in the service: a test's answer carries what the test ran
    with (``from_test``), a differing test is refused (409) naming what differs, unless
    ``force=True`` with a ``reason`` (audited); text a person writes is saved as before."""
    context_id = _put_log(
        service, alice.env.env_id, "support-reply", BASE_TS + 81, version="1",
        context={"customer_name": "Grace Hopper", "question": f"Where is my order {unique}?"},
    )  # fmt: skip
    draft = alice.open_test(context_id)
    same = alice.test(draft.prompt_data, draft.context_data)
    assert same.origin is not None and same.origin.version == "1"
    assert "origin" not in same.model_dump()  # never part of a response
    saved = alice.set_ideal_answer(context_id, same.content, from_test=same)
    assert saved.ideal_answer == same.content
    other = alice.test(draft.prompt_data, {**draft.context_data, "customer_name": "Ada"})
    with pytest.raises(pt.ConflictError) as caught:
        alice.set_ideal_answer(context_id, "for Ada", from_test=other)
    assert "customer_name 'Ada' (log: 'Grace Hopper')" in caught.value.message
    assert caught.value.status == 409 and "force=True" in caught.value.message
    chats = [dict(c) for c in draft.prompt_data["chats"]]
    chats[-1]["content"] += " Be brief."
    edited = alice.test({**draft.prompt_data, "chats": chats}, draft.context_data)
    with pytest.raises(pt.ConflictError, match="chats were edited"):
        alice.set_ideal_answer(context_id, "brief", from_test=edited)
    inputs = {"context": draft.context_data, "version": 2, "chats": draft.prompt_data["chats"]}
    with pytest.raises(pt.ConflictError, match=r"The prompt version differs: 2 \(log: 1\)"):
        alice.set_ideal_answer(context_id, "v2", from_test=inputs)
    assert alice.log(context_id).ideal_answer == same.content  # nothing saved
    for kwargs, field in (
        ({"from_test": other, "force": True}, "reason"),
        ({"from_test": other, "force": True, "reason": "  "}, "reason"),
        ({"from_test": other, "force": "yes", "reason": "r"}, "force"),
        ({"from_test": {"context": 3}}, "from_test.context"),
        ({"from_test": {"context": {}, "extra": 1}}, "from_test.extra"),
        ({"from_test": "a test"}, "from_test"),
    ):
        with pytest.raises(pt.ValidationError) as refused:
            alice.set_ideal_answer(context_id, "x", **kwargs)
        assert refused.value.field == field, (kwargs, refused.value.message)
    replayed = pt.TestResult.model_validate(other.model_dump())  # a result without its inputs
    with pytest.raises(pt.ValidationError, match="from_test"):
        alice.set_ideal_answer(context_id, "x", from_test=replayed)
    reason = "The answer does not depend on the name"
    forced = alice.set_ideal_answer(
        context_id, "for Ada", from_test=other, force=True, reason=reason
    )
    assert forced.ideal_answer == "for Ada"
    events = [e for e in bob.audit(limit=20) if e.target == context_id]
    assert events[0].details == {
        "length": len("for Ada"),
        "from_test": True,
        "differs": ["context"],
        "forced": True,
        "reason": reason,
    }
    assert events[1].details == {"length": len(same.content), "from_test": True}
    # text a person writes: saved as today, whatever was tested
    assert alice.set_ideal_answer(context_id, "typed").ideal_answer == "typed"
    assert bob.audit(limit=1)[0].details == {"length": len("typed")}


def test_ideal_answer_input_is_checked_and_changes_nothing(alice, own_log):
    for bad in ("", "   \n", None, 42, ["text"], "x" * (MAX_IDEAL_ANSWER + 1)):
        with pytest.raises(pt.ValidationError) as info:
            alice.set_ideal_answer(own_log, bad)
        assert info.value.field == "ideal_answer", bad
    assert alice.log(own_log).ideal_answer is None
    with pytest.raises(pt.NotFoundError):
        alice.set_ideal_answer(own_log.replace("#", "#9"), "text")
    with pytest.raises(pt.ValidationError) as info:
        alice.set_ideal_answer("no-timestamp", "text")
    assert info.value.field == "context_id"


def test_other_orgs_cannot_set_an_ideal_answer(alice, mallory, own_log):
    with attacks.refused("python", "set_ideal_answer", "other-org", pt.AccessDeniedError):
        mallory.service.set_ideal_answer(mallory.user, alice.env.env_id, own_log, "mine now")
    with attacks.refused("python", "set_ideal_answer", "other-org", pt.NotFoundError):
        mallory.set_ideal_answer(own_log, "mine now")  # in mallory's own env: no such log
    assert alice.log(own_log).ideal_answer is None


def test_no_api_service_configured_is_a_clear_error(stack, alice, settings, own_log):
    offline = PromptTesterService(settings.model_copy(update={"flow_prompt_api_uri": None}))
    with pytest.raises(pt.ValidationError) as info:
        offline.set_ideal_answer(alice.user, alice.env.env_id, own_log, "text")
    assert info.value.field == "FLOW_PROMPT_API_URI"
    assert "FLOW_PROMPT_API_URI" in info.value.message and "API service" in info.value.message
    assert alice.log(own_log).ideal_answer is None


def test_an_api_service_that_refuses_or_is_unreachable_is_a_store_error(
    stack, alice, settings, own_log
):
    for uri, words in (
        (stack.model.url, "refused"),  # answers, but not lib/logs
        ("http://127.0.0.1:9/", "could not be reached"),
    ):
        other = PromptTesterService(settings.model_copy(update={"flow_prompt_api_uri": uri}))
        with pytest.raises(pt.StoreError) as info:
            other.set_ideal_answer(alice.user, alice.env.env_id, own_log, "text")
        assert words in info.value.message
        token = other.api_token(alice.user, alice.env)
        assert token not in info.value.message
        assert not [e for e in other.audit(alice.user, alice.env.env_id, 10) if e.target == own_log]
    assert alice.log(own_log).ideal_answer is None


def test_the_stand_in_put_checks_the_token_and_the_environment(stack, service, alice, unique):
    url = stack.settings.flow_prompt_api_uri + "lib/logs"
    staging = _put_log(service, "env-acme-staging", f"put-{unique}", BASE_TS + 2)
    prod_token = service.api_token(alice.user, service.environment(alice.user, "env-acme-prod"))
    expired = f"env-acme-staging.expired-{unique}"
    service.token_store.put("env-acme-staging", expired, alice.user.user_id, -60)
    body = {"log_id": staging, "ideal_answer": "from the wire"}

    def put(token: str | None, payload=body) -> requests.Response:
        headers = {"Authorization": f"Token {token}"} if token else {}
        return requests.put(url, json=payload, headers=headers, timeout=10)

    for detail, token in (
        ("no token", None),
        ("unknown token", f"env-acme-staging.nope-{unique}"),
        ("expired token", expired),
    ):
        r = put(token)
        attacks.record("log-api", "PUT lib/logs", "bad-token", r.status_code != 401, detail)
        assert r.status_code == 401, detail
    # another environment's token: that environment has no such log, and nothing is created
    r = put(prod_token)
    attacks.record("log-api", "PUT lib/logs", "other-env", r.status_code != 404)
    assert r.status_code == 404
    prod = service.environment(alice.user, "env-acme-prod")
    with pytest.raises(pt.NotFoundError):
        service.log(alice.user, prod.env_id, staging)
    # bad bodies
    token = service.api_token(alice.user, alice.env)
    for payload in ({"log_id": staging}, {"log_id": "x", "ideal_answer": "t"}, ["no"]):
        assert put(token, payload).status_code == 400, payload
    assert alice.log(staging).ideal_answer is None
    # the right token writes it
    r = put(token)
    assert r.status_code == 200 and r.json() == {"id": staging}
    assert alice.log(staging).ideal_answer == "from the wire"


# --------------------------------------------------------------------------- log sets


def test_logs_frame_pages_through_every_log(alice, service, unique):
    prompt_id = f"frame-{unique}"
    ids = [
        _put_log(service, alice.env.env_id, prompt_id, BASE_TS + i, version=str(1 + i % 3))
        for i in range(25)
    ]
    alice.set_ideal_answer(ids[3], "ideal three")
    seen: list[tuple[int, object]] = []
    frame = alice.logs_frame(prompt_id=prompt_id, progress=lambda d, t: seen.append((d, t)))
    assert list(frame.columns) == LOG_FRAME_COLUMNS
    assert list(frame["context_id"]) == ids[::-1]  # newest first, every one
    dtype = frame["timestamp"].dtype
    assert isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) == "UTC"
    assert frame["timestamp"].iloc[-1] == pd.Timestamp(BASE_TS, unit="ms", tz="UTC")
    row = frame.set_index("context_id").loc[ids[3]]
    assert row["ideal_answer"] == "ideal three" and row["context"] == {
        "q": f"question {BASE_TS + 3}"
    }
    assert (row["latency_ms"], row["model"], row["version"]) == (120.0, "gpt-4-turbo", "1")
    assert seen and seen[-1] == (25, None)
    # bounds (inclusive) and a limit
    part = alice.logs_frame(
        prompt_id=prompt_id, since=BASE_TS + 5, until=BASE_TS + 9, progress=False
    )
    assert list(part["context_id"]) == ids[5:10][::-1]
    assert len(alice.logs_frame(prompt_id=prompt_id, limit=7, progress=False)) == 7
    empty = alice.logs_frame(prompt_id=f"none-{unique}", progress=False)
    assert empty.empty and list(empty.columns) == LOG_FRAME_COLUMNS
    with pytest.raises(pt.ValidationError) as info:
        alice.logs_frame(limit=0, progress=False)
    assert info.value.field == "limit"
    with pytest.raises(pt.ValidationError):
        alice.logs_frame(since=BASE_TS + 9, until=BASE_TS, progress=False)


def test_logs_frame_over_a_whole_environment_matches_paging(alice):
    until = alice.logs(limit=1).items[0].timestamp
    since = until - 6 * 3600 * 1000
    paged, cursor = [], None
    while True:
        page = alice.logs(since=since, until=until, limit=200, cursor=cursor)
        paged += [e.context_id for e in page.items]
        cursor = page.next_cursor
        if not cursor:
            break
    frame = alice.logs_frame(since=since, until=until, progress=False)
    assert list(frame["context_id"]) == paged and len(paged) > 0


def test_logs_frame_checks_access_before_reading(mallory):
    with attacks.refused("python", "logs_frame", "other-org", pt.AccessDeniedError):
        mallory.service.log_pages(mallory.user, "env-acme-staging")


def test_allocation_is_proportional_with_one_per_stratum():
    assert allocate({"a": 80, "b": 15, "c": 5}, 20) == {"a": 16, "b": 3, "c": 1}
    assert allocate({"a": 98, "b": 1, "c": 1}, 10) == {"a": 8, "b": 1, "c": 1}
    assert allocate({"a": 5, "b": 3, "c": 2}, 2) == {"a": 1, "b": 1, "c": 0}
    assert allocate({"a": 2, "b": 1}, 10) == {"a": 2, "b": 1}
    for sizes in ({"a": 7, "b": 7, "c": 7}, {"a": 1, "b": 50, "c": 3}):
        for n in range(sum(sizes.values()) + 1):
            alloc = allocate(sizes, n)
            assert sum(alloc.values()) == n and all(alloc[k] <= sizes[k] for k in sizes)
            if n >= len(sizes):
                assert all(v >= 1 for v in alloc.values())


def test_sample_stratifies_by_version_and_drops_duplicate_contexts(alice, service, unique):
    prompt_id = f"sample-{unique}"
    for i in range(60):
        version = "1" if i < 40 else ("2" if i < 55 else "3")
        # versions 1 repeats its contexts: only 20 distinct
        context = {"q": f"same {i % 20}"} if version == "1" else {"q": f"q {i}", "n": i}
        _put_log(service, alice.env.env_id, prompt_id, BASE_TS + i, version=version,
                 context=context)  # fmt: skip
    frame = alice.logs_frame(prompt_id=prompt_id, progress=False)
    picked = pt.sample(frame, 10, by="version", seed=0)
    assert list(picked.columns) == list(frame.columns) and len(picked) == 10
    contexts = picked["context"].map(lambda c: json.dumps(c, sort_keys=True))
    assert not contexts.duplicated().any()
    # 20 + 15 + 5 distinct rows: 10 split 5 / 4 / 1 (largest remainder)
    assert picked["version"].value_counts().to_dict() == {"1": 5, "2": 4, "3": 1}
    assert picked.equals(pt.sample(frame, 10, by="version", seed=0))  # deterministic
    assert not picked.index.equals(pt.sample(frame, 10, by="version", seed=1).index)
    assert list(picked.index) == sorted(picked.index)  # the frame's order is kept
    every = pt.sample(frame, 1000)
    assert len(every) == 40 and set(every["version"]) == {"1", "2", "3"}
    # key order does not make two contexts different
    twins = pd.DataFrame({"version": ["1", "1"], "context": [{"a": 1, "b": 2}, {"b": 2, "a": 1}]})
    assert len(pt.sample(twins, 5)) == 1
    for bad in ({"n": -1}, {"n": 2.5}, {"by": "nope"}, {"seed": "x"}):
        with pytest.raises(pt.ValidationError):
            pt.sample(frame, **{"n": 3, **bad})
    with pytest.raises(pt.ValidationError):
        pt.sample([1, 2], 1)


# --------------------------------------------------------------------------- display


def test_rich_display_escapes_every_text():
    script = "<script>alert('x')</script>"
    entry = LogEntry(
        context_id=f"p{script}#1",
        prompt_id=f"p{script}",
        timestamp=1,
        env_id="e",
        version=script,
        context={"name": script, script: 1},
        response={"content": script},
        ideal_answer=script,  # (``source`` is "production" or "prompt-tester", never free text)
        metrics={"ai_model_details": {"model": script}},
    )
    result = TestResult(
        content=script, finish_reason=script, attempt=script, model=script, latency_ms=3,
        prompt_tokens=1, sample_tokens=2, price=0.5, unresolved_variables=[script],
        context_id=script,
    )  # fmt: skip
    page = LogPage(items=[entry], next_cursor="secret-cursor-value")
    for shown in (entry._repr_html_(), page._repr_html_(), result._repr_html_()):
        assert "<script" not in shown and "&lt;script&gt;" in shown
        assert "<table" in shown
    assert "secret-cursor-value" not in page._repr_html_()
    assert "next page" in page._repr_html_()


def test_rich_display_of_real_results(alice, model, service):
    page = alice.logs(limit=5)
    shown = page._repr_html_()
    assert all(e.context_id in shown for e in page.items) and "5 log(s)" in shown
    draft = alice.open_test(page.items[0].context_id)
    result = alice.test(draft.prompt_data, draft.context_data, "default")
    html = result._repr_html_()
    assert "azure/westus/gpt-4-turbo" in html
    assert html_escape(result.content.splitlines()[0]) in html
    token = service.api_token(alice.user, alice.env)
    assert token not in html + shown


def test_dataframe_helpers(alice, bob, unique):
    behaviours = alice.behaviours.to_dataframe()
    assert {"default", "gpt-4o-mini"} <= set(behaviours["name"])
    default = behaviours.set_index("name").loc["default"]
    assert default["attempts"] == 1 and json.loads(default["spec"])["attempts"]
    envs = alice.environments_frame()
    assert set(envs["env_id"]) == {"env-acme-staging", "env-acme-prod"}
    assert list(envs.columns) == ["env_id", "env_name", "org_id", "org_name", "role"]
    name = f"frame-{unique}"
    spec = {"attempts": [{"ai_model": {"provider": "openai", "model": "m", "max_tokens": 1000}}]}
    alice.behaviours.create(name, spec)
    alice.behaviours.delete(name)
    audit = bob.audit_frame(limit=10)
    assert list(audit.columns) == ["at", "by", "action", "target", "details"]
    assert str(audit["at"].dtype).startswith("datetime64") and name in set(audit["target"])


# --------------------------------------------------------------------------- the Tester


def test_tester_shows_and_saves_the_ideal_answer(alice, model, service, unique):
    context_id = _put_log(
        service, alice.env.env_id, "support-reply", BASE_TS + 77, version="1",
        context={"customer_name": "Ada", "question": f"Where is my order {unique}?"},
        answer="Production said <this>.",
    )  # fmt: skip
    alice.set_ideal_answer(context_id, "The <ideal> answer")
    tester = Tester(alice)
    tester.open_log(context_id)
    shown = tester.comparison.value
    assert "Logged answer" in shown and "Production said &lt;this&gt;." in shown
    assert "Ideal answer" in shown and "The &lt;ideal&gt; answer" in shown
    assert tester.save_ideal_button.disabled  # nothing run yet
    result = tester.run()
    assert not tester.save_ideal_button.disabled
    tester.save_ideal_button.click()  # asks first; the same context, so Confirm is enabled
    assert tester.ideal_text.value == result.content and not tester.ideal_confirm.disabled
    tester.ideal_confirm.click()
    assert "Saved as the ideal answer" in tester.ideal_status.text
    assert alice.log(context_id).ideal_answer == result.content
    assert tester.source_log.ideal_answer == result.content
    assert "The &lt;ideal&gt; answer" not in tester.comparison.value
    # a refusal shows in the status line, in words
    tester.last_result = result.model_copy(update={"content": "   "})
    tester._update_save_ideal()
    assert tester.save_ideal_button.disabled
    tester.source_log = None
    tester._show_comparison()
    assert tester.save_ideal_button.disabled and "no log opened" in tester.comparison.value


def _text(widget) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", widget.value))


def _tester_on_log(alice, service, unique, ts: int) -> tuple[Tester, str]:
    context_id = _put_log(
        service, alice.env.env_id, "support-reply", BASE_TS + ts, version="1",
        context={"customer_name": "Grace Hopper", "question": f"Where is my order {unique}?"},
        answer="Production answer.",
    )  # fmt: skip
    tester = Tester(alice)
    tester.open_log(context_id)
    return tester, context_id


def test_tester_saves_an_ideal_answer_only_after_confirming_the_edited_text(
    alice, model, service, unique
):
    tester, context_id = _tester_on_log(alice, service, unique, 78)
    result = tester.run()
    tester.save_ideal_button.click()
    assert alice.log(context_id).ideal_answer is None  # one click no longer saves
    # the box shows the answer, editable, with what an ideal answer means; nothing saved yet
    assert tester.ideal_box.layout.display != "none"
    assert tester.ideal_text.value == result.content
    notice = _text(tester.ideal_notice)
    assert context_id in notice and "it grades every later replay of this log" in notice
    assert "differs" not in notice and tester.ideal_anyway.layout.display == "none"
    assert not tester.ideal_confirm.disabled
    assert alice.log(context_id).ideal_answer is None
    # cancel stores nothing and closes the box
    tester.ideal_cancel.click()
    assert tester.ideal_box.layout.display == "none"
    assert alice.log(context_id).ideal_answer is None
    # empty text: Confirm disabled, with the reason
    tester.save_ideal_button.click()
    tester.ideal_text.value = "   "
    assert tester.ideal_confirm.disabled and "empty" in tester.ideal_reason.text
    with pytest.raises(pt.ValidationError, match="empty"):
        tester.confirm_ideal_answer()
    # the edited text is what is saved, not the run's raw answer
    tester.ideal_text.value = "Hello Grace, your order ships today."
    assert not tester.ideal_confirm.disabled and tester.ideal_reason.text == ""
    tester.ideal_confirm.click()
    assert "Saved as the ideal answer" in tester.ideal_status.text
    assert alice.log(context_id).ideal_answer == "Hello Grace, your order ships today."
    assert tester.source_log.ideal_answer == "Hello Grace, your order ships today."
    assert tester.ideal_box.layout.display == "none"
    # the Python handle: with no text it opens the same confirmation; with text it saves
    assert tester.save_ideal_answer() is None and tester.ideal_box.layout.display != "none"
    assert alice.log(context_id).ideal_answer == "Hello Grace, your order ships today."
    assert tester.save_ideal_answer("Typed in Python").ideal_answer == "Typed in Python"
    assert alice.log(context_id).ideal_answer == "Typed in Python"


def test_tester_warns_and_needs_an_explicit_choice_when_the_test_differs_from_the_log(
    alice, model, service, unique
):
    tester, context_id = _tester_on_log(alice, service, unique, 79)
    tester.context_data = {**tester.context_data, "customer_name": "Ada Lovelace", "vip": True}
    result = tester.run()
    tester.save_ideal_button.click()
    assert alice.log(context_id).ideal_answer is None  # one click no longer saves
    notice = _text(tester.ideal_notice)
    assert "The context differs from the log's" in notice
    assert "customer_name 'Ada Lovelace' (log: 'Grace Hopper')" in notice
    assert "added vip true" in notice
    assert "it grades every later replay of this log" in notice
    assert tester.ideal_text.value == result.content
    # Confirm stays disabled until the explicit "anyway" is ticked; nothing is stored before
    assert tester.ideal_anyway.layout.display != "none" and not tester.ideal_anyway.value
    assert tester.ideal_confirm.disabled and "tick" in tester.ideal_reason.text
    tester.ideal_confirm.click()  # disabled in the browser; refused here too
    with pytest.raises(pt.ValidationError, match="differs"):
        tester.confirm_ideal_answer()
    with pytest.raises(pt.ValidationError, match="customer_name"):
        tester.save_ideal_answer("typed")  # the Python handle refuses without anyway=True
    assert alice.log(context_id).ideal_answer is None
    tester.ideal_anyway.value = True
    assert not tester.ideal_confirm.disabled
    tester.ideal_text.value = ""
    assert tester.ideal_confirm.disabled and "empty" in tester.ideal_reason.text
    tester.ideal_text.value = "Ideal for Ada"
    tester.ideal_confirm.click()
    assert alice.log(context_id).ideal_answer == "Ideal for Ada"
    assert tester.save_ideal_answer("again", anyway=True).ideal_answer == "again"
    # a removed key and a long value are named, cut to a sane length
    long = "x" * 500
    tester.context_data = {"question": long}
    tester.run()
    tester.save_ideal_button.click()
    notice = _text(tester.ideal_notice)
    assert "removed customer_name (log: 'Grace Hopper')" in notice
    assert long not in notice and "…" in notice
    assert alice.log(context_id).ideal_answer == "again"
    # a new run closes a pending confirmation (it was about the previous answer)
    tester.run()
    assert tester.ideal_box.layout.display == "none" and tester.ideal_confirm.disabled
    # edited chats (same version, the log's context) are named too
    tester.context_data = dict(tester.source_log.context)
    tester.rows.children[0].content.value += " Be brief."
    tester.run()
    tester.save_ideal_button.click()
    notice = _text(tester.ideal_notice)
    assert "chats were edited" in notice and "The context differs" not in notice
    assert tester.ideal_confirm.disabled


def test_tester_names_a_different_prompt_version(alice, model, service, unique):
    tester, context_id = _tester_on_log(alice, service, unique, 80)
    others = [v for v in tester.version.options if v and v != "1"]
    if not others:
        pytest.skip("support-reply has a single version in the seeded stack")
    tester.version.value = others[0]
    tester.run()
    tester.save_ideal_button.click()
    notice = _text(tester.ideal_notice)
    assert f"The prompt version differs: {others[0]} (log: 1)" in notice
    assert "The context differs" not in notice
    assert tester.ideal_confirm.disabled
    assert alice.log(context_id).ideal_answer is None


def test_invalid_context_disables_run_and_says_why(alice, model, service, unique):
    """A context that is not a JSON object disables Run with the reason beside it; fixing it
    enables Run again and the message clears, so a click never does nothing visible."""
    tester, _ = _tester_on_log(alice, service, unique, 91)
    assert not tester.run_button.disabled
    good = tester.context.value
    tester.context.value = good.rstrip().rstrip("}") + ', "x": }'
    assert tester.run_button.disabled
    assert "not valid JSON" in tester.context_message.text
    assert "context" in tester.run_button.tooltip and "not valid JSON" in tester.run_button.tooltip
    tester.context.value = "[1, 2]"
    assert tester.run_button.disabled and "JSON object" in tester.context_message.text
    tester.context.value = good
    assert not tester.run_button.disabled and tester.run_button.tooltip == ""
    assert "not valid" not in tester.context_message.text
    assert "variable(s)" in tester.context_message.text
    assert tester.run().content  # and Run works again
    assert not tester.run_button.disabled

"""Publishing a draft as the prompt's next version (``s.publish``) through flow-prompt's own
client and the embedded ``lib/prompts`` stand-in, and ``s.prompt_history``, on the local
stack over HTTP. Each test publishes to a prompt id of its own, so seeded prompts never
change."""

from __future__ import annotations

import json
import threading

import pandas as pd
import pytest
import requests

import prompt_tester_nb as pt
from prompt_tester_nb.engine.flow_adapter import FlowPromptService
from prompt_tester_nb.fingerprint import draft_sha256
from prompt_tester_nb.gating import Verdict
from prompt_tester_nb.models import PROMPT_HISTORY_COLUMNS
from prompt_tester_nb.schema import env_prompt_key
from prompt_tester_nb.widgets import Tester
from tests.integration.test_lambda_gateway import alice_token, gateway, mallory_token  # noqa: F401
from tests.integration.test_lambda_gateway import call as gw_call
from tests.integration.test_server import call, jp_server_config, session_file, sign_in  # noqa: F401

pytest_plugins = ["pytest_jupyter.jupyter_server"]


def _draft(prompt_id: str, text: str, version: str | None = None) -> dict:
    return {
        "prompt_id": prompt_id,
        "max_tokens": 1000,
        "chats": [{"role": "system", "content": text}, {"role": "user", "content": "{q}"}],
        "version": version,
    }


def _verdict(draft: dict, passed: bool = True, **extra) -> Verdict:
    facts = {
        "passed": passed,
        "draft_sha256": draft_sha256(draft),
        "prompt_id": draft["prompt_id"],
        "experiment_id": f"exp-{draft_sha256(draft)[:8]}",
        **extra,
    }
    return Verdict(**facts)


def _put_log(service, env_id: str, prompt_id: str, version: str) -> str:
    ts = 1_500_000_000_123  # 2017: older than every seeded log
    service.log_store.put(
        {
            "env_id_prompt_id": env_prompt_key(env_id, prompt_id),
            "timestamp": ts,
            "env_id": env_id,
            "prompt_id": prompt_id,
            "version": version,
            "context": {"q": "where is my refund?"},
            "prompt": _draft(prompt_id, "old", version),
            "response": {"content": "soon"},
        }
    )
    return f"{prompt_id}#{ts}"


def test_a_passing_gate_publishes_and_the_version_loads(alice, bob, service, stack, unique):
    pid = f"publish-{unique}"
    first, second = _draft(pid, "Be brief."), _draft(pid, "Be brief and kind.")
    v1 = alice.publish(first, gate=_verdict(first), message="first cut")
    assert v1 == "1" and isinstance(v1, str)
    # a second publish of the same prompt is really sent (flow-prompt's per-prompt cache is
    # bypassed), and the version it was opened from (version=1) is not what is published
    second["version"] = v1
    v2 = alice.publish(second, pid, gate=_verdict(second), message="kinder")
    assert v2 == "2"
    assert pid not in FlowPromptService.cached_prompts  # the shared cache is neither read nor fed
    latest = bob.prompt(pid)  # a teammate sees it as the latest
    assert latest.version == "2" and latest.data["chats"][0]["content"] == "Be brief and kind."
    assert alice.prompt(pid, "1").data["chats"][0]["content"] == "Be brief."
    assert alice.prompt_versions(pid) == ["2", "1"]
    # and in the Tester: a log of the prompt opened at the new version
    context_id = _put_log(service, alice.env.env_id, pid, "1")
    assert alice.open_test(context_id, version=v2).prompt_data["chats"][0]["content"] == (
        "Be brief and kind."
    )
    tester = Tester(alice)
    tester.open_log(context_id, version=v2)
    assert tester.version.value == "2" and list(tester.version.options) == ["2", "1"]
    # republishing an old text does not roll back: the platform answers its latest version
    assert alice.publish(first, gate=_verdict(first)) == "2"
    assert alice.prompt_versions(pid) == ["2", "1"] and alice.prompt(pid).version == "2"
    # a version another flow-prompt client registered (not the Tester) has blanks
    token = service.api_token(alice.user, alice.env)
    other = requests.post(
        stack.flow_api.url + "lib/prompts",
        json={"prompt": _draft(pid, "Elsewhere."), "id": pid, "version": None},
        headers={"Authorization": f"Token {token}"},
        timeout=30,
    )
    assert other.status_code == 200 and other.json()["version"] == "3"
    history = bob.prompt_history(pid)
    assert list(history["version"]) == ["3", "2", "1"]
    assert tuple(history.columns) == PROMPT_HISTORY_COLUMNS
    rows = {r["version"]: r for r in history.to_dict("records")}
    assert rows["2"]["published_by"] == "alice@acme.example"
    assert rows["2"]["experiment_id"] == f"exp-{draft_sha256(second)[:8]}"
    assert (rows["2"]["message"], rows["2"]["passed"], rows["2"]["forced"]) == (
        "kinder",
        True,
        False,
    )
    assert rows["1"]["message"] == "first cut"
    assert pd.isna(rows["3"]["published_by"]) and pd.isna(rows["3"]["experiment_id"])
    assert all(r["created_at"] is not None for r in rows.values())
    # every publish is audited; the message's text is not
    events = [e for e in alice.audit(limit=50) if e.action == "prompt.publish"]
    assert [e.details["version"] for e in events[:3]] == ["2", "2", "1"]
    assert events[0].details["new_version"] is False and events[1].details["new_version"]
    assert "kinder" not in repr(events)
    # a seeded prompt's versions, published elsewhere, are all blank
    seeded = alice.prompt_history("classify-intent")
    assert len(seeded) and seeded["published_by"].isna().all()


def test_publishing_is_refused_unless_the_gate_passed_on_this_draft(alice, bob, unique):
    pid = f"refuse-{unique}"
    draft = _draft(pid, "Answer in one line.")
    assert alice.publish(draft, gate=_verdict(draft)) == "1"
    change = _draft(pid, "Answer in two lines.")
    other = _draft(pid, "Something else.")
    cases = [
        (pt.ValidationError, "did not pass", {"gate": _verdict(change, passed=False)}),
        (pt.ConflictError, "another draft", {"gate": _verdict(other)}),
        (pt.ConflictError, "prompt 'elsewhere'", {"gate": _verdict(change, prompt_id="elsewhere")}),
        (pt.ValidationError, "needs the gate", {}),
        (pt.ValidationError, "reason", {"gate": _verdict(other), "force": True}),
    ]
    for error, words, kwargs in cases:
        with pytest.raises(error, match=words) as caught:
            alice.publish(change, **kwargs)
        assert "Nothing was published" in str(caught.value) or words == "reason"
    # a member of the organisation may not publish, even with a passing gate
    with pytest.raises(pt.AccessDeniedError, match="role 'admin'"):
        bob.publish(change, gate=_verdict(change))
    assert alice.prompt_versions(pid) == ["1"] and alice.prompt(pid).version == "1"
    # force with a reason publishes all the same, audited with what it overrode
    forced = alice.publish(change, gate=_verdict(other), force=True, reason="hotfix, gate later")
    assert forced == "2"
    event = next(e for e in alice.audit(limit=20) if e.action == "prompt.publish")
    assert event.details["forced"] is True and event.details["reason"] == "hotfix, gate later"
    assert any("another draft" in words for words in event.details["overridden"])
    row = alice.prompt_history(pid).iloc[0]
    assert (row["version"], row["forced"], row["reason"]) == ("2", True, "hotfix, gate later")


def test_a_stored_experiment_is_a_gate_by_its_id(alice, unique):
    from prompt_tester_nb.replay import RunRecord

    pid = f"by-id-{unique}"
    draft, other = _draft(pid, "Gated by an experiment."), _draft(pid, "Not gated.")

    def stored(text_draft: dict, **header) -> str:
        record = RunRecord(
            env_id=alice.env.env_id, behaviour="default", behaviour_spec={}, draft=text_draft
        )
        return alice.experiments._store(record, name="gate", **header).experiment_id

    passed = stored(draft, gate={"passed": True, "policies": []})
    failed = stored(other, gate={"passed": False, "policies": []})
    with pytest.raises(pt.ValidationError, match=f"did not pass \\(experiment {failed}\\)"):
        alice.publish(other, gate=failed)
    with pytest.raises(pt.ConflictError, match="another draft"):
        alice.publish(other, gate=passed)
    with pytest.raises(pt.NotFoundError, match="no-such-experiment"):
        alice.publish(draft, gate="no-such-experiment")
    assert alice.prompt_versions(pid) == []
    assert alice.publish(draft, gate=passed, message="by id") == "1"
    row = alice.prompt_history(pid).iloc[0]
    assert (row["experiment_id"], row["passed"], row["message"]) == (passed, True, "by id")


def test_two_publishes_of_one_prompt_at_once_give_two_versions(alice, unique):
    pid = f"race-{unique}"
    drafts = [_draft(pid, f"Text {n}.") for n in range(2)]
    start = threading.Barrier(2)
    answers: list[str] = []
    errors: list[BaseException] = []

    def publish(draft: dict) -> None:
        start.wait(timeout=30)
        try:
            answers.append(alice.publish(draft, gate=_verdict(draft)))
        except BaseException as exc:  # collected, the assertion below names it
            errors.append(exc)

    threads = [threading.Thread(target=publish, args=(d,)) for d in drafts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    # two versions, or one refusal: never one version lost or overwritten
    assert len(answers) + len(errors) == 2
    assert all(isinstance(e, pt.ConflictError) for e in errors), errors
    assert len(set(answers)) == len(answers)
    assert sorted(alice.prompt_versions(pid)) == sorted(answers)
    texts = {alice.prompt(pid, v).data["chats"][0]["content"] for v in answers}
    assert len(texts) == len(answers)
    assert alice.prompt(pid).version == max(answers, key=int)
    history = alice.prompt_history(pid)
    assert set(history["published_by"]) == {"alice@acme.example"}
    # the record is written once: a second one for a version leaves the first as it was
    store = alice.service.publication_store
    first = store.for_prompt(alice.env.env_id, pid)[answers[0]]
    again = first.model_copy(update={"published_by": "someone@else.example", "message": "x"})
    assert store.add(again) is False
    assert store.for_prompt(alice.env.env_id, pid)[answers[0]] == first


# --------------------------------------------------------------------------- REST and Lambda


async def test_publish_over_rest(jp_fetch, stack, unique):
    cookie = await sign_in(jp_fetch, stack, "alice@acme.example")
    pid = f"rest-{unique}"
    base = ("prompt-tester", "api", "envs", "staging", "prompts", pid)
    draft = _draft(pid, "Over REST.")
    body = {"prompt_data": draft, "gate": _verdict(draft).model_dump(mode="json"), "message": "m"}
    code, data, _ = await call(jp_fetch, *base, "publish", method="POST", cookie=cookie, body=body)
    assert code == 201 and data == {"prompt_id": pid, "version": "1"}, data
    code, data, _ = await call(jp_fetch, *base, "history", cookie=cookie)
    assert code == 200 and data[0]["version"] == "1"
    assert data[0]["published_by"] == "alice@acme.example" and data[0]["message"] == "m"
    other = _draft(pid, "Another text.")
    for changed, status, field in (
        ({"gate": _verdict(other).model_dump(mode="json")}, 409, None),
        ({"gate": None}, 400, "gate"),
        ({"force": True}, 400, "reason"),
        ({"message": 3}, 400, "message"),
    ):
        code, data, _ = await call(
            jp_fetch, *base, "publish", method="POST", cookie=cookie, body={**body, **changed}
        )
        assert code == status and data.get("field") == field, (changed, data)
    response = await jp_fetch("prompt-tester", "api", "openapi.json")
    paths = json.loads(response.body)["paths"]
    assert "post" in paths["/prompt-tester/api/envs/{env}/prompts/{prompt_id}/publish"]
    assert "get" in paths["/prompt-tester/api/envs/{env}/prompts/{prompt_id}/history"]


def test_publish_through_the_lambda_gateway(gateway, alice_token, mallory_token, unique):  # noqa: F811
    pid = f"gw-{unique}"
    base = f"/envs/env-acme-staging/prompts/{pid}"
    draft = _draft(pid, "Through Lambda.")
    body = {"prompt_data": draft, "gate": _verdict(draft).model_dump(mode="json")}
    r = gw_call(gateway, "POST", f"{base}/publish", alice_token, json=body)
    assert r.status_code == 201 and r.json()["version"] == "1", r.text
    r = gw_call(gateway, "GET", f"{base}/history", alice_token)
    assert r.status_code == 200 and r.json()[0]["published_by"] == "alice@acme.example"
    r = gw_call(gateway, "POST", f"{base}/publish", mallory_token, json=body)
    assert r.status_code == 403


# --------------------------------------------------------------------------- the app


def test_the_compare_view_offers_publish_after_a_passing_comparison(alice, bob, unique):
    from types import SimpleNamespace

    from prompt_tester_nb.judging.compare import Comparison, PairVerdict

    pid = f"widget-{unique}"
    draft = _draft(pid, "From the Compare view.", version="7")
    run = SimpleNamespace(draft=draft)  # the candidate run: what the offer reads of it
    pairs = [
        PairVerdict(context_id=f"c{i}", repeat=0, candidate="a", baseline="b", verdict=v)
        for i, v in enumerate(["win"] * 12 + ["tie"] * 2)
    ]
    won = Comparison(judge=pt.scorers.pairwise("Which?"), baseline="production", pairs=pairs)
    even = won.model_copy(
        update={"pairs": pairs[:1] + [p.model_copy(update={"verdict": "loss"}) for p in pairs[1:3]]}
    )
    compare = pt.app(alice).compare
    compare._candidate_run = run
    for comparison, shown in ((even, False), (won, True)):
        compare.comparison = comparison
        compare._show(comparison)
        offer = compare.publish_offer
        assert (offer.layout.display != "none") is shown
    assert offer.button.description == "Publish as version 1"
    offer.button.click()
    confirm = offer.warning.value
    assert "Every flow-prompt client of <b>" + pid in confirm and "version <b>1</b>" in confirm
    assert alice.prompt_versions(pid) == []  # nothing is sent before the confirmation
    offer.message.value = "won 12 of 14"
    offer.confirm_button.click()
    assert offer.published == "1" and "Published version 1" in compare.messages.text
    assert alice.prompt(pid).data["chats"][0]["content"] == "From the Compare view."
    row = alice.prompt_history(pid).iloc[0]
    assert (row["published_by"], row["message"], row["passed"]) == (
        "alice@acme.example",
        "won 12 of 14",
        True,
    )
    # a member sees the offer, and the refusal in words; nothing is published
    member = pt.app(bob).compare
    member._candidate_run = SimpleNamespace(draft=_draft(pid, "Bob's text."))
    member.comparison = won
    member._show(won)
    member.publish_offer.button.click()
    member.publish_offer.confirm_button.click()
    assert "role 'admin'" in member.messages.text and alice.prompt_versions(pid) == ["1"]

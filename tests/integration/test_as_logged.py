"""The reserved behaviour ``as-logged``: each log runs on the model that served it.

Over the real local stack: the demo model server's request records say which deployment or
model each request went to, and the seeded production logs carry flow-prompt's
``metrics.ai_model_details`` and ``price_of_call``.
"""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from prompt_tester_nb.behaviour_spec import AS_LOGGED, logged_model_label
from prompt_tester_nb.errors import NotFoundError, ValidationError
from prompt_tester_nb.service.behaviours import logged_models
from prompt_tester_nb.stores.dynamo import serialize
from prompt_tester_nb.widgets import BehaviourEditor, Tester
from tests.conftest import password_of
from tests.integration.test_lambda import ACME_STAGING, handler, invoke, lambda_service  # noqa: F401
from tests.integration.test_server import call, jp_server_config, session_file, sign_in  # noqa: F401
from tests.support.lambda_support import claims_of, event

pytest_plugins = ["pytest_jupyter.jupyter_server"]

PROMPT = "support-reply"
SPEC = {"attempts": [{"ai_model": {"provider": "openai", "model": "m", "max_tokens": 4096}}]}
# An unchanged draft replayed as-logged costs what production cost within this share. The seed
# priced production with flow-prompt's price table and the answer's exact sample tokens, but
# counted prompt tokens as characters / 4 (+4 per message, +3), which runs ~5% above
# tiktoken's count for these English prompts; prompt tokens are a third to a half of a call's
# price, so the run comes out ~3% cheaper. 5% allows that and nothing like a model mix-up
# (gpt-4-turbo costs 67 times gpt-4o-mini per token, gpt-4o half of gpt-4-turbo).
COST_TOLERANCE = 0.05


def _label(entry) -> str | None:
    return logged_model_label((entry.metrics or {}).get("ai_model_details"))


@pytest.fixture(scope="module")
def production(stack, service):
    import prompt_tester_nb as pt

    email = "alice@acme.example"
    return pt.connect(
        email=email, password=password_of(stack, email), env="production", service=service
    )


@pytest.fixture(scope="module")
def same_version_logs(production) -> list:
    """~50 production logs of support-reply, all of one prompt version, with metrics."""
    entries = production.logs(prompt_id=PROMPT, limit=200).items
    version = Counter(e.version for e in entries if e.version).most_common(1)[0][0]
    chosen = [
        e for e in entries if e.version == version and _label(e) and e.source == "production"
    ][:50]
    assert len(chosen) == 50
    return chosen


def test_an_unchanged_draft_as_logged_costs_what_production_cost(
    production, same_version_logs, model
):
    chosen = same_version_logs
    draft = production.open_test(chosen[0].context_id).prompt_data
    model.clear_requests()
    # sent as production sent them: the seed leaves a variable out of a few logs on purpose,
    # and production called those with it unresolved
    run = production.replay(
        draft,
        behaviour=AS_LOGGED,
        context_ids=[e.context_id for e in chosen],
        progress=False,
        unresolved="send",
    )
    assert all(r.ok for r in run.rows), [r.error for r in run.rows if not r.ok]
    # each row ran on its log's model, named as a behaviour of that model would be
    assert [r.model for r in run.rows] == [_label(e) for e in chosen]
    assert [r.production_model for r in run.rows] == [_label(e) for e in chosen]
    assert len({r.model for r in run.rows}) >= 2  # the logs were served by several models
    # the model server saw each request go to the logged deployment or model
    sent = Counter(
        f"azure/westus/{q['model']}" if q["provider"] == "azure" else f"openai/{q['model']}"
        for q in model.requests()
    )
    assert sent == Counter(_label(e) for e in chosen)
    produced = sum(Decimal(str(e.metrics["price_of_call"])) for e in chosen)
    spent = Decimal(str(sum(r.price for r in run.rows)))
    ratio = float(spent / produced)
    print(f"production ${produced:.5f}, as-logged ${spent:.5f}, ratio {ratio:.4f}")
    assert abs(ratio - 1) <= COST_TOLERANCE, (produced, spent)
    assert run.behaviour == AS_LOGGED
    assert sorted(run.behaviour_spec[AS_LOGGED]) == sorted({r.model for r in run.rows})


def test_the_tester_as_logged_runs_that_logs_model(production, same_version_logs, model):
    entry = next(e for e in same_version_logs if _label(e) == "openai/gpt-4o-mini")
    draft = production.open_test(entry.context_id)
    model.clear_requests()
    result = production.test(
        draft.prompt_data, draft.context_data, behaviour=AS_LOGGED, context_id=entry.context_id
    )
    assert result.model == "openai/gpt-4o-mini"
    assert [(q["provider"], q["model"]) for q in model.requests()] == [("openai", "gpt-4o-mini")]
    with pytest.raises(ValidationError) as raised:
        production.test(draft.prompt_data, draft.context_data, behaviour=AS_LOGGED)
    assert raised.value.field == "context_id" and "context_id" in str(raised.value)


def test_a_log_without_model_details_fails_its_row_in_words(production, alice, model):
    entries = alice.logs(limit=500).items
    bare = next(e for e in entries if not _label(e))
    fine = next(e for e in entries if _label(e) and e.prompt_id == bare.prompt_id)
    draft = alice.open_test(fine.context_id).prompt_data
    run = alice.replay(
        draft,
        behaviour=AS_LOGGED,
        context_ids=[bare.context_id, fine.context_id],
        progress=False,
    )
    failed, ran = run.rows
    assert failed.error_kind == "no_model" and "ai_model_details" in failed.error_message
    assert "Traceback" not in failed.error_message and failed.price is None
    assert ran.ok and ran.model == _label(fine)
    with pytest.raises(ValidationError) as raised:  # the Tester says the same
        alice.test(draft, alice.open_test(bare.context_id).context_data, AS_LOGGED, bare.context_id)
    assert "ai_model_details" in raised.value.message
    tester = Tester(alice)  # the app preselects as-logged only for a log that names its model
    tester.open_log(fine.context_id)
    assert tester.behaviour == AS_LOGGED
    tester.open_log(bare.context_id)
    assert tester.behaviour == "default"


def test_as_logged_cannot_be_stored_and_a_foreign_one_is_shadowed(service, alice, production):
    for attempt in (
        lambda: alice.behaviours.create(AS_LOGGED, SPEC),
        lambda: alice.behaviours.update(AS_LOGGED, SPEC, 1),
        lambda: alice.behaviours.delete(AS_LOGGED),
    ):
        with pytest.raises(ValidationError) as raised:
            attempt()
        assert raised.value.field == "name" and "reserved" in raised.value.message
    with pytest.raises(NotFoundError, match="reserved and never stored"):
        alice.behaviours.get(AS_LOGGED)
    # another system writes a behaviour of that name straight into the table
    table = service.settings.table("Behaviours")
    env_id = alice.env.env_id
    item = {"env_id": env_id, "name": AS_LOGGED, "spec": SPEC, "version": 1}
    service.aws.dynamodb.put_item(TableName=table, Item=serialize(item))
    try:
        listed = {b.name: b for b in alice.behaviours.list()}
        assert listed[AS_LOGGED].shadowed and not listed["default"].shadowed
        editor = BehaviourEditor(alice)  # the Behaviours tab says so in words
        assert "shadowed: never used" in editor.table.value
        assert Tester(alice).behaviour_picker.options.count((AS_LOGGED, AS_LOGGED)) == 0
        assert alice.behaviours.get(AS_LOGGED).shadowed
        entry = next(e for e in alice.logs(prompt_id=PROMPT, limit=50).items if _label(e))
        draft = alice.open_test(entry.context_id)
        result = alice.test(draft.prompt_data, draft.context_data, AS_LOGGED, entry.context_id)
        assert result.model == _label(entry)  # the stored one is never used
    finally:
        service.aws.dynamodb.delete_item(
            TableName=table, Key={"env_id": {"S": env_id}, "name": {"S": AS_LOGGED}}
        )


def test_a_logged_model_gets_its_context_size(alice):
    scope = alice._service.scope(alice._who(), alice.env.env_id)
    spec_for = logged_models(scope)
    # the environment's behaviours say 128000 for these (the price table depends on it)
    assert spec_for("openai/gpt-4o-mini").max_tokens == 128_000
    turbo = spec_for("azure/westus/gpt-4-turbo")
    assert (turbo.realm, turbo.deployment, turbo.max_tokens) == ("westus", "gpt-4-turbo", 128_000)
    assert spec_for("openai/gpt-4").max_tokens == 4096  # flow-prompt's own size for gpt-4
    assert spec_for("azure/eastus/some-deployment").max_tokens == 128_000


def test_judges_need_a_stored_behaviour(alice):
    import prompt_tester_nb as pt

    entry = next(e for e in alice.logs(prompt_id=PROMPT, limit=20).items if _label(e))
    draft = alice.open_test(entry.context_id).prompt_data
    with pytest.raises(ValidationError) as raised:
        alice.replay(
            draft,
            context_ids=[entry.context_id],
            scorers=[pt.scorers.judge("Is it polite?", behaviour=AS_LOGGED)],
            progress=False,
        )
    assert "as-logged" in raised.value.message


# --------------------------------------------------------------------------- the app


def test_the_app_opened_on_a_log_runs_as_logged_and_says_when_models_differ(alice, model):
    import prompt_tester_nb as pt

    entries = [e for e in alice.logs(prompt_id=PROMPT, limit=100).items if e.source == "production"]
    mini = next(e for e in entries if _label(e) == "openai/gpt-4o-mini")
    app = pt.app(alice, context_id=mini.context_id)
    tester = app.tester
    assert tester.behaviour == AS_LOGGED  # preselected: the log's own model
    model.clear_requests()
    result = tester.run()
    assert result.model == "openai/gpt-4o-mini"
    assert [q["model"] for q in model.requests()] == ["gpt-4o-mini"]
    assert "Different models" not in tester.result.value
    tester.behaviour = "default"
    tester.run()
    assert (
        "Different models: production used gpt-4o-mini; this test gpt-4-turbo"
        in tester.result.value
    )
    # Replay (the Tester's behaviour) runs as-logged too: each row on its log's model
    tester.behaviour = AS_LOGGED
    app.replay.prompt_filter.value = PROMPT
    app.replay.limit.value = 6
    run = app.replay.run(wait=True)
    assert run.behaviour == AS_LOGGED and all(r.ok for r in run.rows)
    assert [r.model for r in run.rows] == [r.production_model for r in run.rows]
    assert run.summary()["models"] is None and "Different models" not in (
        app.replay.summary_view.value
    )
    # Compare's summary says when the baseline's models differ from the run's
    named = [e.context_id for e in entries if _label(e) == "openai/gpt-4o-mini"][:2]
    other = alice.replay(tester.prompt_data, context_ids=named, progress=False)
    assert other.summary()["models"] == (
        "production used gpt-4o-mini on 2 rows; this run gpt-4-turbo"
    )
    assert "different models" in other._repr_html_()
    app.replay._show_run(other)
    assert "Different models: production used gpt-4o-mini on 2 rows" in (
        app.replay.summary_view.value
    )
    judge = pt.scorers.pairwise("Which answer is more helpful?")
    c = alice.compare(other, judge=judge, progress=False)
    assert c.models == "production used gpt-4o-mini on 2 rows; this run gpt-4-turbo"
    assert c.summary()["models"] == c.models
    app.compare._show(c)
    assert "Different models: production used gpt-4o-mini on 2 rows" in (
        app.compare.summary_view.value
    )
    same = alice.compare(
        alice.replay(tester.prompt_data, behaviour=AS_LOGGED, context_ids=named, progress=False),
        judge=judge,
        progress=False,
    )
    assert same.models is None


# --------------------------------------------------------------------------- REST, Lambda


async def test_as_logged_over_rest(jp_fetch, stack, service, alice, model):
    cookie = await sign_in(jp_fetch, stack, "alice@acme.example")
    base = ("prompt-tester", "api", "envs", "staging")
    table = service.settings.table("Behaviours")
    key = {"env_id": alice.env.env_id, "name": AS_LOGGED}
    service.aws.dynamodb.put_item(TableName=table, Item=serialize({**key, "spec": SPEC}))
    try:
        code, listed, _ = await call(jp_fetch, *base, "behaviours", cookie=cookie)
        shadowed = {b["name"]: b["shadowed"] for b in listed}
        assert code == 200 and shadowed[AS_LOGGED] is True and shadowed["default"] is False
    finally:
        service.aws.dynamodb.delete_item(TableName=table, Key=serialize(key))
    for method, parts, body in (
        ("POST", ("behaviours",), {"name": AS_LOGGED, "spec": SPEC}),
        ("PUT", ("behaviours", AS_LOGGED), {"spec": SPEC, "version": 1}),
        ("DELETE", ("behaviours", AS_LOGGED), None),
    ):
        code, err, _ = await call(jp_fetch, *base, *parts, method=method, cookie=cookie, body=body)
        assert code == 400 and err["field"] == "name", (method, err)
    entry = next(e for e in alice.logs(prompt_id=PROMPT, limit=50).items if _label(e))
    draft = alice.open_test(entry.context_id)
    body: dict[str, Any] = {
        "prompt_data": draft.prompt_data,
        "context_data": draft.context_data,
        "behaviour": AS_LOGGED,
    }
    code, err, _ = await call(jp_fetch, *base, "test", method="POST", cookie=cookie, body=body)
    assert code == 400 and err["field"] == "context_id"
    model.clear_requests()
    code, result, _ = await call(
        jp_fetch,
        *base,
        "test",
        method="POST",
        cookie=cookie,
        body={**body, "context_id": entry.context_id},
    )
    assert code == 200 and result["model"] == _label(entry)
    assert len(model.requests()) == 1


def test_as_logged_over_lambda(invoke, alice, model):  # noqa: F811
    claims = claims_of(alice)
    for method, resource, params, body in (
        ("POST", "/envs/{env}/behaviours", {}, {"name": AS_LOGGED, "spec": SPEC}),
        ("PUT", "/envs/{env}/behaviours/{name}", {"name": AS_LOGGED}, {"spec": SPEC, "version": 1}),
        ("DELETE", "/envs/{env}/behaviours/{name}", {"name": AS_LOGGED}, None),
    ):
        status, err, _ = invoke(
            "behaviors_crud_handler",
            event(method, resource, {"env": ACME_STAGING, **params}, claims=claims, body=body),
        )
        assert status == 400 and err["field"] == "name", (method, err)
    entry = next(e for e in alice.logs(prompt_id=PROMPT, limit=50).items if _label(e))
    draft = alice.open_test(entry.context_id)
    model.clear_requests()
    status, result, _ = invoke(
        "ai_model_interaction_handler",
        event(
            "POST",
            "/envs/{env}/test",
            {"env": ACME_STAGING},
            body={
                "prompt_data": draft.prompt_data,
                "context_data": draft.context_data,
                "behaviour": AS_LOGGED,
                "context_id": entry.context_id,
            },
            claims=claims,
        ),
    )
    assert status == 200 and result["model"] == _label(entry), result
    assert json.dumps(result).count(AS_LOGGED) == 0  # the answer names the model, not the alias

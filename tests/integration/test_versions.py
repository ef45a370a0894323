"""Like for like (issue 32 §1): logs by prompt version, and a replay that sends no unresolved
variable. All over the real local stack and the demo model server, whose request records
prove that a skipped row made no model request.

The demo's situation: in staging, ``support-reply`` version 3 (the latest) uses
``{agent_name}``; its version-2 logs have no ``agent_name`` in their context.
"""

from __future__ import annotations

import json

import pytest

import prompt_tester_nb as pt
from prompt_tester_nb.engine.prepared import draft_variables
from prompt_tester_nb.engine.retry import RetryPolicy
from prompt_tester_nb.models import PromptData
from prompt_tester_nb.replay import UNRESOLVED, load_run
from prompt_tester_nb.service import scope as scope_module
from tests.integration.test_lambda import ACME_STAGING, invoke, lambda_service  # noqa: F401 (fixtures)
from tests.integration.test_server import call, jp_server_config, session_file, sign_in  # noqa: F401
from tests.support.lambda_support import claims_of, event

pytest_plugins = ["pytest_jupyter.jupyter_server"]

PROMPT = "support-reply"
FAST = RetryPolicy(max_retries=4, base_delay_s=0.01, max_delay_s=5.0, grow_every=10)
RUBRIC = "Greets the customer by first name, apologises for the trouble and gives the order id."


@pytest.fixture(scope="module")
def latest(alice) -> dict:
    """The latest version's draft: version 3, which uses ``{agent_name}``."""
    data = alice.prompt(PROMPT).data
    assert str(data["version"]) == "3"
    assert any("{agent_name}" in (c.get("content") or "") for c in data["chats"])
    return data


@pytest.fixture(scope="module")
def newest(alice) -> list[pt.LogEntry]:
    """The 100 newest production logs of the prompt (versions 2 and 3)."""
    return alice.logs(prompt_id=PROMPT, limit=100, source="production").items


def _replay(session, draft, **kwargs):
    kwargs.setdefault("progress", False)
    kwargs.setdefault("retry", FAST)
    return session.replay(draft, kwargs.pop("behaviour", "default"), **kwargs)


def _sent_texts(model) -> list[str]:
    return [
        " ".join(str(m.get("content")) for m in r["messages"] if isinstance(m, dict))
        for r in model.requests()
    ]


# --------------------------------------------------------------------------- listing


def test_logs_list_one_version(alice, newest):
    for version in (2, "3"):
        page = alice.logs(prompt_id=PROMPT, limit=100, source="production", version=version)
        expected = [e.context_id for e in newest if e.version == str(version)]
        assert [e.context_id for e in page.items][: len(expected)] == expected
        assert {e.version for e in page.items} == {str(version)}
    frame = alice.logs_frame(prompt_id=PROMPT, version=2, limit=30, progress=False)
    assert len(frame) == 30 and set(frame["version"]) == {"2"}
    assert alice.logs(prompt_id=PROMPT, version="99", limit=5).items == []


def test_paging_a_version_lists_each_log_once_and_keeps_the_bound(alice, monkeypatch):
    everything = alice.logs_frame(prompt_id=PROMPT, limit=120, progress=False)
    expected = [
        c for c, v in zip(everything["context_id"], everything["version"], strict=True) if v == "3"
    ]
    until = int(everything["timestamp"].iloc[0].timestamp() * 1000)
    since = int(everything["timestamp"].iloc[-1].timestamp() * 1000)
    ids: list[str] = []
    cursor = None
    for _ in range(200):  # a guard only
        page = alice.logs(
            prompt_id=PROMPT, since=since, until=until, limit=7, cursor=cursor, version=3
        )
        ids += [e.context_id for e in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert ids == expected
    with pytest.raises(pt.ValidationError) as caught:  # a cursor belongs to its filter
        first = alice.logs(prompt_id=PROMPT, limit=2, version=3)
        alice.logs(prompt_id=PROMPT, limit=2, version=2, cursor=first.next_cursor)
    assert caught.value.field == "cursor"
    # the one paging algorithm's bound: a page filtered by version reads at most
    # FILTERED_PAGE_READ logs (here its first read, of 50), so it comes back short
    # (version 2: the newest logs are never all of it, while other tests' Tester runs of the
    # latest version can fill the newest 50)
    monkeypatch.setattr(scope_module, "FILTERED_PAGE_READ", 5)
    unfiltered = alice.logs(prompt_id=PROMPT, limit=50).items
    short = alice.logs(prompt_id=PROMPT, limit=50, version=2)
    assert [e.context_id for e in short.items] == [
        e.context_id for e in unfiltered if e.version == "2"
    ]
    assert len(short.items) < 50 and short.next_cursor is not None


@pytest.mark.parametrize("bad", [0, True, "", "x" * 65, 2.5])
def test_a_bad_version_is_a_validation_error_naming_the_field(alice, latest, model, bad):
    model.clear_requests()
    for attempt in (
        lambda: alice.logs(prompt_id=PROMPT, version=bad),
        lambda: alice.logs_frame(prompt_id=PROMPT, version=bad, progress=False),
        lambda: _replay(alice, latest, version=bad, limit=1),
    ):
        with pytest.raises(pt.ValidationError) as caught:
            attempt()
        assert caught.value.field == "version"
    assert model.requests() == []


# --------------------------------------------------------------------------- replay


def test_a_replay_of_the_latest_version_sends_no_unresolved_variable(alice, latest, newest, model):
    lacking = [e.context_id for e in newest if "agent_name" not in (e.context or {})]
    # version 2's logs lack it (version 3's have it, but for the seed's odd logs, which
    # lack a variable on purpose)
    versions = [e.version for e in newest if e.context_id in lacking]
    assert lacking and versions.count("2") > len(versions) / 2
    variables = draft_variables(PromptData.model_validate(latest))
    odd = [  # the seed's odd logs lack another variable too (order_id, say)
        e.context_id
        for e in newest
        if e.context_id not in lacking and any(n not in (e.context or {}) for n in variables)
    ]
    not_sent = set(lacking) | set(odd)
    model.clear_requests()
    run = _replay(alice, latest, limit=100, scorers=[pt.scorers.similarity()])
    assert len(run.rows) == 100
    skipped = [r for r in run.rows if r.error_kind == UNRESOLVED]
    assert {r.context_id for r in skipped} == not_sent
    # no model request for them: every request the demo model saw names an agent
    sent = _sent_texts(model)
    assert len(sent) == 100 - len(not_sent)
    assert not any("{agent_name}" in text for text in sent)
    for row in skipped:
        assert row.result is None and row.price is None and row.estimated_cost == 0.0
        assert row.unresolved_variables and row.scores is None
        assert all(n in row.error_message for n in row.unresolved_variables)
        assert not row.ok and row.changed is None
    s = run.summary()
    assert s["unresolved"] == len(not_sent) == s["errors_by_kind"][UNRESOLVED]
    assert s["unresolved_by_variable"]["agent_name"] == len(lacking)
    assert s["succeeded"] == 100 - len(not_sent)
    assert s["scores"]["similarity"]["n"] == 100 - len(not_sent)
    est = run.estimate
    assert (est.unresolved, est.calls) == (len(not_sent), 100 - len(not_sent))
    assert est.unresolved_by_variable == s["unresolved_by_variable"]
    spent_on_skipped = sum(r.price or 0.0 for r in skipped) + sum(r.judge_cost for r in skipped)
    assert spent_on_skipped == 0.0
    frame = run.to_dataframe()
    by_id = dict(zip(frame["context_id"], frame["unresolved_variables"], strict=True))
    assert all("agent_name" in by_id[c] for c in lacking)
    assert all(v == [] for c, v in by_id.items() if c not in not_sent)
    assert {"2", "3"} <= set(frame["version"])
    # sent anyway (as before), the same rows cost money and answer with "{agent_name}"
    model.clear_requests()
    sent = _replay(alice, latest, context_ids=[r.context_id for r in skipped], unresolved="send")
    would_have_cost = sum(r.price or 0.0 for r in sent.rows)
    assert would_have_cost > 0 and sent.summary()["succeeded"] == len(skipped)
    assert sum("{agent_name}" in text for text in _sent_texts(model)) == len(lacking)
    print(
        f"100 newest support-reply logs: {len(skipped)} skipped ({len(lacking)} without"
        f" agent_name, versions {sorted({r.version for r in skipped})}),"
        f" {s['succeeded']} sent, ${spent_on_skipped:.5f} spent on the skipped,"
        f" ${s['total_cost']:.5f} in all; sent anyway they cost ${would_have_cost:.5f}"
    )


def _lacking_only_agent_name(latest: dict, newest: list, version: str, n: int) -> list[str]:
    """``n`` logs of ``version`` whose context lacks ``agent_name`` at most."""
    variables = set(draft_variables(PromptData.model_validate(latest)))
    return [
        e.context_id
        for e in newest
        if e.version == version and variables - set(e.context or {}) <= {"agent_name"}
    ][:n]


def test_defaults_fill_and_send_sends(alice, latest, newest, model):
    v2 = _lacking_only_agent_name(latest, newest, "2", 3)
    v3 = _lacking_only_agent_name(latest, newest, "3", 2)
    model.clear_requests()
    filled = _replay(alice, latest, context_ids=v2 + v3, defaults={"agent_name": "Sam Q."})
    assert filled.summary()["succeeded"] == 5 and filled.summary()["unresolved"] == 0
    assert all(r.unresolved_variables == [] for r in filled.rows)
    assert sum("Sam Q." in text for text in _sent_texts(model)) == 3  # v3 logs name their own
    assert filled.selection["defaults"] == {"agent_name": "Sam Q."}
    model.clear_requests()
    sent = _replay(alice, latest, context_ids=v2, unresolved="send")
    assert sent.summary()["succeeded"] == 3 and sent.summary()["unresolved"] == 0
    assert [r.unresolved_variables for r in sent.rows] == [["agent_name"]] * 3
    assert sum("{agent_name}" in text for text in _sent_texts(model)) == 3
    assert sent.estimate.unresolved == 0


def test_version_selects_the_replays_logs_by_query_and_by_id(alice, latest, newest, model):
    run = _replay(alice, latest, limit=10, version=3)
    assert len(run.rows) == 10 and {r.version for r in run.rows} == {"3"}
    assert run.summary()["succeeded"] == 10 and run.selection["version"] == "3"
    mixed = [e.context_id for e in newest[:12]]
    named = _replay(alice, latest, context_ids=mixed, version="3", dry_run=True)
    assert [r.context_id for r in named.rows] == [
        e.context_id for e in newest[:12] if e.version == "3"
    ]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"unresolved": "maybe"}, "unresolved"),
        ({"unresolved": None}, "unresolved"),
        ({"defaults": ["agent_name"]}, "defaults"),
        ({"defaults": {"agent_name": 3}}, "defaults.agent_name"),
        ({"defaults": {"": "x"}}, "defaults"),
    ],
)
def test_bad_unresolved_or_defaults_name_the_field(alice, latest, model, kwargs, field):
    model.clear_requests()
    with pytest.raises(pt.ValidationError) as caught:
        _replay(alice, latest, limit=1, **kwargs)
    assert caught.value.field == field
    assert model.requests() == []


def test_a_saved_run_keeps_what_rows_lacked_and_old_runs_still_load(
    alice, latest, newest, tmp_path
):
    ids = [e.context_id for e in newest[:6]]
    run = _replay(alice, latest, context_ids=ids)
    for name in ("run.json", "run.jsonl"):
        loaded = load_run(run.save(tmp_path / name))
        assert [r.unresolved_variables for r in loaded.rows] == [
            r.unresolved_variables for r in run.rows
        ]
        assert [r.version for r in loaded.rows] == [r.version for r in run.rows]
        assert loaded.summary()["unresolved"] == run.summary()["unresolved"]
        assert loaded.estimate == run.estimate
    # a run saved before these fields existed: no version, no unresolved_variables
    old = json.loads((tmp_path / "run.json").read_text())
    for row in old["rows"]:
        row.pop("version"), row.pop("unresolved_variables")
    for key in ("invalid", "unresolved_by_variable"):
        old["estimate"].pop(key)
    (tmp_path / "old.json").write_text(json.dumps(old))
    before = load_run(tmp_path / "old.json")
    assert all(r.unresolved_variables == [] and r.version is None for r in before.rows)
    assert before.estimate.unresolved_by_variable == {}
    assert list(before.to_dataframe()["unresolved_variables"]) == [[]] * len(ids)


def test_compare_says_how_many_baselines_are_of_another_version(alice, latest, newest, model):
    ids = _lacking_only_agent_name(latest, newest, "2", 3)
    ids += _lacking_only_agent_name(latest, newest, "3", 2)
    run = _replay(alice, latest, context_ids=ids, defaults={"agent_name": "Sam"})
    judge = pt.scorers.pairwise(RUBRIC, behaviour="judge")
    result = alice.compare(run, judge=judge, progress=False, retry=FAST)
    s = result.summary()
    assert (s["pairs"], s["other_version_baselines"], s["draft_version"]) == (5, 3, "3")
    assert "3 of 5 pairs have a baseline from another prompt version" in result._repr_html_()
    # a skipped row is never a pair
    skipping = _replay(alice, latest, context_ids=ids)
    result = alice.compare(skipping, judge=judge, progress=False, retry=FAST)
    assert (result.summary()["pairs"], result.skipped) == (2, 3)
    assert result.summary()["other_version_baselines"] == 0


# --------------------------------------------------------------------------- REST, Lambda


async def test_rest_log_listing_takes_version(jp_fetch, stack, newest):
    cookie = await sign_in(jp_fetch, stack, "alice@acme.example")
    base = ("prompt-tester", "api", "envs", "staging", "logs")
    params = {"prompt_id": PROMPT, "limit": "100", "source": "production", "version": "2"}
    code, page, _ = await call(jp_fetch, *base, cookie=cookie, params=params)
    assert code == 200, page
    expected = [e.context_id for e in newest if e.version == "2"]
    assert [i["context_id"] for i in page["items"]][: len(expected)] == expected
    assert {i["version"] for i in page["items"]} == {"2"}
    code, err, _ = await call(jp_fetch, *base, cookie=cookie, params={"version": "", "limit": "5"})
    assert code == 400 and err["field"] == "version"
    code, doc, _ = await call(jp_fetch, "prompt-tester", "api", "openapi.json", cookie=cookie)
    names = [
        p["name"] for p in doc["paths"]["/prompt-tester/api/envs/{env}/logs"]["get"]["parameters"]
    ]
    assert "version" in names


def test_lambda_logs_route_takes_version_as_rest_does(invoke, alice, newest):  # noqa: F811
    query = {"prompt_id": PROMPT, "limit": "100", "source": "production", "version": "3"}
    e = event(
        "GET", "/envs/{env}/logs", {"env": ACME_STAGING}, query=query, claims=claims_of(alice)
    )
    status, page, _ = invoke("logs_retrieval_handler", e)
    assert status == 200, page
    same = alice.logs(prompt_id=PROMPT, limit=100, source="production", version="3")
    assert page["items"] == [i.model_dump(mode="json") for i in same.items]
    assert {i["version"] for i in page["items"]} == {"3"}
    e = event(
        "GET",
        "/envs/{env}/logs",
        {"env": ACME_STAGING},
        query={"version": ""},
        claims=claims_of(alice),
    )
    status, data, _ = invoke("logs_retrieval_handler", e)
    assert status == 400 and data["field"] == "version"


# --------------------------------------------------------------------------- the app


def test_the_replay_tab_preselects_the_drafts_version_and_says_what_it_did_not_send(
    alice, newest, model
):
    from prompt_tester_nb.widgets.replay_tool import ALL_VERSIONS, DRAFT_VERSION

    v3 = next(e for e in newest if e.version == "3")
    app = pt.app(alice, context_id=v3.context_id)
    replay = app.replay
    assert replay.version_filter.value == DRAFT_VERSION and replay.selected_version() == "3"
    assert "version 2" in replay.version_filter.options
    replay.limit.value = 10
    run = replay.run(wait=True)
    assert {r.version for r in run.rows} == {"3"} and run.selection["version"] == "3"
    assert "agent_name" not in replay.unresolved_view.value
    assert {r["version"] for r in replay.grid.page_rows} == {"3"}
    assert set(replay.to_dataframe()["version"]) == {"3"}
    # all versions: the version-2 logs are not sent, and the tab says so in words
    replay.version_filter.value = ALL_VERSIONS
    replay.limit.value = 50
    model.clear_requests()
    run = replay.run(wait=True)
    lacking = [r for r in run.rows if "agent_name" in r.unresolved_variables]
    # version 2's logs (and maybe a seed's odd log of version 3, lacking it on purpose)
    v2 = sum(r.version == "2" for r in lacking)
    others = len(lacking) - v2
    assert lacking and v2 > others, [r.version for r in lacking]
    which = "version 2" if not others else f"version 2 ({v2}) and version 3 ({others})"
    said = f"{len(lacking)} of 50 logs lack agent_name: logs of {which}"
    assert said in replay.unresolved_view.value, replay.unresolved_view.value
    assert "unresolved" in replay.summary_view.value
    assert len(model.requests()) == run.summary()["succeeded"]
    assert {"2", "3"} <= {r["version"] for r in replay.grid.page_rows}
    print(f"the Replay tab said: {said}")
    # "Fill missing" is defaults=, the check box unresolved="send" (on version 2's logs)
    replay.version_filter.value = "version 2"
    replay.limit.value = 5
    replay.fill_missing.value = "agent_name"
    with pytest.raises(pt.ValidationError) as caught:
        replay.run(wait=True)
    assert caught.value.field == "defaults"
    replay.fill_missing.value = "agent_name=Sam Q."
    model.clear_requests()
    run = replay.run(wait=True)
    assert {r.version for r in run.rows} == {"2"} and run.selection["version"] == "2"
    assert not any("agent_name" in r.unresolved_variables for r in run.rows)
    assert run.selection["defaults"] == {"agent_name": "Sam Q."}
    assert sum("Sam Q." in text for text in _sent_texts(model)) == run.summary()["succeeded"]
    # the Compare tab: every pair's baseline is a version-2 answer, the draft is version 3
    app.compare.choose(candidate=run)
    compared = app.compare.run()
    assert compared.other_version == len(compared.pairs) > 0
    line = f"{len(compared.pairs)} of {len(compared.pairs)} pairs have a baseline from another"
    assert line in app.compare.summary_view.value, app.compare.summary_view.value
    replay.fill_missing.value = ""
    replay.send_unresolved.value = True
    run = replay.run(wait=True)
    assert run.summary()["unresolved"] == 0 and run.selection["unresolved"] == "send"
    sent = [r for r in run.rows if r.ok]
    assert sent and all("agent_name" in r.unresolved_variables for r in sent)

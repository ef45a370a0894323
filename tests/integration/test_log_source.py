"""Where a log came from (issue 18 §1): the product knows its Tester's logs from its own
TesterRuns records, never from a field of the Logs item, and every interface filters by it.

All over the real local stack: flow-prompt posts each Tester call to the ``lib/logs``
stand-in (which, like the platform's service may, writes no mark of its own), boto3 reads
moto's server, REST goes through pytest-jupyter's ``jp_fetch`` and Lambda through proxy events.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

import prompt_tester_nb as pt
from prompt_tester_nb.engine.platform_client import log_worker
from prompt_tester_nb.engine.prepared import draft_variables
from prompt_tester_nb.engine.retry import RetryPolicy
from prompt_tester_nb.ids import ContextId
from prompt_tester_nb.models import LogEntry, PromptData, TesterRun
from prompt_tester_nb.provision import init as provision
from prompt_tester_nb.schema import TABLES_BY_NAME, env_prompt_key
from prompt_tester_nb.service import draft_digest
from prompt_tester_nb.service import scope as scope_module
from prompt_tester_nb.stores.dynamo import deserialize
from tests.integration.test_lambda import ACME_STAGING, invoke, lambda_service  # noqa: F401 (fixtures)
from tests.integration.test_server import call, jp_server_config, session_file, sign_in  # noqa: F401
from tests.support.lambda_support import claims_of, event

pytest_plugins = ["pytest_jupyter.jupyter_server"]

FAST = RetryPolicy(max_retries=4, base_delay_s=0.01, max_delay_s=5.0, grow_every=10)
T_OLD = (
    1_600_000_000_000  # synthetic logs sit far in the past: newest-first readers never meet them
)
GUARD_S = 60  # a failure guard only


def _raw_log(service, env_id: str, prompt_id: str, ts: int) -> dict[str, Any] | None:
    item = service.aws.dynamodb.get_item(
        TableName=service.settings.table("Logs"),
        Key={
            "env_id_prompt_id": {"S": env_prompt_key(env_id, prompt_id)},
            "timestamp": {"N": str(ts)},
        },
    ).get("Item")
    return deserialize(item)


def _put_log(service, env_id: str, prompt_id: str, ts: int, context: dict, **extra) -> str:
    """A Logs item as another writer (the platform's service) leaves it."""
    service.log_store.put(
        {
            "env_id_prompt_id": env_prompt_key(env_id, prompt_id),
            "timestamp": ts,
            "env_id": env_id,
            "prompt_id": prompt_id,
            "context": context,
            "response": {"content": f"logged answer {ts}"},
            "metrics": {"latency": 10, "sample_tokens_used": 5},
            **extra,
        }
    )
    return str(ContextId(prompt_id, ts))


def _mark(service, env_id: str, prompt_id: str, ts: int) -> None:
    """A TesterRuns record, as ``s.test`` writes one (for logs made without a model call)."""
    service.tester_run_store.put(
        TesterRun(
            log_id=str(ContextId(prompt_id, ts)),
            env_id=env_id,
            prompt_id=prompt_id,
            timestamp=ts,
            user_id="u",
            behaviour="default",
            draft_sha256="0" * 64,
            recorded_at="2026-12-04T00:00:00.000+00:00",
        )
    )


@pytest.fixture(scope="module")
def world(alice, service, settings):
    """A prompt of its own (so its logs are only these): two real Tester runs through
    flow-prompt, three production logs, and one log whose item claims ``source:
    prompt-tester`` with no TesterRuns record (what a foreign writer could leave)."""
    env_id = alice.env.env_id
    # a production log whose context fills every variable of its version (the seed leaves one
    # out of a few logs on purpose, and a replay does not send those)
    opened = next(
        o
        for o in (
            alice.open_test(i.context_id)
            for i in alice.logs(prompt_id="support-reply", limit=50, source="production").items
            if i.version and i.context
        )
        if set(draft_variables(PromptData.model_validate(o.prompt_data))) <= set(o.context_data)
    )
    prompt_id = f"source-{uuid.uuid4().hex[:8]}"
    draft = {**opened.prompt_data, "prompt_id": prompt_id}
    context = dict(opened.context_data)
    results = [alice.test(draft, context, behaviour="default") for _ in range(2)]
    assert log_worker(settings.flow_prompt_api_uri).flush(GUARD_S)
    tester = [r.context_id for r in results]
    assert all(tester) and len(set(tester)) == 2
    production = [_put_log(service, env_id, prompt_id, T_OLD + i, context) for i in range(3)]
    claims = _put_log(service, env_id, prompt_id, T_OLD + 10, context, source="prompt-tester")
    return {
        "env_id": env_id,
        "prompt_id": prompt_id,
        "draft": draft,
        "context": context,
        "tester": tester,
        "production": production,
        "claims": claims,
        "results": results,
    }


# --------------------------------------------------------------------------- the mark


def test_a_tester_run_lists_as_prompt_tester_though_its_log_item_has_no_source(
    alice, service, world
):
    env_id, prompt_id = world["env_id"], world["prompt_id"]
    for cid, result in zip(world["tester"], world["results"], strict=True):
        cid_ = ContextId.parse(cid)
        item = _raw_log(service, env_id, prompt_id, cid_.timestamp)
        assert item is not None and item["response"]["content"] == result.content
        assert "source" not in item  # the stand-in marks nothing, as the platform may not
        assert alice.log(cid).source == "prompt-tester"
        # The product's own record: the log's key, who, when, behaviour, the draft's digest.
        run = service.tester_run_store.get(env_id, prompt_id, cid_.timestamp)
        assert run is not None
        assert (run.log_id, run.env_id, run.prompt_id) == (cid, env_id, prompt_id)
        assert (run.user_id, run.email) == (alice.user.user_id, alice.user.email)
        assert run.behaviour == "default" and run.recorded_at
        assert run.draft_sha256 == draft_digest(PromptData.model_validate(world["draft"]))
        assert run.version == str(world["draft"]["version"])
    everything = alice.logs(prompt_id=prompt_id, limit=50).items
    assert {e.context_id: e.source for e in everything} == {
        **dict.fromkeys(world["tester"], "prompt-tester"),
        **dict.fromkeys([*world["production"], world["claims"]], "production"),
    }


def test_the_log_items_own_source_field_decides_nothing(alice, world):
    # An item that says "prompt-tester" but has no TesterRuns record is production ...
    assert alice.log(world["claims"]).source == "production"
    tester_only = alice.logs(prompt_id=world["prompt_id"], source="prompt-tester").items
    assert [e.context_id for e in tester_only] == world["tester"][::-1]  # newest first
    production = alice.logs(prompt_id=world["prompt_id"], source="production").items
    assert {e.context_id for e in production} == {*world["production"], world["claims"]}
    assert {e.source for e in production} == {"production"}


def test_seeded_logs_list_as_production(alice, service):
    page = alice.logs(prompt_id="classify-intent", limit=100)
    for entry in page.items:
        recorded = service.tester_run_store.get(alice.env.env_id, entry.prompt_id, entry.timestamp)
        assert entry.source == ("production" if recorded is None else "prompt-tester")
    assert sum(e.source == "production" for e in page.items) >= 50  # the seed's, mostly


def test_frames_and_log_sets_carry_and_filter_the_source(alice, world):
    frame = alice.logs_frame(prompt_id=world["prompt_id"], progress=False)
    assert dict(zip(frame["context_id"], frame["source"], strict=True)) == {
        e.context_id: e.source for e in alice.logs(prompt_id=world["prompt_id"]).items
    }
    mine = alice.logs_frame(prompt_id=world["prompt_id"], source="prompt-tester", progress=False)
    assert sorted(mine["context_id"]) == sorted(world["tester"])
    two = alice.logs_frame(
        prompt_id=world["prompt_id"], source="production", limit=2, progress=False
    )
    assert len(two) == 2 and set(two["source"]) == {"production"}


@pytest.mark.parametrize("bad", ["Production", "tester", "", None, 3, ["all"]])
def test_a_bad_source_is_a_validation_error_naming_the_field(alice, world, bad):
    calls = [
        lambda: alice.logs(source=bad),
        lambda: alice.logs_frame(source=bad, progress=False),
    ]
    if bad is not None:  # replay's source=None is "not given" (the default, production)
        calls.append(lambda: alice.replay(world["draft"], source=bad, limit=1, progress=False))
    for attempt in calls:
        with pytest.raises(pt.ValidationError) as caught:
            attempt()
        assert caught.value.field == "source"
        assert "production" in caught.value.message and "all" in caught.value.message


# --------------------------------------------------------------------------- paging


@pytest.fixture(scope="module")
def paged(alice, service):
    """30 logs of a prompt of their own, every third one the Tester's (by record only)."""
    env_id = alice.env.env_id
    prompt_id = f"paging-{uuid.uuid4().hex[:8]}"
    base = T_OLD + 1_000_000
    stamps = [base + i for i in range(30)]
    for i, ts in enumerate(stamps):
        _put_log(service, env_id, prompt_id, ts, {"i": i})
        if i % 3 == 0:
            _mark(service, env_id, prompt_id, ts)
    tester = [str(ContextId(prompt_id, ts)) for i, ts in enumerate(stamps) if i % 3 == 0]
    production = [str(ContextId(prompt_id, ts)) for i, ts in enumerate(stamps) if i % 3]
    return {
        "prompt_id": prompt_id,
        "since": stamps[0],
        "until": stamps[-1],
        "tester": tester[::-1],
        "production": production[::-1],
    }


def _all_pages(session, limit: int, **query) -> tuple[list[str], list[int]]:
    ids: list[str] = []
    sizes: list[int] = []
    cursor = None
    for _ in range(100):  # a guard only
        page = session.logs(limit=limit, cursor=cursor, **query)
        ids += [e.context_id for e in page.items]
        sizes.append(len(page.items))
        assert all(e.source == query.get("source", e.source) for e in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return ids, sizes
    raise AssertionError("the cursor never ended")


@pytest.mark.parametrize("by_prompt", [True, False], ids=["by-prompt", "environment-index"])
@pytest.mark.parametrize("limit", [1, 4, 7, 50])
def test_paging_a_source_lists_each_of_its_logs_once_newest_first(alice, paged, by_prompt, limit):
    query: dict[str, Any] = {"since": paged["since"], "until": paged["until"]}
    if by_prompt:
        query["prompt_id"] = paged["prompt_id"]
    for source in ("prompt-tester", "production"):
        ids, sizes = _all_pages(alice, limit, source=source, **query)
        assert ids == paged["tester" if source == "prompt-tester" else "production"]
        assert max(sizes) <= limit
    ids, _ = _all_pages(alice, limit, **query)
    assert sorted(ids) == sorted(paged["tester"] + paged["production"])


def test_a_filtered_page_may_come_back_short_and_its_cursor_goes_on(alice, paged, monkeypatch):
    # Read at most 5 logs per request: pages are short (some empty), the cursor continues.
    monkeypatch.setattr(scope_module, "FILTERED_PAGE_READ", 5)
    query = {"prompt_id": paged["prompt_id"], "since": paged["since"], "until": paged["until"]}
    ids, sizes = _all_pages(alice, 4, source="prompt-tester", **query)
    assert ids == paged["tester"]
    assert min(sizes) < 4 and len(sizes) >= 3
    with pytest.raises(pt.ValidationError) as caught:  # a cursor belongs to its filter
        first = alice.logs(limit=2, source="production", **query)
        alice.logs(limit=2, source="prompt-tester", cursor=first.next_cursor, **query)
    assert caught.value.field == "cursor"


def test_a_log_set_page_filtered_by_source_reads_at_most_the_bound(
    alice, service, paged, monkeypatch
):
    # The log sets of logs_frame and replay page with the listing's algorithm and its bound:
    # with at most 5 logs read per filtered page, pages of 4 come back short (every third log
    # is the Tester's), the set still holds each of its logs once, newest first. Without the
    # bound a page was read on until it held 4: pages of 4, 4 and 2.
    monkeypatch.setattr(scope_module, "FILTERED_PAGE_READ", 5)
    scope = service.scope(alice.user, alice.env.env_id)
    pages = list(
        scope.log_pages(
            prompt_id=paged["prompt_id"],
            since_ms=paged["since"],
            until_ms=paged["until"],
            limit=100,
            first_page=4,
            page_size=4,
            source="prompt-tester",
            fields=None,
        )
    )
    assert [e.context_id for page in pages for e in page] == paged["tester"]
    assert all(0 < len(page) <= 4 for page in pages)
    assert len(pages) > 3 and min(len(page) for page in pages[:-1]) < 4
    monkeypatch.setattr(scope_module, "FILTERED_PAGE_READ", 1000)
    unbounded = scope.log_pages(
        prompt_id=paged["prompt_id"],
        since_ms=paged["since"],
        until_ms=paged["until"],
        limit=100,
        first_page=4,
        page_size=4,
        source="prompt-tester",
    )
    assert [len(page) for page in unbounded] == [4, 4, 2]


# --------------------------------------------------------------------------- replay, Compare


def test_replay_selects_production_logs_unless_all_is_asked_for(alice, world, model):
    run = alice.replay(world["draft"], limit=50, progress=False, retry=FAST)
    assert {r.context_id for r in run.rows} == {*world["production"], world["claims"]}
    assert {r.source for r in run.rows} == {"production"}
    assert run.selection["source"] == "production"
    everything = alice.replay(world["draft"], limit=50, progress=False, retry=FAST, source="all")
    by_id = {r.context_id: r for r in everything.rows}
    assert set(by_id) == {*world["tester"], *world["production"], world["claims"]}
    for cid, result in zip(world["tester"], world["results"], strict=True):
        # asked for explicitly: the Tester's logged answer is the row's baseline, and says so
        assert by_id[cid].source == "prompt-tester" and by_id[cid].production == result.content
    frame = everything.to_dataframe()
    assert dict(zip(frame["context_id"], frame["source"], strict=True)) == {
        cid: row.source for cid, row in by_id.items()
    }
    only = alice.replay(
        world["draft"], limit=50, progress=False, retry=FAST, source="prompt-tester"
    )
    assert sorted(r.context_id for r in only.rows) == sorted(world["tester"])


def test_context_ids_of_a_tester_log_run_and_the_row_says_so(alice, world, model, tmp_path):
    tester, production = world["tester"][0], world["production"][0]
    run = alice.replay(world["draft"], context_ids=[tester, production], progress=False, retry=FAST)
    rows = {r.context_id: r for r in run.rows}
    assert rows[tester].ok and rows[tester].source == "prompt-tester"
    # not a production answer: no baseline for this row unless the user asks for "all"
    assert rows[tester].production is None and rows[tester].similarity is None
    assert rows[production].source == "production" and rows[production].production
    frame = run.to_dataframe().set_index("context_id")
    assert frame.loc[tester, "source"] == "prompt-tester"
    # the mark survives saving and loading
    loaded = pt.load_run(run.save(tmp_path / "run.json"))
    assert {r.context_id: r.source for r in loaded.rows} == {
        tester: "prompt-tester",
        production: "production",
    }
    saved = json.loads(Path(tmp_path / "run.json").read_text())
    assert saved["selection"]["source"] == "production"
    judge = pt.scorers.pairwise("Which answer helps the customer more?", behaviour="judge")
    cmp = alice.compare(run, judge=judge, progress=False, retry=FAST)
    assert [p.context_id for p in cmp.pairs] == [production] and cmp.skipped == 1
    everything = alice.replay(
        world["draft"], context_ids=[tester, production], progress=False, retry=FAST, source="all"
    )
    assert {r.context_id: r.production for r in everything.rows}[tester] == world["results"][
        0
    ].content
    default = alice.compare(everything, judge=judge, progress=False, retry=FAST)
    assert [p.context_id for p in default.pairs] == [production]  # production's only
    both = alice.compare(everything, judge=judge, progress=False, retry=FAST, source="all")
    assert sorted(p.context_id for p in both.pairs) == sorted([tester, production])
    with pytest.raises(pt.ValidationError) as caught:
        alice.compare(everything, judge=judge, progress=False, source="nope")
    assert caught.value.field == "source"


# --------------------------------------------------------------------------- REST, Lambda


async def test_rest_log_listing_takes_source(jp_fetch, stack, world):
    cookie = await sign_in(jp_fetch, stack, "alice@acme.example")
    base = ("prompt-tester", "api", "envs", "staging", "logs")
    listed = {}
    for source in ("prompt-tester", "production", "all", None):
        params = {"prompt_id": world["prompt_id"], "limit": "50"}
        if source is not None:
            params["source"] = source
        code, page, _ = await call(jp_fetch, *base, cookie=cookie, params=params)
        assert code == 200, page
        listed[source] = {i["context_id"]: i["source"] for i in page["items"]}
    assert set(listed["prompt-tester"]) == set(world["tester"])
    assert set(listed["production"]) == {*world["production"], world["claims"]}
    assert listed["all"] == listed[None] == {**listed["prompt-tester"], **listed["production"]}
    code, log, _ = await call(jp_fetch, *base, world["tester"][0], cookie=cookie)
    assert code == 200 and log["source"] == "prompt-tester"
    code, err, _ = await call(
        jp_fetch, *base, cookie=cookie, params={"source": "tester", "limit": "5"}
    )
    assert code == 400 and err["field"] == "source"
    code, doc, _ = await call(jp_fetch, "prompt-tester", "api", "openapi.json", cookie=cookie)
    (param,) = [
        p
        for p in doc["paths"]["/prompt-tester/api/envs/{env}/logs"]["get"]["parameters"]
        if p["name"] == "source"
    ]
    assert param["schema"]["enum"] == ["production", "prompt-tester", "all"]


def test_lambda_logs_route_takes_source(invoke, alice, world):  # noqa: F811
    listed = {}
    for source in ("prompt-tester", "production", None):
        query = {"prompt_id": world["prompt_id"], "limit": "50"}
        if source is not None:
            query["source"] = source
        e = event(
            "GET", "/envs/{env}/logs", {"env": ACME_STAGING}, query=query, claims=claims_of(alice)
        )
        status, page, _ = invoke("logs_retrieval_handler", e)
        assert status == 200, page
        listed[source] = {i["context_id"]: i["source"] for i in page["items"]}
    assert set(listed["prompt-tester"]) == set(world["tester"])
    assert set(listed["production"]) == {*world["production"], world["claims"]}
    assert listed[None] == {**listed["prompt-tester"], **listed["production"]}
    e = event(
        "GET",
        "/envs/{env}/logs/{context_id}",
        {"env": ACME_STAGING, "context_id": world["tester"][1]},
        claims=claims_of(alice),
    )
    status, one, _ = invoke("logs_retrieval_handler", e)
    assert status == 200 and one["source"] == "prompt-tester"
    e = event(
        "GET",
        "/envs/{env}/logs",
        {"env": ACME_STAGING},
        query={"source": "everything"},
        claims=claims_of(alice),
    )
    status, data, _ = invoke("logs_retrieval_handler", e)
    assert status == 400 and data["field"] == "source"


# --------------------------------------------------------------------------- the table


def test_init_creates_the_tester_runs_table_under_the_configured_names(settings, service):
    prefix = f"t{uuid.uuid4().hex[:6]}-"
    mine = settings.model_copy(update={"table_prefix": prefix, "table_suffix": "-stage"})
    name = mine.table("TesterRuns")
    assert name == f"{prefix}TesterRuns-stage"
    actions = provision(mine)
    assert any(a.table == name and a.what == "created" for a in actions)
    table = service.aws.dynamodb.describe_table(TableName=name)["Table"]
    assert table["KeySchema"] == TABLES_BY_NAME["TesterRuns"].key_schema()
    assert table["KeySchema"] == TABLES_BY_NAME["Logs"].key_schema()  # keyed like its log
    again = provision(mine)
    assert [a.what for a in again if a.table == name] == ["already as the schema says"]
    for table_name in {mine.table(t) for t in TABLES_BY_NAME}:
        service.aws.dynamodb.delete_table(TableName=table_name)
    service.aws.s3.delete_bucket(Bucket=mine.experiments_bucket)


def test_the_template_declares_the_table_and_who_may_touch_it():
    from tests.integration.test_lambda_deploy import load_template

    resources = load_template()["Resources"]
    table = resources["TesterRunsTable"]["Properties"]
    assert table["TableName"] == {"Fn::Sub": "${TablePrefix}TesterRuns${TableSuffix}"}
    assert table["KeySchema"] == TABLES_BY_NAME["TesterRuns"].key_schema()
    grants: dict[str, set[str]] = {}
    for name, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"]["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                if {"Fn::GetAtt": ["TesterRunsTable", "Arn"]} in statement["Resource"]:
                    grants.setdefault(name, set()).update(statement["Action"])
    assert grants == {
        "LogsRetrievalRole": {"dynamodb:BatchGetItem"},  # reads the marks of a page
        "PromptTestingRole": {"dynamodb:BatchGetItem", "dynamodb:PutItem"},  # open + run
        "AIModelInteractionRole": {"dynamodb:PutItem"},  # runs, records
    }


def test_a_record_is_a_plain_item_keyed_like_its_log(service, world):
    cid = ContextId.parse(world["tester"][0])
    item = service.aws.dynamodb.get_item(
        TableName=service.settings.table("TesterRuns"),
        Key={
            "env_id_prompt_id": {"S": env_prompt_key(world["env_id"], cid.prompt_id)},
            "timestamp": {"N": str(cid.timestamp)},
        },
    )["Item"]
    data = deserialize(item)
    assert data["log_id"] == str(cid) and data["behaviour"] == "default"
    assert set(data) >= {"user_id", "email", "recorded_at", "draft_sha256", "env_id"}
    assert "context" not in data and "prompt" not in data  # a digest, never the draft


def test_a_log_entry_says_one_of_two_sources_and_nothing_else():
    entry = LogEntry(context_id="p#1", prompt_id="p", timestamp=1, env_id="e")
    assert entry.source == "production"  # until the service marks it from TesterRuns
    assert LogEntry(**{**entry.model_dump(), "source": "prompt-tester"}).source == "prompt-tester"
    with pytest.raises(ValueError, match="source"):
        LogEntry(**{**entry.model_dump(), "source": "web"})

"""Replaying a draft over a dataset on the local stack: the items' contexts, prompt versions and
baseline answers, as-logged on the items' own model details, items of other prompts counted
and named, the exact version read, and log-selection arguments refused beside ``dataset=``.

The request's checks and an item's row without the stack: ``tests/unit/
test_dataset_replay_request.py``.
"""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

import prompt_tester_nb as pt
from prompt_tester_nb.behaviour_spec import AS_LOGGED, logged_model_label
from prompt_tester_nb.engine.prepared import draft_variables
from prompt_tester_nb.models import PromptData
from prompt_tester_nb.replay import RetryPolicy

PROMPT = "support-reply"
OTHER = "summarize-call"
FAST = RetryPolicy(max_retries=4, base_delay_s=0.01, max_delay_s=5.0, grow_every=10)
BY_HAND = {"provider": "openai", "model": "gpt-4o-mini"}  # a frame row's model details


@pytest.fixture(scope="module")
def refunds(alice):
    """A dataset of three versions: 1 holds 4 production logs of the draft's prompt and one
    of another prompt, 2 adds 2 logs, 3 adds a row from a frame (no log) with an expected
    answer and model details but no production answer."""
    logs = [
        e
        for e in alice.logs(prompt_id=PROMPT, limit=100, source="production").items
        if e.version and e.context and logged_model_label((e.metrics or {}).get("ai_model_details"))
    ]
    version = Counter(e.version for e in logs).most_common(1)[0][0]
    draft = alice.open_test(next(e for e in logs if e.version == version).context_id).prompt_data
    variables = draft_variables(PromptData.model_validate(draft))
    ids = [
        e.context_id
        for e in logs
        if e.version == version and all(v in e.context for v in variables)
    ][:6]
    assert len(ids) == 6
    other = alice.logs(prompt_id=OTHER, limit=5, source="production").items[0]
    name = f"replay-{uuid.uuid4().hex[:8]}"
    alice.datasets.create(name, description="refund replies")
    alice.datasets.add_logs(name, [*ids[:4], other.context_id], expected="ideal_answer")
    alice.datasets.add_logs(name, ids[4:])
    row = {
        "context": {**next(e.context for e in logs if e.context_id == ids[0])},
        "prompt_id": PROMPT,
        "prompt_version": draft["version"],
        "expected": "A reply written by hand.",
        "model": BY_HAND,
    }
    latest = alice.datasets.add(name, [row])
    assert latest.version == 3 and len(latest.items) == 8
    return name, draft, other.prompt_id


def _replay(session, draft, **kwargs):
    kwargs.setdefault("progress", False)
    kwargs.setdefault("retry", FAST)
    kwargs.setdefault("unresolved", "send")  # the seed leaves a variable out of a few logs
    return session.replay(draft, **kwargs)


def test_a_replay_over_the_latest_version_runs_its_items_as_logged(alice, refunds, model):
    name, draft, other = refunds
    dataset = alice.datasets.get(name)
    items = [i for i in dataset.items if i.prompt_id == PROMPT]
    model.clear_requests()
    run = _replay(
        alice, draft, dataset=name, behaviour=AS_LOGGED, name="shorter greeting", note="v3"
    )
    assert all(r.ok for r in run.rows), [r.error for r in run.rows if not r.ok]
    # one row per item of the draft's prompt, in the dataset's order, with the item's inputs
    assert [r.item_id for r in run.rows] == [i.item_id for i in items]
    assert [r.context for r in run.rows] == [i.context for i in items]
    assert [r.version for r in run.rows] == [i.prompt_version for i in items]
    assert [r.context_id for r in run.rows] == [i.source_context_id or i.item_id for i in items]
    # the baseline: the item's production answer, else its expected one
    assert [r.production for r in run.rows] == [i.production or i.expected for i in items]
    by_hand = run.rows[-1]
    assert by_hand.production == by_hand.ideal == "A reply written by hand."
    assert by_hand.similarity is not None
    # as-logged runs each item on its copied model details (the frame row has no log at all)
    labels = [logged_model_label(i.model) for i in items]
    assert [r.model for r in run.rows] == [r.production_model for r in run.rows] == labels
    assert by_hand.model == "openai/gpt-4o-mini"
    sent = Counter(
        f"azure/westus/{q['model']}" if q["provider"] == "azure" else f"openai/{q['model']}"
        for q in model.requests()
    )
    assert sent == Counter(labels)
    # the selection names the exact version read, though the latest was asked for
    assert run.selection == {
        "dataset": name,
        "prompt_id": PROMPT,
        "unresolved": "send",
        "defaults": {},
        "dataset_version": 3,
        "dataset_id": run.selection["dataset_id"],
        "items": 7,
        "other_prompts": {other: 1},
    }
    assert len(run.selection["dataset_id"]) >= 16
    words = f"1 item of another prompt was not run (the draft is {PROMPT!r}): {other!r} (1)"
    assert run.summary()["other_prompts"] == words and words in repr(run)
    assert run.summary()["dataset"] == f"{name}@3"
    assert (run.name, run.note) == ("shorter greeting", "v3")
    assert list(run.to_dataframe()["item_id"]) == [i.item_id for i in items]
    # stored as an experiment as it ended: the team gets back exactly what was run
    assert run.experiment_id is not None and run.store_error is None
    stored = alice.experiments.get(run.experiment_id)
    assert stored == run and [r.item_id for r in stored.rows] == [i.item_id for i in items]
    header = _header(alice, name, run.experiment_id)
    assert (header.name, header.note, header.status, header.behaviour) == (
        "shorter greeting",
        "v3",
        "complete",
        AS_LOGGED,
    )
    assert (header.dataset, header.dataset_version, header.rows) == (name, 3, 7)


def _header(session, dataset: str, experiment_id: str) -> pt.ExperimentInfo:
    return next(
        e for e in session.experiments.list(dataset=dataset) if e.experiment_id == experiment_id
    )


def test_an_earlier_version_replays_exactly_what_it_held(alice, refunds, model):
    name, draft, other = refunds
    first = alice.datasets.get(f"{name}@1")
    mine = [i for i in first.items if i.prompt_id == PROMPT]
    model.clear_requests()
    run = _replay(alice, draft, dataset=f"{name}@1", concurrency=4)
    assert [r.item_id for r in run.rows] == [i.item_id for i in mine] and len(mine) == 4
    assert [r.production for r in run.rows] == [i.production for i in mine]
    assert all(r.ok for r in run.rows) and len(model.requests()) == 4
    assert (run.selection["dataset_version"], run.selection["items"]) == (1, 4)
    assert run.selection["other_prompts"] == {other: 1}
    assert _header(alice, name, run.experiment_id).dataset_version == 1
    # a dry run of version 2 plans its 6 items and calls nothing (and stores nothing)
    stored = len(alice.experiments.list(dataset=name))
    dry = _replay(alice, draft, dataset=f"{name}@2", dry_run=True, repeats=2)
    assert len(dry.rows) == 12 and {r.error_kind for r in dry.rows} == {"not_run"}
    assert dry.estimate.calls == 12 and dry.estimate.estimated_cost > 0
    assert len(model.requests()) == 4 and dry.experiment_id is None
    assert len(alice.experiments.list(dataset=name)) == stored


def test_a_cancelled_run_is_stored_incomplete_and_a_log_run_only_when_asked(alice, refunds, model):
    name, draft, _ = refunds

    def stop(phase, run):
        if phase == "planning":
            run.cancel()

    cancelled = _replay(alice, draft, dataset=name, on_phase=stop, name="stopped")
    assert cancelled.stopped_reason == "cancelled" and cancelled.experiment_id is not None
    assert _header(alice, name, cancelled.experiment_id).status == "incomplete"
    first = alice.datasets.get(f"{name}@1").items[0]
    logs = _replay(alice, draft, context_ids=[first.source_context_id])
    assert logs.experiment_id is None and all(r.item_id is None for r in logs.rows)
    experiment_id = logs.store(name="one log", note="by hand")
    assert logs.experiment_id == experiment_id
    back = alice.experiments.get(experiment_id)
    assert back == logs and (back.name, back.note) == ("one log", "by hand")
    assert back.selection.get("dataset") is None


def test_a_log_selection_beside_a_dataset_is_refused_and_nothing_runs(alice, refunds, model):
    name, draft, _ = refunds
    model.clear_requests()
    for given, field in [
        (
            {"context_ids": [alice.logs(prompt_id=PROMPT, limit=1).items[0].context_id]},
            "context_ids",
        ),
        ({"prompt_id": PROMPT}, "prompt_id"),
        ({"since": "2026-01-01"}, "since"),
        ({"version": draft["version"]}, "version"),
        ({"source": "all"}, "source"),
        ({"limit": 5}, "limit"),
        ({"name": 3}, "name"),
    ]:
        with pytest.raises(pt.ValidationError) as raised:
            _replay(alice, draft, dataset=name, **given)
        assert raised.value.field == field, given
    with pytest.raises(pt.NotFoundError, match=f"nothing-{name}"):
        _replay(alice, draft, dataset=f"nothing-{name}")
    with pytest.raises(pt.NotFoundError, match=f"{name}@9"):
        _replay(alice, draft, dataset=f"{name}@9")
    with pytest.raises(pt.ValidationError, match="no item of the draft's prompt") as raised:
        _replay(alice, draft, dataset=f"{name}@0")
    assert raised.value.field == "dataset"
    assert model.requests() == []

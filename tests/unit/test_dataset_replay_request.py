"""A replay over a dataset, without the stack: the request's checks, an item as the rows see
it, and what a run says of the items it did not run. (The runs themselves, on the local
stack: ``tests/integration/test_dataset_replay.py``.)"""

from __future__ import annotations

import json

import pytest

import prompt_tester_nb as pt
from prompt_tester_nb.models import DatasetItem
from prompt_tester_nb.replay import ItemEntry, ReplayRequest, ReplayRun
from prompt_tester_nb.replay.plan import new_row
from prompt_tester_nb.replay.request import LOG_LIMIT


def test_a_dataset_request_names_the_dataset_and_its_version():
    latest = ReplayRequest.build(dataset="refunds", name="shorter greeting", note="why")
    assert (latest.dataset, latest.dataset_version, latest.dataset_ref) == (
        "refunds",
        None,
        "refunds",
    )
    assert (latest.name, latest.note) == ("shorter greeting", "why")
    exact = ReplayRequest.build(dataset="refunds@2", repeats=3, behaviour="as-logged")
    assert (exact.dataset, exact.dataset_version, exact.dataset_ref) == ("refunds", 2, "refunds@2")
    assert exact.selection("support-reply") == {
        "dataset": "refunds",
        "prompt_id": "support-reply",
        "unresolved": "skip",
        "defaults": {},
    }
    # a log selection is as it was: 100 logs unless a limit is given
    logs = ReplayRequest.build()
    assert (logs.limit, logs.dataset, logs.dataset_ref, logs.name) == (LOG_LIMIT, None, None, "")
    assert logs.selection("p")["limit"] == 100 and "dataset" not in logs.selection("p")


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"context_ids": ["p#1"]}, "context_ids"),
        ({"prompt_id": "support-reply"}, "prompt_id"),
        ({"since": "2026-01-01"}, "since"),
        ({"until": "2026-01-01"}, "until"),
        ({"version": 3}, "version"),
        ({"source": "all"}, "source"),
        ({"source": "production"}, "source"),
        ({"limit": 100}, "limit"),
        ({"dataset": "has space"}, "dataset"),
        ({"dataset": "refunds@x"}, "dataset"),
        ({"dataset": "refunds@"}, "dataset"),
        ({"dataset": 3}, "dataset"),
        ({"dataset": "refunds", "name": 7}, "name"),
        ({"dataset": "refunds", "note": "x" * 5000}, "note"),
        ({"name": "x" * 201}, "name"),
    ],
)
def test_a_log_selection_beside_a_dataset_is_refused_naming_the_field(given, field):
    with pytest.raises(pt.ValidationError) as raised:
        ReplayRequest.build(**{"dataset": "refunds", **given})
    assert raised.value.field == field and str(raised.value).startswith(f"{field}:")


def _item(**fields) -> DatasetItem:
    base = {
        "item_id": "a1b2c3d4e5f60718",
        "context": {"customer": "Ann", "question": "refund?"},
        "prompt_id": "support-reply",
        "prompt_version": "3",
        "source_context_id": "support-reply#1790000000000",
        "expected": "the ideal answer",
        "production": "the logged answer",
        "model": {"provider": "openai", "model": "gpt-4o-mini"},
        "added_in": 1,
    }
    return DatasetItem(**{**base, **fields})


def test_an_item_runs_as_its_log_would_with_its_own_baseline_and_model():
    row = new_row(4, ItemEntry.of(_item(), "env-1"), repeat=1)
    assert (row.index, row.repeat, row.item_id, row.context_id) == (
        4,
        1,
        "a1b2c3d4e5f60718",
        "support-reply#1790000000000",
    )
    assert row.context == {"customer": "Ann", "question": "refund?"}
    assert (row.production, row.ideal, row.version) == (
        "the logged answer",
        "the ideal answer",
        "3",
    )
    assert row.production_model == "openai/gpt-4o-mini"  # as-logged reads it here
    assert row.production_sample_tokens is None  # counted from the answer for the estimate
    # no production answer: the expected one is the baseline; no log: the item id stands in
    bare = new_row(0, ItemEntry.of(_item(production=None, source_context_id=None, model=None), "e"))
    assert (bare.production, bare.context_id, bare.production_model) == (
        "the ideal answer",
        "a1b2c3d4e5f60718",
        None,
    )
    neither = new_row(0, ItemEntry.of(_item(production=None, expected=None), "e"))
    assert neither.production is None and neither.ideal is None


def test_a_dataset_run_says_what_it_did_not_run_and_saves_its_item_ids(tmp_path):
    run = ReplayRun(
        env_id="env-1",
        behaviour="default",
        behaviour_spec={},
        draft={"prompt_id": "support-reply"},
        selection={
            "dataset": "refunds",
            "dataset_version": 2,
            "dataset_id": "d1",
            "items": 1,
            "other_prompts": {"billing": 2, "refund-v0": 1},
        },
        name="shorter greeting",
        note="one line less",
    )
    run.rows.append(new_row(0, ItemEntry.of(_item(), "env-1")))
    run.rows[0].fail("not_run", "dry run: estimate only")
    words = (
        "3 items of other prompts were not run (the draft is 'support-reply'):"
        " 'billing' (2), 'refund-v0' (1)"
    )
    assert run.summary()["other_prompts"] == words and run.summary()["dataset"] == "refunds@2"
    assert words in repr(run) and "dataset='refunds@2'" in repr(run)
    assert "'shorter greeting'" in repr(run)
    shown = run._repr_html_()
    assert "refunds@2" in shown and "other prompts" in shown and "shorter greeting" in shown
    assert list(run.to_dataframe()["item_id"]) == ["a1b2c3d4e5f60718"]
    for name in ("r.json", "r.jsonl"):
        again = pt.load_run(run.save(tmp_path / name))
        assert again == run and again.rows[0].item_id == "a1b2c3d4e5f60718"
        assert (again.name, again.note) == ("shorter greeting", "one line less")
    head = json.loads((tmp_path / "r.jsonl").read_text().splitlines()[0])
    assert head["selection"]["other_prompts"] == {"billing": 2, "refund-v0": 1}
    # a run from a file has no session to store it in
    assert again.experiment_id is None
    with pytest.raises(pt.ValidationError, match="not started from a session") as raised:
        again.store(name="x")
    assert raised.value.field == "run"


def test_store_calls_the_sessions_storer_with_the_name_and_note():
    stored: list[tuple] = []

    class Info:
        experiment_id = "exp-1"

    def storer(run, *, name, note):
        stored.append((run, name, note))
        return Info()

    run = ReplayRun(env_id="e", behaviour="b", behaviour_spec={}, draft={}, name="first")
    run.storer = storer
    assert run.store(note="kept") == "exp-1" and run.experiment_id == "exp-1"
    assert "stored as experiment exp-1" in repr(run)
    assert stored == [(run, "first", "kept")] and run.note == "kept"
    with pytest.raises(pt.ValidationError) as raised:
        run.store(name=["not text"])
    assert raised.value.field == "name" and len(stored) == 1
    # a run over a dataset stores itself as it ends; a failure is kept and said, not raised
    failing = ReplayRun(env_id="e", behaviour="b", behaviour_spec={}, draft={})

    def broken(run, *, name, note):
        raise pt.StoreError("S3 said no")

    failing.storer, failing.store_on_finish = broken, True
    failing.begin()
    with pytest.warns(UserWarning, match="S3 said no"):
        failing.finish()
    assert failing.done and failing.experiment_id is None
    assert isinstance(failing.store_error, pt.StoreError)
    failing.storer = storer
    assert failing.store() == "exp-1" and failing.store_error is None


def test_items_lacking_a_variable_are_counted_as_items():
    from prompt_tester_nb.display.runs import unresolved_lines
    from prompt_tester_nb.replay.plan import unresolved_message

    run = ReplayRun(env_id="e", behaviour="b", behaviour_spec={}, draft={})
    for i, item_id in enumerate(("a" * 16, "b" * 16)):
        # two items of one log (added twice) are two items
        row = new_row(i, ItemEntry.of(_item(item_id=item_id), "e"))
        run.rows.append(row)
    run.rows[0].fail("unresolved", unresolved_message(["agent_name"], "item"))
    run.rows[0].unresolved_variables = ["agent_name"]
    assert unresolved_lines(run) == ["1 of 2 items lack agent_name: items of version 3"]
    assert run.rows[0].error_message.startswith("not sent: the item's context lacks {agent_name}")

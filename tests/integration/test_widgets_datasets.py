"""The Datasets tab and "Add to dataset" (Logs tab, a replay's grid), driven the way clicks
drive them, without a browser, against the suite's local stack."""

from __future__ import annotations

import ipywidgets
import pytest

import prompt_tester_nb as pt
from prompt_tester_nb.widgets.app import TABS
from prompt_tester_nb.widgets.dataset_rows import context_cell
from prompt_tester_nb.widgets.replay_options import DATASET, LOGS
from prompt_tester_nb.widgets.replay_tool import EMPTY
from tests.integration.test_log_source import _mark, _put_log


def click(button: ipywidgets.Button) -> None:
    assert not button.disabled, f"{button.description} is disabled"
    button.click()


@pytest.fixture(scope="module")
def app(alice):
    return pt.app(alice)


def test_add_to_dataset_from_the_logs_grid_and_the_datasets_tab(app, alice, service, unique):
    logs, tab = app.logs, app.datasets
    adder = logs.add_to_dataset
    assert adder.button.disabled and "select rows" in adder.count.value
    # the seeded prompt's logs (earlier tests add logs and prompts of their own)
    logs.source_filter.value = "production"
    logs.prompt_filter.value = "support-reply"
    production = [e for e in logs.page.items if e.context and e.source == "production"][:3]
    assert len(production) == 3
    keys = logs.grid.page_keys
    # two rows selected in the browser (a click, then a Ctrl-click)
    logs.table.selected_rows = sorted(keys.index(e.context_id) for e in production[:2])
    assert {e.context_id for e in logs.selected_logs} == {e.context_id for e in production[:2]}
    assert logs.selected is not None  # the first one's detail is shown
    assert not adder.button.disabled and "2 log(s) selected" in adder.count.value
    click(adder.button)
    assert adder.form.layout.display == ""
    name = f"ui-{unique}"
    adder.name.value = name  # a new name: the description is asked for
    assert adder.description.layout.display == "" and "will be created" in adder.new_note.value
    adder.description.value = "two logs from the grid"
    adder.expected.value = "production"
    click(adder.confirm)
    said = adder.messages.text
    assert f"Created '{name}' and added 2 log(s): now version 1 (2 item(s))" in said, said
    assert adder.form.layout.display == "none"
    # the Datasets tab lists it (told by the add); a click there on its row opens it, and so
    # does the button beside what the add said
    assert name in tab.grid.row_keys and tab.dataset is None
    row = tab.grid.page_rows[tab.grid.row_keys.index(name)]
    assert (row["version"], row["items"], row["description"]) == (
        "1",
        "2",
        "two logs from the grid",
    )
    assert row["updated by"] and row["updated (UTC)"]
    tab.grid.table.selected_rows = [tab.grid.row_keys.index(name)]
    ds = tab.dataset
    assert ds is not None and (ds.name, ds.version, len(ds.items)) == (name, 1, 2)
    tab.grid.table.selected_rows = []
    assert tab.dataset is None and tab.items_grid.row_keys == []
    click(adder.show_button)
    assert app.tabs.selected_index == TABS.index("Datasets") and tab.dataset.name == name
    assert tab.grid.selected_key == name
    assert tab.version.options == (("1 (latest)", 1), ("0", 0))
    cells = tab.items_grid.page_rows
    assert list(cells[0]) == [
        "item",
        "prompt@version",
        "context (variables)",
        "expected answer",
        "production's answer",
        "added in version",
        "added (UTC), by",
    ]
    by_log = {i.source_context_id: i for i in ds.items}
    first = by_log[production[0].context_id]
    cell = cells[tab.items_grid.row_keys.index(first.item_id)]
    assert cell["prompt@version"] == f"{production[0].prompt_id}@{production[0].version}"
    assert cell["context (variables)"] == context_cell(production[0].context)
    key = next(iter(production[0].context))
    assert cell["context (variables)"].startswith(f"{key}: ")  # data, not a JSON object
    assert (
        cell["expected answer"] == cell["production's answer"] and cell["added in version"] == "1"
    )
    # the same two and a third: one added, two counted as already in
    logs.select_many([e.context_id for e in production])
    click(adder.button)
    assert name in adder.name.options
    adder.name.value = name
    assert adder.description.layout.display == "none"
    adder.expected.value = None
    click(adder.confirm)
    said = adder.messages.text
    assert f"Added 1 log(s) to '{name}', 2 already in: now version 2 (3 item(s))" in said, said
    assert tab.dataset.version == 2 and len(tab.items_grid.row_keys) == 3  # refreshed
    # an item's detail: answers in boxes, the context as key/value rows, its log a click away
    tab.select_items([first.item_id])
    assert 'class="pt-kv"' in tab.detail.value and first.source_context_id in tab.detail.value
    # remove two selected items: a new version, the earlier one still holds them
    gone = tab.items_grid.row_keys[:2]
    tab.items_table.selected_rows = [0, 1]
    assert not tab.remove_button.disabled and "2 item(s) selected" in tab.selection_note.value
    click(tab.remove_button)
    assert "Removed 2 item(s)" in tab.messages.text and "now version 3" in tab.messages.text
    assert len(tab.items_grid.row_keys) == 1 and tab.version.value == 3
    tab.version.value = 2  # the picker: the dataset as it was
    assert tab.dataset.version == 2 and set(gone) <= set(tab.items_grid.row_keys)
    assert "an earlier version" in tab.version_note.value
    tab.refresh()  # the tab shown again: an earlier version stays as it is
    assert tab.dataset.version == 2 and tab.version.options[0] == ("3 (latest)", 3)
    tab.items_table.selected_rows = [0]
    assert tab.remove_button.disabled  # changes go to the latest
    # the Tester's own logs are refused unless the box says so, in the form's words
    env_id, prompt_id, ts = alice.env.env_id, f"ui-src-{unique}", 1_790_000_000_000
    mine = _put_log(service, env_id, prompt_id, ts, {"q": "from the Tester"})
    _mark(service, env_id, prompt_id, ts)
    logs.select(mine)
    other = f"ui-tester-{unique}"
    adder.add(other)
    said = adder.messages.text
    assert "a log the Tester made" in said and "also the Tester's own logs" in said, said
    assert "source=" not in said and "(nothing was created)" in said
    assert other not in {d.name for d in alice.datasets.list()}
    ds = adder.add(other, expected=None, include_tester=True)
    assert ds.added == 1 and f"Created '{other}'" in adder.messages.text
    # New dataset: a bad name and a taken one are said in words; a good one is shown, empty
    click(tab.new_button)
    tab.new_name.value = "has@sign"
    click(tab.create_button)
    assert "⚠" in tab.messages.value and "name" in tab.messages.text
    assert "Traceback" not in tab.output.outputs.__repr__()
    tab.new_name.value = name
    click(tab.create_button)
    assert name in tab.messages.text and "⚠" in tab.messages.value  # taken
    fresh = f"ui-new-{unique}"
    tab.new_name.value, tab.new_description.value = fresh, "made in the tab"
    click(tab.create_button)
    assert tab.dataset.name == fresh and tab.dataset.version == 0
    assert "Add to dataset" in tab.messages.text and tab.new_form.layout.display == "none"
    # delete asks first, beside the button; Yes deletes
    click(tab.delete_button)
    assert tab.confirm_box.layout.display == "" and fresh in tab.confirm_label.value
    assert fresh in {d.name for d in alice.datasets.list()}
    click(tab.confirm_yes)
    assert fresh not in tab.grid.row_keys and tab.dataset is None
    assert f"Deleted '{fresh}'" in tab.messages.text
    for kept in (name, other):
        alice.datasets.delete(kept)


def test_add_to_dataset_from_a_replays_grid(app, alice, model, unique):
    entry = next(
        i for i in alice.logs(prompt_id="support-reply", limit=20).items if i.version and i.context
    )
    app.open_test(entry.context_id)
    replay = app.replay
    replay.limit.value = 3
    replay.set_scorers([])
    run = replay.run(wait=True)
    assert len(run.rows) == 3
    adder = replay.add_to_dataset
    assert adder.button.disabled
    keys = replay.grid.row_keys[:2]
    replay.select_rows(keys)
    assert "2 log(s) selected" in adder.count.value
    name = f"ui-replay-{unique}"
    ds = adder.add(name, expected="ideal_answer")
    assert ds is not None and ds.added == 2
    assert {i.source_context_id for i in ds.items} == {k[0] for k in keys}
    assert "now version 1" in adder.messages.text
    assert name in app.datasets.grid.row_keys
    alice.datasets.delete(name)


def test_the_replay_tab_runs_on_a_dataset_with_a_name_and_a_note(app, alice, model, unique):
    entries = [
        e
        for e in alice.logs(prompt_id="support-reply", limit=20, source="production").items
        if e.version and e.context
    ][:2]
    name = f"ui-run-{unique}"
    alice.datasets.create(name)
    alice.datasets.add_logs(name, [e.context_id for e in entries])
    app.open_test(entries[0].context_id)
    # from the Datasets tab, the next step: the Replay tab set on this dataset and version
    app.datasets.open_dataset(name)
    click(app.datasets.replay_button)
    replay = app.replay
    assert app.tabs.selected_index == TABS.index("Replay")
    assert (replay.source.value, replay.dataset_name.value) == (DATASET, name)
    assert replay.logs_box.layout.display == "none" and replay.dataset_box.layout.display == ""
    assert replay.limit.layout.display == "none"
    assert replay.dataset_version.options[0] == ("1 (latest)", 1)
    assert replay.dataset_version.value == 1
    replay.set_scorers([])
    replay.run_name.value, replay.run_note.value = "same draft", "a baseline for the team"
    run = replay.run(wait=True)
    assert len(run.rows) == 2 and run.experiment_id
    said = replay.messages.text
    assert f"stored as experiment {run.experiment_id} ('same draft')" in said, said
    stored = [
        e for e in alice.experiments.list(dataset=name) if e.experiment_id == run.experiment_id
    ]
    assert stored and stored[0].name == "same draft" and stored[0].note == "a baseline for the team"
    # version 0 held nothing: the click says so in words, the grid does not say it is running
    replay.dataset_version.value = 0
    click(replay.run_button)
    said = replay.messages.text
    assert "⚠" in replay.messages.value and f"{name}@0 holds no item" in said, said
    assert replay.grid.empty == EMPTY and not replay.run_button.disabled
    # back to logs: the log query's controls again, and a dataset is no longer asked for
    replay.source.value = LOGS
    assert replay.selected_dataset() is None and replay.logs_box.layout.display == ""
    for experiment in alice.experiments.list(dataset=name):
        alice.experiments.delete(experiment.experiment_id)
    alice.datasets.delete(name)

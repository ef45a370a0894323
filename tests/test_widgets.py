"""The widgets, driven the way clicks drive them, without a browser (ipywidgets' own way)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import ipywidgets
import pytest

import prompt_tester_nb as pt
from prompt_tester_nb.widgets import BehaviourEditor, LogBrowser, SecretsForm, Tester
from tests import attacks


def click(button: ipywidgets.Button) -> None:
    assert not button.disabled, f"{button.description} is disabled"
    button.click()


def test_app_opens_on_a_log_with_the_tester_loaded(alice):
    entry = next(i for i in alice.logs(limit=50).items if i.version and i.context)
    app = pt.app(alice, context_id=entry.context_id)
    assert app.tabs.selected_index == 1
    assert app.tester.context_data == entry.context
    assert app.tester.prompt_data["version"] == entry.version
    assert app.tester.version.value == entry.version
    assert entry.context_id in app.tester.title.value
    assert repr(app).startswith("<PromptTesterApp env='staging'")
    other = alice.prompt_versions(entry.prompt_id)[-1]
    pinned = pt.app(alice, context_id=entry.context_id, prompt_id=entry.prompt_id, version=other)
    assert pinned.tester.prompt_data["version"] == other


def test_log_browser_pages_filters_and_opens_the_tester(alice):
    app = pt.app(alice)
    logs: LogBrowser = app.logs
    assert (
        len(logs.table.options) == 50
        and logs.prev_button.disabled
        and not logs.next_button.disabled
    )
    first = [v for _, v in logs.table.options]
    click(logs.next_button)
    second = [v for _, v in logs.table.options]
    assert not set(first) & set(second) and "Page 2" in logs.page_label.value
    click(logs.prev_button)
    assert [v for _, v in logs.table.options] == first
    prompt_id = logs.prompt_filter.options[1]
    logs.prompt_filter.value = prompt_id
    logs.page_size.value = 25
    click(logs.refresh_button)
    assert all(logs._by_id[v].prompt_id == prompt_id for _, v in logs.table.options)
    newest = logs.page.items[0]
    logs.until.value = datetime.fromtimestamp(newest.timestamp / 1000 - 1, tz=UTC)
    click(logs.refresh_button)
    assert newest.context_id not in [v for _, v in logs.table.options]
    logs.until.value = None
    click(logs.refresh_button)
    logs.table.value = logs.table.options[3][1]
    assert "<b>Context</b>" in logs.detail.value and not logs.test_button.disabled
    chosen = logs.selected
    click(logs.test_button)
    assert app.tabs.selected_index == 1
    assert app.tester.context_data == chosen.context
    assert app.tester.source_log.context_id == chosen.context_id


def test_tester_edits_runs_and_compares(alice, model):
    entry = next(i for i in alice.logs(limit=50).items if i.version and i.context)
    tester = Tester(alice)
    tester.open_log(entry.context_id)
    rows = tester.rows.children
    assert [r.to_chat()["content"] for r in rows] == [
        c["content"] for c in tester.prompt_data["chats"]
    ]
    # edit: change the last chat, add one, move it up, remove it again
    rows[-1].content.value = "Summarise {thing} in one line"
    row = tester.add_chat("user", "extra {unknown_var}")
    tester.move_chat(row, -1)
    assert tester.rows.children[-2] is row
    tester.remove_chat(row)
    assert row not in tester.rows.children
    tester.context.value = json.dumps({**entry.context, "thing": "the order"})
    assert "variable" in tester.context_message.value
    tester.context.value = "{not json"
    assert "not valid JSON" in tester.context_message.text
    with pytest.raises(pt.ValidationError):
        tester.run()
    tester.context_data = {**entry.context, "thing": "the order"}
    tester.behaviour = "default"
    result = tester.run()
    assert result.content.startswith("[demo model gpt-4-turbo]")
    assert "Summarise the order in one line" in model.requests()[-1]["messages"][-1]["content"]
    assert "This test" in tester.comparison.value and "Logged answer" in tester.comparison.value
    assert "Differences" in tester.diff.value
    assert "azure/westus/gpt-4-turbo" in tester.result.value
    assert not tester.run_button.disabled and tester.run_button.description == "Run"
    # unresolved variables are called out
    tester.rows.children[-1].content.value = "Tell {nobody} about it"
    tester.run()
    assert "{nobody}" in tester.result.value and "Not in the context" in tester.result.value
    # raw JSON view applies to the chats; bad JSON keeps the chats
    tester.prompt_tabs.selected_index = 1
    raw = json.loads(tester.raw.value)
    raw["chats"].append({"role": "user", "content": "appended in raw"})
    tester.raw.value = json.dumps(raw)
    assert tester.rows.children[-1].content.value == "appended in raw"
    tester.raw.value = "{oops"
    assert "Not valid JSON" in tester.raw_message.text
    assert tester.rows.children[-1].content.value == "appended in raw"
    # another version, while the chats are edited, asks first: keeping the edits changes nothing
    versions = alice.prompt_versions(entry.prompt_id)
    before = tester.prompt_data
    other = next(v for v in versions if v != tester.version.value)  # a real switch
    tester.version.value = other
    assert tester.version_confirm.layout.display is None  # shown
    assert "drops those edits" in tester.version_notice.value
    assert tester.prompt_data == before and tester.version.value == before["version"]
    with pytest.raises(pt.ValidationError, match="discard_edits"):
        tester.load_version(other)
    tester.version.value = other
    tester.version_keep.click()
    assert tester.version_confirm.layout.display == "none" and tester.prompt_data == before
    # …and switching drops them, on purpose: the chats, the dropdown and the title follow
    tester.version.value = other
    tester.version_switch.click()
    assert tester.prompt_data["version"] == other
    assert tester.version.value == other
    assert f"version {other}" in tester.title.value
    assert tester.rows.children[-1].content.value != "appended in raw"
    assert tester.context_data["thing"] == "the order"
    assert tester.version_confirm.layout.display == "none"
    # with no edits, the dropdown switches at once
    tester.version.value = before["version"]
    assert tester.prompt_data["version"] == before["version"]
    assert f"version {before['version']}" in tester.title.value


def test_tester_shows_provider_errors_in_words(alice, model):
    entry = next(i for i in alice.logs(limit=50).items if i.version and i.context)
    app = pt.app(alice, context_id=entry.context_id)
    model.add_fault("status", status=500, count=2)
    click(app.tester.run_button)  # the click handler shows, never raises
    assert "the provider failed (HTTP 500)" in app.tester.result.value
    assert "Traceback" not in app.tester.result.value
    assert app.tester.run_button.description == "Run" and not app.tester.run_button.disabled


def test_behaviour_editor_crud_validation_conflict_and_delete(alice, bob, unique):
    editor = BehaviourEditor(alice)
    assert "default" in editor.names.options
    editor.new(f"ui-{unique}")
    assert (
        json.loads(editor.spec.value)["attempts"][0]["ai_model"]["deployment_name"] == "gpt-4-turbo"
    )
    editor.spec.value = '{"attempts": [{"ai_model": {"provider": "azure"}, "weight": 500}]}'
    assert "realm" in editor.validation.text or "weight" in editor.validation.text
    assert editor.save_button.disabled
    editor.spec.value = "{broken"
    assert "not valid JSON" in editor.validation.text
    editor.spec_data = {
        "attempts": [
            {
                "ai_model": {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": "C_128K"},
                "weight": 10,
            }
        ]
    }
    assert "Valid" in editor.validation.text and not editor.save_button.disabled
    click(editor.save_button)
    saved = alice.behaviours.get(f"ui-{unique}")
    assert saved.version == 1 and editor.current.version == 1
    # someone else saves meanwhile: a stale save says so and offers a reload
    bob.behaviours.update(
        saved.name,
        {**saved.spec, "attempts": [{**saved.spec["attempts"][0], "weight": 20}]},
        version=1,
    )
    editor.spec_data = {**saved.spec, "attempts": [{**saved.spec["attempts"][0], "weight": 30}]}
    click(editor.save_button)
    assert "was changed by bob@acme.example" in editor.messages.text
    assert editor.reload_button.layout.display == ""
    click(editor.reload_button)
    assert (
        editor.current.version == 2 and json.loads(editor.spec.value)["attempts"][0]["weight"] == 20
    )
    # delete asks first
    click(editor.delete_button)
    assert editor.confirm_box.layout.display == "" and saved.name in editor.confirm_label.value
    click(editor.confirm_no)
    assert alice.behaviours.get(saved.name)
    click(editor.delete_button)
    click(editor.confirm_yes)
    with pytest.raises(pt.NotFoundError):
        alice.behaviours.get(saved.name)
    assert saved.name not in editor.names.options


def test_behaviour_editor_names_json_errors_once_guards_delete_and_shows_human_times(alice, unique):
    editor = BehaviourEditor(alice)
    # a new, unsaved behaviour cannot be deleted
    editor.new(f"rough-{unique}")
    assert editor.current is None and editor.delete_button.disabled
    # bad JSON: the field named once, with json's own position and reason
    editor.spec.value = '{\n  "attempts": [\n    {"a": 1 "b": 2}\n  ]\n}'
    text = editor.validation.text
    assert text.count("spec") == 1, text
    assert "not valid JSON" in text and "line 3" in text and "column" in text, text
    assert "Expecting ',' delimiter" in text, text
    assert editor.save_button.disabled
    with pytest.raises(pt.ValidationError) as caught:
        editor.spec_data  # noqa: B018 - the property raises
    assert caught.value.message.count("spec") == 1 and caught.value.field == "spec"
    # saved: Delete is on, and the times read as a person reads them
    editor.spec_data = {
        "attempts": [
            {
                "ai_model": {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": "C_128K"},
                "weight": 10,
            }
        ]
    }
    assert "Valid" in editor.validation.text, editor.validation.text
    click(editor.save_button)
    assert editor.current is not None and not editor.delete_button.disabled
    shown = re.sub(r"<[^>]+>", "", editor.audit.value)
    times = re.findall(r" at ([^·]+?)(?= ·|$)", shown)
    assert times, shown
    for when in times:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", when), shown
        assert not re.search(r"\d\d:\d\d:\d\d\.\d+", when) and "+00:00" not in when
    assert 'title="' in editor.audit.value  # the exact time stays in the tooltip
    # choosing "new" turns Delete off again; picking the stored one turns it back on
    click(editor.new_button)
    assert editor.delete_button.disabled
    editor.select(f"rough-{unique}")
    assert not editor.delete_button.disabled
    click(editor.delete_button)
    click(editor.confirm_yes)
    assert editor.current is None and editor.delete_button.disabled


def _all_widget_state() -> str:
    return json.dumps(ipywidgets.Widget.get_manager_state(drop_defaults=False), default=str)


def test_secrets_form_clears_inputs_and_keeps_no_secret_in_widget_state(service, stack, unique):
    from tests.conftest import password_of

    s = pt.connect(
        email="bob@acme.example",
        password=password_of(stack, "bob@acme.example"),
        env="production",
        service=service,
    )
    app = pt.app(s)
    form: SecretsForm = app.secrets
    sentinel = f"SENTINEL-widget-{unique}-0123456789"
    form.inputs["OPENAI_ORG"].value = sentinel  # as typed in the browser
    click(form.save_buttons["OPENAI_ORG"])
    assert form.inputs["OPENAI_ORG"].value == ""
    assert "OPENAI_ORG" in form.status_view.value and "…6789" in form.status_view.value
    form.azure_realm.value = f"r{unique}"
    form.azure_url.value = "https://example.openai.azure.com"
    form.azure_key.value = sentinel
    click(form.azure_button)
    assert form.azure_key.value == ""
    assert f"AZURE_OPENAI_KEYS.r{unique}" in form.status_view.value
    # a failed submit also clears the input
    form.inputs["OPENAI_API_KEY"].value = sentinel + "x" * 5000
    click(form.save_buttons["OPENAI_API_KEY"])
    assert form.inputs["OPENAI_API_KEY"].value == "" and "OPENAI_API_KEY" in form.messages.text
    form.submit("OPENAI_ORG", sentinel)  # the Python equivalent
    state = _all_widget_state()
    assert len(state) > 10_000
    assert not attacks.record("widget", "widget state", "secret-search", sentinel in state)
    # remove with confirmation
    form.delete_picker.value = f"AZURE_OPENAI_KEYS.r{unique}"
    click(form.delete_button)
    assert f"AZURE_OPENAI_KEYS.r{unique}" in [x.name for x in s.secrets.status()]
    click(form.confirm)
    assert f"AZURE_OPENAI_KEYS.r{unique}" not in [x.name for x in s.secrets.status()]
    s.secrets.delete("OPENAI_ORG")
    assert not attacks.record(
        "widget", "widget state", "secret-search", sentinel in _all_widget_state(), "after delete"
    )


def test_replay_tool_runs_the_testers_draft_over_logs(alice, model):
    entry = next(
        i for i in alice.logs(prompt_id="support-reply", limit=20).items if i.version and i.context
    )
    app = pt.app(alice, context_id=entry.context_id)
    replay = app.replay
    replay.limit.value = 6
    replay.concurrency.value = 3
    model.clear_requests()
    estimate = replay.estimate()
    assert estimate.calls == 6 and model.requests() == []
    assert "6 model call(s)" in replay.estimate_view.value
    app.tester.rows.children[-1].content.value += "\nAnswer briefly."
    said: list[str] = []  # every line the tab shows while the run goes
    for view in (replay.messages, replay.estimate_view):
        view.observe(lambda change: said.append(change["new"]), names="value")
    run = replay.run(wait=True)
    # live counts, never "Replaying 0 call(s)" or an estimate of nothing
    assert "Replaying: 6 of 6 call(s) done…" in "".join(said), said
    assert not [t for t in said if "Replaying 0" in t or "0 model call(s) for 0" in t], said
    assert len(run.rows) == 6 and len(model.requests()) == 6
    assert replay.progress.value == 6 and "answered" in replay.summary_view.value
    assert len(replay.rows_view.options) == 6
    first = replay.rows_view.options[0][1]
    replay.rows_view.value = first
    assert "Differences" in replay.diff.value or "Same answer" in replay.diff.value
    df = replay.to_dataframe()
    # every row answered (rows logged by earlier tests may equal the demo answer: unchanged)
    assert list(df["context_id"]).count(first[0]) == 1 and df["changed"].notna().all()
    assert df["error"].isna().all()

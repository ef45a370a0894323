"""The widgets, driven the way clicks drive them, without a browser (ipywidgets' own way)."""

from __future__ import annotations

import base64
import io
import json
import re
from datetime import UTC, datetime

import ipywidgets
import pandas as pd
import pytest

import prompt_tester_nb as pt
from prompt_tester_nb.widgets import BehaviourEditor, LogBrowser, SecretsForm, Tester
from prompt_tester_nb.widgets.grid import MAX_PAGE, PREVIEW, Column, Grid, cut
from prompt_tester_nb.widgets.replay_tool import EMPTY, RUNNING
from prompt_tester_nb.widgets.replay_tool import row_text as replay_row_text
from tests.support import attacks


def click(button: ipywidgets.Button) -> None:
    assert not button.disabled, f"{button.description} is disabled"
    button.click()


def test_app_opens_on_a_log_with_the_tester_loaded(alice):
    entry = next(
        i for i in alice.logs(limit=50, source="production").items if i.version and i.context
    )
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
    grid = logs.grid
    assert len(grid.page_keys) == 50 and logs.prev_button.disabled
    assert not logs.next_button.disabled and "more" in logs.page_label.value
    assert not grid.trimmed and grid.pages == 1  # the server pages; the grid holds one page
    first = grid.page_keys
    # the cells: one page of summary rows, numbers in the headers' units
    entry = logs.page.items[0]
    cells = grid.page_rows[0]
    assert list(cells) == [
        "time (UTC)",
        "prompt",
        "version",
        "answer preview",
        "source",
        "model",
        "latency (s)",
        "prompt tokens",
        "sample tokens",
        "cost (USD)",
        "error",
    ]
    row = entry.to_row()
    assert cells["prompt"] == entry.prompt_id and cells["source"] == (entry.source or "")
    assert cells["time (UTC)"] == f"{entry.time:%Y-%m-%d %H:%M:%S}"
    if row["latency_ms"] is not None:
        assert cells["latency (s)"] == f"{row['latency_ms'] / 1000:.2f}"
    if row["price"] is not None:
        assert cells["cost (USD)"] == f"{row['price']:.5f}"
    assert cells["model"] == (row["model"] or "")
    assert len(cells["answer preview"]) <= 160
    click(logs.next_button)
    second = grid.page_keys
    assert not set(first) & set(second) and "Page 2" in logs.page_label.value
    click(logs.prev_button)
    assert grid.page_keys == first
    # filters apply when they change: no Refresh
    # the seeded prompt's production logs (earlier tests add prompts with no logs, and logs
    # without a context, as a web system's client may)
    logs.source_filter.value = "production"
    prompt_id = "support-reply"
    logs.prompt_filter.value = prompt_id
    assert grid.page_keys and all(logs._by_id[k].prompt_id == prompt_id for k in grid.page_keys)
    assert {r["prompt"] for r in grid.page_rows} == {prompt_id}
    logs.page_size.value = 25
    assert len(grid.page_keys) == 25
    newest = logs.page.items[0]
    logs.until.value = datetime.fromtimestamp(newest.timestamp / 1000 - 1, tz=UTC)
    assert newest.context_id not in grid.page_keys
    logs.until.value = None
    assert grid.page_keys[0] == newest.context_id
    # a row selected in the browser (the ITable's selected_rows trait) shows its detail
    logs.table.selected_rows = [3]
    chosen = logs.selected
    assert chosen is not None and chosen.context_id == grid.page_keys[3]
    assert "<h4>Context</h4>" in logs.detail.value and chosen.context_id in logs.detail.value
    assert 'class="pt-kv"' in logs.detail.value and 'class="pt-msg ' in logs.detail.value
    assert not logs.test_button.disabled
    click(logs.test_button)
    assert app.tabs.selected_index == 1
    assert app.tester.context_data == chosen.context
    assert app.tester.source_log.context_id == chosen.context_id
    # deselecting clears the detail; a new page clears the selection
    logs.table.selected_rows = []
    assert logs.selected is None and logs.detail.value == "" and logs.test_button.disabled
    logs.table.selected_rows = [0]
    click(logs.refresh_button)
    assert logs.selected is None and logs.table.selected_rows == []
    # select(context_id) of a log on another page: fetched, put first and selected
    other = alice.logs(prompt_id=prompt_id, limit=60).items[-1]
    assert other.context_id not in grid.page_keys
    assert logs.select(other.context_id).context_id == other.context_id
    assert grid.page_keys[0] == other.context_id and logs.table.selected_rows == [0]
    assert other.context_id in logs.detail.value


def test_log_detail_reads_like_the_tester_transcript_units_key_value_raw_json_behind_a_click():
    """The detail pane shows the request as chat bubbles, the metrics with units and the
    context as key/value rows, through the Tester's own views; the raw JSON is behind one
    <details>; every logged text is escaped."""
    import re

    from prompt_tester_nb.models import LogEntry
    from prompt_tester_nb.widgets import tester_views
    from prompt_tester_nb.widgets.log_browser import LogBrowser

    entry = LogEntry.model_validate(
        {
            "env_id": "env-x",
            "prompt_id": "support-reply",
            "timestamp": 1_700_000_000_000,
            "version": "2",
            "context_id": "support-reply#1700000000000",
            "context": {"customer_name": "Ada <b>Lovelace</b>", "order": {"id": "A-1"}},
            "request": {
                "messages": [
                    {"role": "system", "content": "You are a support agent."},
                    {"role": "user", "content": "Where is order A-1? <script>x</script>"},
                ]
            },
            "response": {"content": "Hello Ada, your depot shipment left."},
            "metrics": {"latency": 2973, "prompt_tokens_used": 232, "sample_tokens_used": 40,
                        "price_of_call": 0.00466,
                        "ai_model_details": {"deployment_id": "gpt-4-turbo"}},
        }
    )  # fmt: skip
    html = LogBrowser._detail_html(entry)
    # the shared views, not copies: the Tester's transcript and context view, verbatim
    assert tester_views.transcript_html(entry.request["messages"]) in html
    assert tester_views.context_html(entry.context) in html
    assert html.count('class="pt-msg pt-msg-system"') == 1
    assert html.count('class="pt-msg pt-msg-user"') == 1
    for shown in ("2.97 s", "232 tokens", "40 tokens", "$0.00466", "gpt-4-turbo"):
        assert shown in html, shown
    assert "<th>customer_name</th><td>Ada &lt;b&gt;Lovelace&lt;/b&gt;</td>" in html
    assert "<th>order <span" in html and "(JSON)" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    # raw JSON only inside the one-click disclosure
    outside = re.sub(r"<details class=\"pt-raw\">.*?</details>", "", html, flags=re.S)
    assert '<details class="pt-raw">' in html and "&quot;latency&quot;: 2973" in html
    assert "latency&quot;" not in outside and "<pre>" not in outside
    # no metrics Δ / "this test" column in the browser: nothing is being tested there
    assert "this test" not in html and "not run yet" not in html


def test_log_browser_source_filter_runs_on_the_server_when_changed(alice, model):
    """The Tester's own calls are logged as "prompt-tester"; the Source filter asks the
    service for one source or the other as soon as it changes (no Refresh)."""
    entry = next(
        i for i in alice.logs(limit=50, source="production").items if i.version and i.context
    )
    app = pt.app(alice, context_id=entry.context_id)
    app.tester.behaviour = "default"
    result = app.tester.run()
    logs, grid = app.logs, app.logs.grid
    assert logs.source_filter.options == ("all", "production", "prompt-tester")
    logs.source_filter.value = "prompt-tester"
    assert grid.page_keys, "the Tester's call is listed as prompt-tester"
    assert {r["source"] for r in grid.page_rows} == {"prompt-tester"}
    assert any(r["answer preview"] == cut(result.content) for r in grid.page_rows)
    logs.source_filter.value = "production"
    assert grid.page_keys and {r["source"] for r in grid.page_rows} == {"production"}
    logs.source_filter.value = "all"
    assert len(grid.page_keys) == 50


def test_tester_edits_runs_and_compares(alice, model):
    entry = next(
        i for i in alice.logs(limit=50, source="production").items if i.version and i.context
    )
    tester = Tester(alice)
    tester.open_log(entry.context_id)
    rows = tester.rows.children
    assert [r.to_chat()["content"] for r in rows] == [
        c["content"] for c in tester.prompt_data["chats"]
    ]
    # edit: change the last chat, add one, move it up, remove it again
    assert "edited" not in tester.title.value
    rows[-1].content.value = "Summarise {thing} in one line"
    assert "edited" in tester.title.value  # the draft says it is no longer the stored version
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
    # (the demo model's words are its own business: a placeholder or a production-like answer)
    assert result.content and result.model == "azure/westus/gpt-4-turbo"
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


def test_tester_shows_production_beside_the_test_with_units_a_word_diff_and_context_fields(
    alice, model
):
    from prompt_tester_nb.widgets.diff_view import word_diff

    entry = next(
        i
        for i in alice.logs(limit=50, source="production").items
        if i.version and i.context and i.metrics and i.request.get("messages")
    )
    tester = Tester(alice)
    tester.open_log(entry.context_id)
    text = re.sub(r"<[^>]+>", " ", tester.result.value)
    latency = entry.metrics["latency"]
    # production's figures before any run, each with its unit; the test column waits
    assert f"{latency / 1000:.2f} s" in text and "not run yet" in text
    assert f"{int(entry.metrics['prompt_tokens_used']):,} tokens" in text
    assert f"${float(entry.metrics['price_of_call']):.5f}" in text
    # the logged request as a transcript: one bubble per message, role and text
    bubbles = tester.request_view.value.count('class="pt-msg ')
    assert bubbles == len(entry.request["messages"]) and "pt-msg-role" in tester.request_view.value
    # the context as fields, one per key; a field edited rewrites the raw JSON
    form = tester.context_form
    assert [f.key for f in form.fields.children] == list(entry.context)
    text_key = next(k for k, v in entry.context.items() if isinstance(v, str))
    form.set_field(text_key, "typed in a field")
    assert json.loads(tester.context.value)[text_key] == "typed in a field"
    assert tester.context_data[text_key] == "typed in a field"
    # a JSON field with bad JSON: Run disabled, the reason names the key; fixed, all clears
    form.add_field("tags", ["a", "b"])
    assert json.loads(tester.context.value)["tags"] == ["a", "b"]
    form.set_field("tags", '["a", ')
    assert tester.run_button.disabled and "'tags'" in tester.run_button.tooltip
    assert "not valid JSON" in tester.context_message.text
    with pytest.raises(pt.ValidationError, match="tags"):
        tester.run()
    form.set_field("tags", '["a", "c"]')
    assert not tester.run_button.disabled and tester.context_data["tags"] == ["a", "c"]
    # raw JSON typed in the other view rebuilds the fields
    tester.context.value = json.dumps({**tester.context_data, "extra": 3})
    assert form.field("extra").box.value == "3" and form.field(text_key).box.value == (
        "typed in a field"
    )
    tester.behaviour = "default"
    result = tester.run()
    text = re.sub(r"<[^>]+>", " ", tester.result.value)
    assert f"{result.latency_ms / 1000:.2f} s" in text and f"{latency / 1000:.2f} s" in text
    delta = (result.latency_ms - latency) / 1000
    assert f"{delta:+.2f} s" in text  # the difference, signed, with its unit
    assert tester.save_ideal_button.description == "Save as ideal answer"
    assert tester.save_ideal_button.layout.width == "auto"  # the label is never cut
    # the diff is word by word, inline: no difflib table, no word split
    assert "<table" not in tester.diff.value and "pt-wdiff" in tester.diff.value
    assert word_diff("Ada Lovelace wrote it.", "Ada Lovelace wrote this.") == [
        ("equal", "Ada Lovelace wrote "),
        ("delete", "it"),
        ("insert", "this"),
        ("equal", "."),
    ]


def test_tester_shows_provider_errors_in_words(alice, model):
    entry = next(
        i for i in alice.logs(limit=50, source="production").items if i.version and i.context
    )
    app = pt.app(alice, context_id=entry.context_id)
    model.add_fault("status", status=500, count=2)
    click(app.tester.run_button)  # the click handler shows, never raises
    assert "the provider failed (HTTP 500)" in app.tester.result.value
    assert "Traceback" not in app.tester.result.value
    assert app.tester.run_button.description == "Run" and not app.tester.run_button.disabled


def test_behaviour_editor_crud_validation_conflict_and_delete(alice, bob, unique):
    editor = BehaviourEditor(alice)
    assert "default" in editor.names.options
    editor.new()  # a valid spec but no name: Save is off and the form says why
    assert editor.save_button.disabled and "name" in editor.validation.text
    assert "Valid" not in editor.validation.text
    with pytest.raises(pt.ValidationError, match="name"):
        editor.save()
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
    typed_order = list(json.loads(editor.spec.value)["attempts"][0]["ai_model"])
    click(editor.save_button)
    # the JSON keeps the order the user wrote its keys in
    assert list(json.loads(editor.spec.value)["attempts"][0]["ai_model"])[:3] == typed_order
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


def test_behaviour_editor_shows_a_table_and_a_form_kept_in_sync_with_the_json(alice, unique):
    editor = BehaviourEditor(alice)
    table = re.sub(r"<[^>]+>", " ", editor.table.value)
    for heading in ("name", "attempts", "models (weight)", "fallback", "updated by", "updated"):
        assert heading in table
    default = alice.behaviours.get("default")
    assert "azure/westus/gpt-4-turbo" in table and default.name in table
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", table)  # human time
    assert not re.search(r"\d\d:\d\d:\d\d\.\d+", table)
    # the form shows the JSON's attempts; a field edited rewrites the JSON
    editor.new(f"form-{unique}")
    form = editor.form
    assert len(form.attempts.children) == 1
    row = form.attempts.children[0]
    assert (row.provider.value, row.model.value, row.realm.value) == (
        "azure",
        "gpt-4-turbo",
        "westus",
    )
    row.weight.value = 40
    assert json.loads(editor.spec.value)["attempts"][0]["weight"] == 40
    row.provider.value = "openai"
    row.model.value = "gpt-4o-mini"
    doc = json.loads(editor.spec.value)
    assert doc["attempts"][0]["ai_model"]["model"] == "gpt-4o-mini"
    assert "realm" not in doc["attempts"][0]["ai_model"]
    assert "Valid" in editor.validation.text
    form.add()
    form.use_fallback.value = True
    doc = json.loads(editor.spec.value)
    assert len(doc["attempts"]) == 2 and doc["fallback_attempt"]["ai_model"]["provider"]
    # a bad field value is caught by the same validation as typed JSON
    form.attempts.children[1].weight.value = 500
    assert editor.save_button.disabled and "weight" in editor.validation.text
    # JSON typed in the editor rebuilds the form
    editor.spec_data = {
        "attempts": [
            {"ai_model": {"provider": "claude", "model": "c-3", "max_tokens": 100}, "weight": 2}
        ],
        "fallback_attempt": None,
    }
    assert len(form.attempts.children) == 1 and not form.use_fallback.value
    assert form.attempts.children[0].provider.value == "claude"
    click(editor.save_button)
    table = re.sub(r"<[^>]+>", " ", editor.table.value)
    assert f"form-{unique}" in table and "claude/c-3 (2)" in table
    assert 'class="pt-current"' in editor.table.value
    editor.delete(confirm=True)


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
    # the question sits beside its button, with Cancel
    assert form.confirm_box.layout.display == "" and "Remove" in form.confirm_label.value
    assert form.confirm_box.children == (form.confirm_label, form.confirm, form.cancel_button)
    click(form.cancel_button)
    assert form.confirm_box.layout.display == "none" and "Nothing removed" in form.messages.text
    assert f"AZURE_OPENAI_KEYS.r{unique}" in [x.name for x in s.secrets.status()]
    click(form.delete_button)
    click(form.confirm)
    assert f"AZURE_OPENAI_KEYS.r{unique}" not in [x.name for x in s.secrets.status()]
    s.secrets.delete("OPENAI_ORG")
    assert not attacks.record(
        "widget", "widget state", "secret-search", sentinel in _all_widget_state(), "after delete"
    )


def test_replay_tool_runs_the_testers_draft_over_logs(alice, model, tmp_path):
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
    shown: list[int] = []  # the rows the grid held, each time it was sent to the browser
    replay.table.observe(
        lambda change: shown.append(len(json.loads(change["new"].get("data_json") or "[]"))),
        names="_dt_args",
    )
    for view in (replay.messages, replay.estimate_view):
        view.observe(lambda change: said.append(change["new"]), names="value")
    empties: list[str] = []  # what the empty grid says while the run goes
    replay.messages.observe(lambda _: empties.append(replay.grid.empty), names="value")
    replay.set_scorers([pt.scorers.contains("Acme")])
    run = replay.run(wait=True)
    assert RUNNING in empties and replay.grid.empty == EMPTY  # never "press Replay" mid-run
    # live counts, never "Replaying 0 call(s)" or an estimate of nothing
    assert "Replaying: 6 of 6 call(s) done…" in "".join(said), said
    assert not [t for t in said if "Replaying 0" in t or "0 model call(s) for 0" in t], said
    assert len(run.rows) == 6 and len(model.requests()) == 6
    assert replay.progress.value == 6 and "answered" in replay.summary_view.value
    # the rows reached the grid as they finished, not only at the end
    assert 1 in shown and max(shown) == 6 and len(set(shown)) >= 3, shown
    grid = replay.grid
    assert len(grid.row_keys) == 6 and not grid.trimmed
    titles = list(grid.page_rows[0])
    for title in (
        "similarity",
        "latency (s)",
        "cost (USD)",
        "error",
        "production's answer",
        "new answer",
    ):
        assert title in titles
    # rows read as a time and what the customer wrote, not a raw id cut mid-number
    assert all("#" not in r["context"] and "·" in r["context"] for r in grid.page_rows)
    # the search looks in the whole texts of every row, not the cut cells of the page
    tail = next(r.production.split()[-3] for r in run.rows if len(r.production or "") > 200)
    grid.search.value = tail
    assert 1 <= len(grid.row_keys) <= 6 and "row(s) match" in grid.search_label.value
    assert all(
        tail.casefold() in replay_row_text(replay._rows[k]).casefold() for k in grid.row_keys
    )
    grid.search.value = "no-such-words-anywhere"
    assert grid.row_keys == [] and "0 of 6" in grid.search_label.value
    grid.search.value = ""
    assert len(grid.row_keys) == 6
    assert {r["repeat"] for r in grid.page_rows} == {"1"}  # 1-based, as the DataFrame
    # a row selected in the browser (selected_rows) shows its diff; "Open in Tester" opens it
    assert replay.open_button.disabled
    replay.table.selected_rows = [0]
    first = grid.row_keys[0]
    row = replay.selected_row
    assert (row.context_id, row.repeat) == first
    assert "Differences" in replay.diff.value or "Same answer" in replay.diff.value
    assert row.context_id in replay.row_scores.value  # the raw id, a click from its label
    calls = len(model.requests())
    click(replay.open_button)
    assert app.tabs.selected_index == 1
    assert app.tester.source_log.context_id == row.context_id
    assert app.tester.context_data == row.context
    assert app.tester.prompt_data["chats"][-1]["content"].endswith("Answer briefly.")
    # the row's own answer, scores and reasons, without a new call (Run is the user's choice)
    assert len(model.requests()) == calls
    assert app.tester.last_result is row.result
    assert "not run yet" not in app.tester.comparison.value
    assert "Replayed answer" in app.tester.comparison.value
    assert "contains" in app.tester.replay_view.value and "pass" in app.tester.replay_view.value
    assert "edited" in app.tester.title.value  # the replayed draft is not the stored version
    # the run as a DataFrame and as CSV
    df = replay.to_dataframe()
    # every row answered (rows logged by earlier tests may equal the demo answer: unchanged)
    assert list(df["context_id"]).count(first[0]) == 1 and df["changed"].notna().all()
    assert df["error"].isna().all()
    click(replay.frame_button)
    assert replay.frame_view.outputs and "to_dataframe" in str(replay.frame_view.outputs)
    assert replay.frame_view in replay.children  # shown in the tab, not only kept
    click(replay.csv_button)
    href = re.search(r"href='data:text/csv;base64,([^']+)'", replay.csv_link.value)
    assert href and "download=" in replay.csv_link.value
    frame = pd.read_csv(io.BytesIO(base64.b64decode(href.group(1))))
    assert list(frame["context_id"]) == list(df["context_id"])
    path = replay.save_csv(tmp_path / "run.csv")
    assert pd.read_csv(path)["context_id"].tolist() == list(df["context_id"])


def test_grid_pages_streams_rows_and_keeps_the_selection_by_key():
    """The one grid helper of the three tabs, without a stack: Python-side pages, rows added
    as they land (the browser sent the page only when they land on it), the selection kept
    by key, and a full page of the longest cells never trimmed by itables' maxBytes."""
    grid = Grid(
        [Column("name"), Column("n (s)", numeric=True, width="60px")],
        css_class="pt-test-grid",
        page_size=3,
    )
    sent: list[int] = []
    grid.table.observe(
        lambda change: sent.append(len(json.loads(change["new"].get("data_json") or "[]"))),
        names="_dt_args",
    )
    chosen: list[object] = []
    grid.on_select(chosen.append)
    grid.extend([("a", ["alpha", "1.00"]), ("b", ["beta", "2.00"])])
    assert grid.page_keys == ["a", "b"] and sent[-1] == 2
    grid.table.selected_rows = [1]  # a click in the browser
    assert grid.selected_key == "b" and chosen == ["b"]
    grid.extend([("c", ["gamma", "3.00"])])  # lands on the page: sent, selection kept
    assert sent[-1] == 3 and grid.selected_key == "b" and grid.table.selected_rows == [1]
    before = len(sent)
    grid.extend([("d", ["delta", "4.00"]), ("e", ["eps", "5.00"])])  # page 2: not sent
    assert len(sent) == before and "rows 1\u20133 of 5" in grid.page_label.value
    assert not grid.next_button.disabled and grid.prev_button.disabled
    grid.select("e")  # turns to its page
    assert grid.page == 1 and grid.page_keys == ["d", "e"] and grid.table.selected_rows == [1]
    assert chosen[-1] == "e" and grid.page_rows[1] == {"name": "eps", "n (s)": "5.00"}
    grid.prev_button.click()  # the selected row is not on page 1: nothing is selected there
    assert grid.selected_key is None and chosen[-1] is None
    # a full page of the longest summary cells stays whole (every row selectable)
    wide = Grid([Column(f"c{i}") for i in range(12)], css_class="pt-test-wide")
    cell = cut("word " * 200)
    assert len(cell) <= PREVIEW
    wide.set_rows([(i, [cell] * 12) for i in range(MAX_PAGE)])
    assert not wide.trimmed and len(json.loads(wide.table._dt_args["data_json"])) == MAX_PAGE
    wide.table.selected_rows = [MAX_PAGE - 1]
    assert wide.selected_key == MAX_PAGE - 1

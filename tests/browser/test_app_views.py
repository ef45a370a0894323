"""The app as a newcomer meets it, in a real JupyterLab and Chromium: the demo's URL lands on
the app (no Run All), the Tester shows production beside the test with units and a word
diff, the context is edited as fields, a dataset is made from two logs selected in the Logs
grid (Add to dataset) and read in the Datasets tab, two stored experiments are blessed and
compared (``experiments_tab``), the behaviours are a table with a form, and the status bar
names the one identity the app uses, without 401 noise. A screenshot of each tab is kept under
test-output/browser/ for a reviewer (datasets_*.png and experiments_*.png for those steps)."""

from __future__ import annotations

import json
import os
import re
import urllib.parse
import uuid
from pathlib import Path

import pytest

from prompt_tester_nb.local.jupyter import PROOF_PARAM, RUN_PARAM

from .conftest import output_dir
from .experiments_tab import check_experiments_tab, store_two
from .grids import click_row, column, rows, wait_for_rows
from .lab import notebook_panel, wait_for_kernel_idle

pytestmark = pytest.mark.browser

NOTEBOOK = "prompt_tester.ipynb"
TABS = (
    "Logs",
    "Tester",
    "Replay",
    "Compare",
    "Datasets",
    "Experiments",
    "Behaviours",
    "Secrets",
)


def widget_tab(page, title: str):
    return page.locator(".widget-tab .lm-TabBar-tab", has_text=title).first


def shoot(page, locator, path) -> None:
    """A screenshot of ``locator`` whole: the viewport is made tall enough for it first
    (JupyterLab scrolls inside its panels, so a full-page shot would not show it)."""
    size = page.viewport_size
    height = locator.evaluate("(el) => el.scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], height + 400)})
    try:
        locator.scroll_into_view_if_needed()
        locator.screenshot(path=str(path))
    finally:
        page.set_viewport_size(size)


def _open_on_the_app(page, lab_server, relpath: str) -> None:
    """What `prompt-tester demo` prints: the notebook opens and its cells run by themselves
    (the URL carries the server's launch proof for that notebook)."""
    page.goto(lab_server.lab_url(relpath, run=True), wait_until="domcontentloaded")
    # the app's tabs appear without anybody pressing Run All
    widget_tab(page, "Tester").wait_for(timeout=180_000)
    wait_for_kernel_idle(page)


def _tester_notebook_on(lab_server, context_id: str) -> str:
    """A copy of the tester notebook whose parameters cell names ``context_id``."""
    nb = json.loads((lab_server.root_dir / NOTEBOOK).read_text())
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if source.startswith("context_id = None"):
            cell["source"] = source.replace("context_id = None", f"context_id = {context_id!r}")
    name = f"tester-{re.sub(r'[^A-Za-z0-9]+', '-', context_id)}.ipynb"
    (lab_server.root_dir / name).write_text(json.dumps(nb))
    return name


def _a_dataset_from_two_selected_logs(page, alice, shots: Path) -> None:
    """Two production logs selected in the Logs grid (a click, then a Ctrl-click), Add to
    dataset with a new name, then the Datasets tab lists it with its two items, the context
    as variables, and an item's detail. Steps of the test below (opening the app again would
    cost a notebook and a kernel)."""
    name = f"refund-replies-{uuid.uuid4().hex[:6]}"
    app = notebook_panel(page).locator(".jp-OutputArea-output .widget-tab").first
    try:
        widget_tab(page, "Logs").click()
        wait_for_rows(page, "log", 10)
        production = [i for i, s in enumerate(column(page, "log", "source")) if s == "production"]
        first, second = production[:2]
        click_row(page, "log", first)
        second_row = rows(page, "log").nth(second)
        second_row.locator("td").first.click(modifiers=["Control"])
        page.wait_for_function(
            "el => el.classList.contains('selected')", arg=second_row.element_handle()
        )
        page.locator(".pt-logs-add-count").first.get_by_text("2 log(s) selected").wait_for()
        page.locator("button.pt-logs-add").first.click()
        form = page.locator(".pt-logs-add-form").first
        form.wait_for(state="visible")
        box = page.locator(".pt-logs-add-name input").first
        box.fill(name)
        box.press("Tab")
        form.get_by_text("will be created").wait_for()
        page.locator(".pt-logs-add-description input").first.fill("two refund replies")
        expected = page.locator(".pt-logs-add-expected select").first
        expected.select_option(label="production's answer")
        shoot(page, form, shots / "datasets_add_form.png")
        page.locator("button.pt-logs-add-confirm").first.click()
        said = page.locator(".pt-logs-add-result").first
        said.get_by_text(f"Created '{name}' and added 2 log(s): now version 1").wait_for()
        assert form.is_hidden()
        shoot(page, app, shots / "datasets_added.png")

        # the button beside what it said opens the Datasets tab on it: listed and chosen, its
        # items' context shown as variables, not JSON
        page.locator("button.pt-logs-add-show").first.click()
        page.locator(".widget-tab .lm-TabBar-tab.lm-mod-current", has_text="Datasets").wait_for()
        assert wait_for_rows(page, "dataset-items", 2) == 2
        chosen = page.locator(".pt-datasets-grid tbody tr.selected").first
        assert name in chosen.inner_text()
        heads = page.locator(".pt-dataset-items-grid table.dataTable thead th").all_inner_texts()
        assert [h.strip() for h in heads][:3] == ["item", "prompt@version", "context (variables)"]
        contexts = column(page, "dataset-items", "context (variables)")
        assert all(": " in c and not c.startswith("{") for c in contexts), contexts
        assert column(page, "dataset-items", "added in version") == ["1", "1"]
        version = page.locator(".pt-dataset-version select").first
        assert "1 (latest)" in version.inner_text().replace("\xa0", " ")
        click_row(page, "dataset-items", 0)
        detail = page.locator(".pt-dataset-item-detail").first
        detail.locator("table.pt-kv th").first.wait_for()
        assert "Production's answer" in detail.inner_text()
        shoot(page, app, shots / "datasets_tab.png")

        # the next step: the Replay tab, set to run the Tester's draft on it, with a run name
        page.locator("button.pt-dataset-replay").first.click()
        page.locator(".widget-tab .lm-TabBar-tab.lm-mod-current", has_text="Replay").wait_for()
        page.locator(".pt-replay-dataset-box").first.wait_for(state="visible")
        picker = page.locator(".pt-replay-dataset select").first
        page.wait_for_function(
            "([el, name]) => el.options[el.selectedIndex]?.text.startsWith(name)",
            arg=[picker.element_handle(), name],
        )
        page.locator(".pt-replay-name input").first.fill("shorter greeting")
        assert page.locator(".pt-replay-limit").first.is_hidden()  # a log query's
        shoot(page, app, shots / "datasets_replay_source.png")
    finally:
        if name in {d.name for d in alice.datasets.list()}:
            alice.datasets.delete(name)


def test_the_demo_url_opens_the_app_with_every_tab_shown(page, lab_server, request, alice):
    stored = store_two(alice)  # two experiments for the Experiments tab (checked below)
    _open_on_the_app(page, lab_server, NOTEBOOK)
    # the prompts are numbered as each execute reply lands: wait for the first one's, then
    # check the cells ran once (no second "[1]")
    first = notebook_panel(page).locator(".jp-InputPrompt", has_text="[1]")
    first.first.wait_for()
    assert first.count() == 1
    # the run the product started leaves the notebook unchanged: its tab has no unsaved mark
    page.locator(".lm-TabBar-tab.jp-mod-dirty").first.wait_for(state="detached")
    banner = page.locator(".jp-OutputArea-output", has_text="signed in as").first.inner_text()
    assert "signed in as alice@acme.example" in banner
    # the run-once parameters are gone from the URL: a reload does not run the cells again
    page.wait_for_function(
        "([run, proof]) => !window.location.search.includes(run)"
        " && !window.location.search.includes(proof)",
        arg=[RUN_PARAM, PROOF_PARAM],
    )
    folder = output_dir(request.config)
    for title in TABS:
        widget_tab(page, title).click()
        page.locator(".widget-tab .lm-TabBar-tab.lm-mod-current", has_text=title).wait_for()
        app = notebook_panel(page).locator(".jp-OutputArea-output .widget-tab").first
        shoot(page, app, folder / f"tab_{title.lower()}.png")
    _a_dataset_from_two_selected_logs(page, alice, folder)
    # the behaviours as a table: name, attempts, models, fallback, who and when
    widget_tab(page, "Behaviours").click()
    table = page.locator(".pt-behaviours-table table").first
    table.wait_for()
    heads = table.locator("th").all_inner_texts()
    assert heads[:4] == ["name", "version", "attempts", "models (weight)"], heads
    assert {"fallback", "updated by", "updated"} <= set(heads)
    text = table.inner_text()
    assert "default" in text and "azure/westus/gpt-4-turbo" in text
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", text), text
    # the form beside the JSON: a weight typed in the form reaches the JSON
    page.locator(".pt-behaviour-form .widget-dropdown").first.wait_for()
    weight = page.locator(".pt-behaviour-form .pt-attempt input[type=number]").first
    weight.fill("42")
    weight.press("Enter")
    json_box = page.locator(".pt-behaviour-json textarea").first
    page.wait_for_function(
        "(el) => el.value.includes('\"weight\": 42')", arg=json_box.element_handle()
    )
    shoot(page, page.locator(".widget-tab").first, folder / "tab_behaviours_form.png")
    # a new behaviour without a name: Save is off and the form says what it needs
    page.locator("button.pt-behaviour-new").first.click()
    save = page.locator("button.pt-behaviour-save").first
    page.locator(".pt-behaviour-validation").get_by_text("Give the behaviour a name").wait_for()
    assert save.is_disabled()
    # Secrets: removing a key asks beside the Remove button, with Cancel
    widget_tab(page, "Secrets").click()
    picker = page.locator(".pt-secret-remove-picker select").first
    picker.select_option(picker.locator("option").last.get_attribute("value"))
    remove = page.locator(".widget-button", has_text="Remove key").first
    remove.click()
    asked = page.locator(".pt-secret-confirm-label").first
    asked.get_by_text("Remove").first.wait_for()
    remove_box = remove.bounding_box()
    asked_box = asked.bounding_box()
    assert remove_box and asked_box
    assert abs(asked_box["y"] - remove_box["y"]) < 40, (asked_box, remove_box)  # same line
    assert asked_box["x"] - (remove_box["x"] + remove_box["width"]) < 60, (asked_box, remove_box)
    shoot(page, page.locator(".widget-tab").first, folder / "tab_secrets_remove.png")
    page.locator("button.pt-secret-cancel, .pt-secret-cancel button").first.click()
    asked.wait_for(state="hidden")
    # Experiments: two stored ones filtered, blessed, compared, plotted, opened in the Tester
    app = notebook_panel(page).locator(".jp-OutputArea-output .widget-tab").first
    check_experiments_tab(page, app, folder, stored, shoot)


def test_the_tester_shows_production_beside_the_test_with_a_word_diff(
    page, lab_server, alice, request
):
    entry = next(i for i in alice.logs(limit=50).items if i.version and i.context and i.metrics)
    latency_s = f"{entry.metrics['latency'] / 1000:.2f} s"
    _open_on_the_app(page, lab_server, _tester_notebook_on(lab_server, entry.context_id))
    title = page.locator(".pt-tester-title").first
    title.get_by_text(entry.context_id).wait_for()

    metrics = page.locator(".pt-result table.pt-metrics").first
    assert metrics.locator("th").all_inner_texts() == [
        "metric",
        "production (logged)",
        "this test",
        "Δ test - production",
    ]
    assert latency_s in metrics.inner_text() and "not run yet" in metrics.inner_text()
    # the logged request as a transcript: a bubble per message, its role on top
    page.locator(".pt-request summary").first.click()
    bubbles = page.locator(".pt-request .pt-msg")
    assert bubbles.count() == len(entry.request["messages"])
    assert bubbles.first.locator(".pt-msg-role").inner_text().lower() == str(
        entry.request["messages"][0]["role"]
    )

    # the context as fields: a text field edited reaches the raw JSON, one click away
    key = next(k for k, v in entry.context.items() if isinstance(v, str))
    field = page.locator(f".pt-field-{key} textarea").first
    field.fill("edited in a field")
    field.press("Tab")
    page.locator(".pt-context-mode button", has_text="Raw JSON").click()
    raw = page.locator(".pt-context textarea").first
    raw.wait_for(state="visible")
    page.wait_for_function(
        "(el) => el.value.includes('edited in a field')", arg=raw.element_handle()
    )
    # invalid JSON in a JSON field: Run is disabled and says why
    page.locator(".pt-context-mode button", has_text="Fields").click()
    page.locator(".pt-context-form .widget-text input").first.fill("tags")
    page.locator(".pt-context-new-kind select").first.select_option(index=1)  # JSON
    page.locator(".pt-context-form button", has_text="Add variable").click()
    tags = page.locator(".pt-field-tags textarea").first
    tags.fill('["a", ')
    tags.press("Tab")
    run = page.locator("button.pt-run").first
    page.wait_for_function("(el) => el.disabled", arg=run.element_handle())
    assert "tags" in page.locator(".pt-context-form .pt-error").first.inner_text()
    tags.fill('["a", "b"]')
    tags.press("Tab")
    page.wait_for_function("(el) => !el.disabled", arg=run.element_handle())

    run.click()
    page.wait_for_function(
        "() => !document.querySelector('.pt-result').innerText.includes('not run yet')"
    )
    text = metrics.inner_text()
    assert text.count(latency_s) >= 1 and re.search(r"[+-]\d+\.\d\d s", text), text
    assert re.search(r"\$\d\.\d{5}.*\$\d\.\d{5}", text.replace("\n", " ")), text
    assert re.search(r"\d+ tokens", text), text
    # the diff: inline, word by word, no difflib table
    diff = page.locator(".pt-diff").first
    diff.locator(".pt-wdiff").wait_for()
    assert diff.locator("table").count() == 0
    assert diff.locator("ins").count() + diff.locator("del").count() > 0
    # answers wrap at word boundaries; the Save label is whole
    style = page.locator(".pt-answer").first.evaluate(
        "(el) => [getComputedStyle(el).wordBreak, getComputedStyle(el).overflowWrap]"
    )
    assert style == ["normal", "anywhere"], style
    save = page.locator("button.pt-save-ideal").first
    assert save.evaluate("(el) => el.scrollWidth <= el.clientWidth"), "the label is cut"
    page.locator(".pt-request summary").first.click()  # fold the transcript for the picture
    app = notebook_panel(page).locator(".jp-OutputArea-output .widget-tab").first
    shoot(page, app, output_dir(request.config) / "tab_tester_after_run.png")


def test_switching_the_version_keeps_the_edits_or_drops_them_when_asked(page, lab_server, alice):
    entry = next(
        i for i in alice.logs(prompt_id="support-reply", limit=50).items if i.version and i.context
    )
    other = next(v for v in alice.prompt_versions("support-reply") if v != entry.version)
    _open_on_the_app(page, lab_server, _tester_notebook_on(lab_server, entry.context_id))
    title = page.locator(".pt-tester-title").first
    title.get_by_text(entry.context_id).wait_for()
    assert f"version {entry.version}" in title.inner_text()
    assert "edited" not in title.inner_text()
    chat = page.locator(".pt-chat textarea").first
    chat.fill("An edit the user made.")
    chat.press("Tab")  # the chat syncs on change
    title.locator(".pt-edited").wait_for()  # the draft says it is no longer the stored version
    version = page.locator(".pt-version select").first
    version.select_option(other)
    confirm = page.locator(".pt-version-confirm").first
    confirm.get_by_text(f"Switching to version {other} drops").wait_for()
    # the buttons show their whole labels (not "Switch and dro…")
    for button in ("button.pt-version-switch", "button.pt-version-keep"):
        fits = page.locator(button).first.evaluate("el => el.scrollWidth <= el.clientWidth")
        assert fits, button
    # keep: nothing is lost, the dropdown and the title still name the version edited
    page.locator("button.pt-version-keep").first.click()
    confirm.wait_for(state="hidden")
    assert chat.input_value() == "An edit the user made."
    assert version.input_value() == entry.version
    assert f"version {entry.version}" in title.inner_text()
    # switch: asked again, this time the edits go and the title follows the version
    version.select_option(other)
    page.locator("button.pt-version-switch").first.click()
    title.get_by_text(f"version {other}").wait_for()
    page.wait_for_function(
        "(el) => el.value !== 'An edit the user made.'", arg=chat.element_handle()
    )


def test_the_status_bar_names_the_apps_identity_and_polls_without_401(page, lab_server, request):
    answers: list[tuple[str, int]] = []
    page.on(
        "response",
        lambda r: answers.append((r.url, r.status)) if "/prompt-tester/auth/" in r.url else None,
    )
    log_before = lab_server.log_path.stat().st_size
    page.goto(lab_server.lab_url(""), wait_until="domcontentloaded")
    status = page.locator("#prompt-tester-status")
    # the same identity, the same way, as the app's "signed in as alice@acme.example"
    status.get_by_text("Prompt Tester: alice@acme.example").wait_for()
    assert status.get_attribute("data-state") == "signed-out"  # this browser has no sign-in
    assert "kernels" not in status.inner_text() and "signed out" not in status.inner_text()
    assert "alice@acme.example" in (status.get_attribute("title") or "")
    # a poll is the same call: run one more and look at every answer
    page.evaluate(
        """async () => {
            const r = await fetch('/prompt-tester/auth/me?optional=1', {credentials: 'same-origin'});
            return r.status;
        }"""
    )
    polled = [(u, s) for u, s in answers if "auth/me" in u]
    assert polled and all(s == 200 for _, s in polled), answers
    assert not [a for a in answers if a[1] == 401], answers
    tail = lab_server.log_path.read_bytes()[log_before:].decode(errors="replace")
    assert not re.search(r"\b401\b.*auth/me", tail), tail[-2000:]
    page.locator(".jp-StatusBar-Widget").first.screenshot(
        path=str(output_dir(request.config) / "status_bar.png")
    )


@pytest.fixture
def no_handoff():
    """Whatever happens, the next test must not inherit this sign-in."""
    yield
    Path(os.environ["PROMPT_TESTER_SESSION_FILE"]).unlink(missing_ok=True)


def test_an_unknown_deep_link_sends_one_request(page, lab_server, stack, no_handoff):
    from tests.conftest import password_of

    cookie = lab_server.sign_in("alice@acme.example", password_of(stack, "alice@acme.example"))
    page.context.add_cookies(
        [{"name": "prompt-tester-session", "value": cookie, "url": lab_server.url}]
    )
    posts: list[str] = []
    page.on(
        "request",
        lambda r: (
            posts.append(r.url) if r.method == "POST" and "tester-notebook" in r.url else None
        ),
    )
    query = urllib.parse.urlencode({"token": lab_server.token, "context_id": "no-such-log#1"})
    try:
        page.goto(f"{lab_server.url}/lab?reset&{query}", wait_until="domcontentloaded")
        dialog = page.locator(".jp-Dialog").first
        dialog.wait_for()
        assert "Prompt Tester" in dialog.inner_text()
        page.wait_for_function("() => !window.location.search.includes('context_id')")
        # the page is settled (URL rewritten, reset done): still exactly one request
        page.wait_for_load_state("networkidle")
        assert len(posts) == 1, posts
    finally:
        page.context.request.post(
            f"{lab_server.url}/prompt-tester/auth/logout",
            headers={
                "Authorization": f"token {lab_server.token}",
                "Cookie": f"prompt-tester-session={cookie}",
            },
        )

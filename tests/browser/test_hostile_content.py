"""Hostile content renders as text in every view, in a real JupyterLab and Chromium.

Production logs carry customer text, and models echo it. Logs whose context values, answers,
logged requests and prompt chats hold markup that runs script when parsed as HTML (an
``<img onerror>``, an ``<svg onload>``, a ``</script><script>`` break-out, a ``javascript:``
link), and a behaviour whose name holds one, are planted with boto3 as the web system could
write them. Then every view a person sees is opened: the Logs grid and a log's detail, the
Tester and its run's diff, the Replay grid and a row, the Compare pairs and one pair, the
Behaviours table, and a dataset made of the replay's rows (Add to dataset, a hostile
description): the Datasets grid, its items and one item. No payload's script runs (``window.__ptXss`` stays unset), no dialog opens,
no element with an event-handler attribute or a ``javascript:`` link is made, and the
payloads are on screen as text (screenshots: test-output/browser/hostile_*.png).

The views later issues add (Experiments) join this test when they land.
"""

from __future__ import annotations

import contextlib
import time
from decimal import Decimal

import boto3
import pytest
from boto3.dynamodb.conditions import Key

from prompt_tester_nb.local.stack import LOCAL_CREDENTIALS
from prompt_tester_nb.schema import env_prompt_key

from .conftest import output_dir
from .grids import click_row, rows, search, wait_for_rows
from .lab import notebook_panel, wait_for_kernel_idle

pytestmark = pytest.mark.browser

NOTEBOOK = "prompt_tester.ipynb"
FLAG = "__ptXss"
IMG = f"<img src=x onerror=\"window.{FLAG}='img';alert('img')\">"
SVG = f"<svg onload=\"window.{FLAG}='svg';alert('svg')\"></svg>"
SCRIPT = f"</script><script>window.{FLAG}='script';alert('script')</script>"
LINK = f"<a href=\"javascript:window.{FLAG}='link';alert('link')\">open me</a>"
BARE = f"javascript:window.{FLAG}='url'"
PAYLOADS = (IMG, SVG, SCRIPT, LINK)
# what must be in a view's text when the payload shows as text (the start of each)
SHOWN = ("<img src=x onerror=", "<svg onload=", "</script><script>", '<a href="javascript:')

# Anything in the app that a payload parsed as HTML would have made.
PARSED = """(root) => [...root.querySelectorAll(
    '[onerror], [onload], a[href^="javascript:" i], img[src="x"], script:not([src])')]
    .filter(el => !el.closest('.jp-InputArea'))
    .map(el => el.outerHTML.slice(0, 120))"""


def widget_tab(page, title: str):
    return page.locator(".widget-tab .lm-TabBar-tab", has_text=title).first


def _chat(role: str, content: str) -> dict:
    """A chat as flow-prompt's ChatsEntity.dump() writes it."""
    return {
        "content": content,
        "role": role,
        "priority": 0,
        "required": True,
        "is_multiple": False,
        "while_fits": False,
        "add_in_reverse_order": False,
        "in_one_message": False,
        "continue_if_doesnt_fit": False,
    }


def _table(resource, settings, name: str):
    return resource.Table(settings.table(name))


@pytest.fixture
def planted(stack, settings, alice, unique):
    """A prompt, three production logs and a behaviour, all hostile; removed afterwards with
    everything the test's runs wrote under that prompt."""
    env = stack.environ()
    dynamodb = boto3.resource(
        "dynamodb",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    env_id = alice.env.env_id
    prompt_id = f"hostile-{unique}"
    key = env_prompt_key(env_id, prompt_id)
    prompt = {
        "prompt_id": prompt_id,
        "max_tokens": 16000,
        "min_sample_tokens": 1500,
        "reserved_tokens_budget_for_sampling": None,
        "chats": [
            _chat("system", f"You answer support questions. {SVG} {LINK}"),
            _chat("user", "{question} {customer_name}" + f" {SCRIPT}"),
        ],
        "version": "1",
    }
    now_ms = int(time.time() * 1000)
    _table(dynamodb, settings, "PromptHistory").put_item(
        Item={"env_id_prompt_id": key, "version": "1", "env_id": env_id, "prompt_id": prompt_id,
              "prompt": prompt, "created_tms": now_ms - 60_000}
    )  # fmt: skip
    _table(dynamodb, settings, "LatestPrompts").put_item(
        Item={"env_id": env_id, "prompt_id": prompt_id, "version": "1", "prompt": prompt}
    )
    logs = _table(dynamodb, settings, "Logs")
    for i, payload in enumerate(PAYLOADS[:3]):
        context = {"question": f"Where is my order? {IMG}", "customer_name": payload, "url": BARE}
        messages = [
            {"role": "system", "content": f"You answer support questions. {SVG} {LINK}"},
            {"role": "user", "content": f"{context['question']} {payload} {SCRIPT}"},
        ]
        logs.put_item(
            Item={
                "env_id_prompt_id": key,
                "timestamp": now_ms - i * 1000,
                "env_id": env_id,
                "prompt_id": prompt_id,
                "version": "1",
                "context": context,
                "prompt": prompt,
                "response": {"content": f"Dear {payload}, see {LINK} or {SCRIPT} {SVG} {BARE}"},
                "request": {"messages": messages, "max_tokens": 500},
                "metrics": {
                    "latency": 900 + i,
                    "prompt_tokens_used": 60,
                    "sample_tokens_used": 30,
                    "price_of_call": Decimal("0.00120"),
                    "ai_model_details": {"deployment_id": "gpt-4-turbo"},
                },
            }
        )
    behaviour = f"hostile {IMG}"
    behaviours = _table(dynamodb, settings, "Behaviours")
    behaviours.put_item(
        Item={
            "env_id": env_id,
            "name": behaviour,
            "spec": {"attempts": [{"ai_model": {"provider": "openai", "model": "gpt-4o-mini"}}]},
            "version": 1,
            "created_by": SVG,
            "created_at": "2026-11-01T12:00:00+00:00",
            "updated_by": SVG,
            "updated_at": "2026-11-01T12:00:00+00:00",
        }
    )
    try:
        yield prompt_id
    finally:
        for name in ("Logs", "TesterRuns"):
            table = _table(dynamodb, settings, name)
            items = table.query(KeyConditionExpression=Key("env_id_prompt_id").eq(key))["Items"]
            for item in items:
                table.delete_item(Key={"env_id_prompt_id": key, "timestamp": item["timestamp"]})
        _table(dynamodb, settings, "PromptHistory").delete_item(
            Key={"env_id_prompt_id": key, "version": "1"}
        )
        _table(dynamodb, settings, "LatestPrompts").delete_item(
            Key={"env_id": env_id, "prompt_id": prompt_id}
        )
        behaviours.delete_item(Key={"env_id": env_id, "name": behaviour})


def _no_script_ran(page, dialogs: list[str], where: str) -> None:
    assert page.evaluate(f"() => window.{FLAG}") is None, (where, page.evaluate(f"window.{FLAG}"))
    assert dialogs == [], (where, dialogs)
    made = notebook_panel(page).evaluate(PARSED)
    assert made == [], (where, made)


def _shows_as_text(locator, where: str, expected=SHOWN) -> None:
    text = locator.inner_text()
    missing = [s for s in expected if s not in text]
    assert not missing, (where, missing, text[:2000])


def _shot(page, locator, name: str, request) -> None:
    locator.scroll_into_view_if_needed()
    page.screenshot(path=str(output_dir(request.config) / f"hostile_{name}.png"))


def test_hostile_logs_and_names_render_as_text_in_every_view(
    page, lab_server, planted, alice, request
):
    dialogs: list[str] = []

    def on_dialog(dialog) -> None:
        dialogs.append(dialog.message)
        with contextlib.suppress(Exception):
            dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(lab_server.lab_url(NOTEBOOK, run=True), wait_until="domcontentloaded")
    widget_tab(page, "Tester").wait_for(timeout=180_000)
    wait_for_kernel_idle(page)

    # --- Logs: the grid and a log's detail
    wait_for_rows(page, "log", 3)
    search(page, "log", planted)
    page.wait_for_function(
        "(sel) => document.querySelectorAll(sel).length === 3",
        arg=".pt-log-grid table.dataTable tbody tr:not(:has(td.dt-empty))",
    )
    grid = page.locator(".pt-log-grid").first
    _shows_as_text(grid, "Logs grid", expected=("<svg onload=",))  # the answer preview
    _no_script_ran(page, dialogs, "Logs grid")
    _shot(page, grid, "logs_grid", request)
    click_row(page, "log", 0)
    detail = page.locator(".pt-log-detail").first
    detail.get_by_text("Context").first.wait_for()
    _shows_as_text(detail, "log detail")
    detail.locator("details.pt-raw summary").first.click()  # the raw JSON too
    _no_script_ran(page, dialogs, "log detail")
    _shot(page, detail, "log_detail", request)

    # --- Tester: the log's fields and chats, then a run and its diff
    page.locator(".pt-test-prompt button, button.pt-test-prompt").first.click()
    page.locator(".pt-tester-title").first.get_by_text("from log").wait_for()
    fields = page.locator(".pt-context textarea, .pt-context-form textarea").evaluate_all(
        "(els) => els.map(el => el.value).join('\\n')"
    )
    assert "<img src=x onerror=" in fields, fields
    chats = page.locator(".pt-chat textarea").evaluate_all(
        "(els) => els.map(el => el.value).join('\\n')"
    )
    assert "<svg onload=" in chats and "</script><script>" in chats, chats
    page.locator("button.pt-run, .pt-run button").first.click()
    page.wait_for_function(
        "() => !document.querySelector('.pt-result').innerText.includes('not run yet')",
        timeout=120_000,
    )
    diff = page.locator(".pt-diff >> visible=true").first
    diff.locator(".pt-wdiff").first.wait_for()
    tester = notebook_panel(page).locator(".jp-OutputArea-output .widget-tab").first
    _shows_as_text(page.locator(".pt-comparison").first, "Tester's logged answer", SHOWN[1:])
    _shows_as_text(diff, "Tester's diff", ("onload=", "</script><script>", "javascript:"))
    _no_script_ran(page, dialogs, "Tester")
    _shot(page, tester, "tester", request)
    _shot(page, diff, "tester_diff", request)

    # --- Replay: the grid and a row
    widget_tab(page, "Replay").click()
    limit = page.locator(".pt-replay-limit input").first
    limit.fill("3")
    limit.press("Tab")
    page.locator("button.pt-replay-run, .pt-replay-run button").first.click()
    page.locator(".pt-replay-summary").first.get_by_text("answered").first.wait_for(timeout=120_000)
    assert wait_for_rows(page, "replay", 3) == 3
    _shows_as_text(page.locator(".pt-replay-grid").first, "Replay grid", ("<img src=x",))
    click_row(page, "replay", 0)
    page.locator(".pt-row-scores").first.wait_for()
    row = page.locator(".pt-diff >> visible=true").first  # the row: production vs new
    row.locator(".pt-wdiff").first.wait_for()
    _shows_as_text(row, "Replay row", ("</script><script>", "javascript:"))
    _no_script_ran(page, dialogs, "Replay")
    _shot(page, page.locator(".pt-replay-grid").first, "replay", request)
    _shot(page, row, "replay_row", request)

    # --- Compare: the pairs and one pair
    widget_tab(page, "Compare").click()
    page.locator("button.pt-compare-run, .pt-compare-run button").first.click()
    page.locator(".pt-compare-summary").first.get_by_text("win rate").wait_for(timeout=180_000)
    assert wait_for_rows(page, "compare", 3) == 3
    click_row(page, "compare", 0)
    pair = page.locator(".pt-compare-detail").first
    pair.get_by_text("Candidate shown first").wait_for()
    _shows_as_text(pair, "Compare pair", SHOWN[1:])
    _no_script_ran(page, dialogs, "Compare")
    _shot(page, pair, "compare", request)

    # --- Behaviours: the table names the hostile behaviour as text
    widget_tab(page, "Behaviours").click()
    table = page.locator(".pt-behaviours-table table").first
    table.wait_for()
    table.get_by_text("hostile <img src=x onerror=").first.wait_for()
    _no_script_ran(page, dialogs, "Behaviours")
    _shot(page, table, "behaviours", request)

    # --- Datasets: the replay's three rows added (a click, two Ctrl-clicks), a hostile
    # description
    name = f"{planted}-cases"
    try:
        widget_tab(page, "Replay").click()
        click_row(page, "replay", 1)  # row 0 was selected above: this click selects row 1 only
        for other in (0, 2):
            rows(page, "replay").nth(other).locator("td").first.click(modifiers=["Control"])
        page.locator(".pt-replay-add-count").first.get_by_text("3 log(s) selected").wait_for()
        page.locator("button.pt-replay-add").first.click()
        page.locator(".pt-replay-add-name input").first.fill(name)
        page.locator(".pt-replay-add-description input").first.fill(f"cases {SVG}")
        page.locator("button.pt-replay-add-confirm").first.click()
        page.locator(".pt-replay-add-result").first.get_by_text("added 3 log(s)").wait_for()
        page.locator("button.pt-replay-add-show").first.click()
        assert wait_for_rows(page, "dataset-items", 3) == 3
        _shows_as_text(page.locator(".pt-datasets-grid").first, "Datasets grid", SHOWN[1:2])
        items = page.locator(".pt-dataset-items-grid").first
        _shows_as_text(items, "dataset items", ("<img src=x onerror=",))
        click_row(page, "dataset-items", 0)
        item = page.locator(".pt-dataset-item-detail").first
        item.locator("table.pt-kv th").first.wait_for()
        _shows_as_text(item, "dataset item", SHOWN[:3])
        _no_script_ran(page, dialogs, "Datasets")
        _shot(page, item, "datasets", request)
    finally:
        if name in {d.name for d in alice.datasets.list()}:
            alice.datasets.delete(name)

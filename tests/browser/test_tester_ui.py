"""The tester app in a real JupyterLab and Chromium: pick a log, test it, compare; no secret
in a notebook saved with widget state."""

from __future__ import annotations

import json
import re

import pytest

from tests.support import attacks

from .conftest import output_dir
from .grids import click_row, wait_for_rows
from .lab import open_notebook, run_all_cells, save_notebook

pytestmark = pytest.mark.browser

NOTEBOOK = "prompt_tester.ipynb"
SENTINEL = "SENTINEL-browser-0123456789abcdef"


def widget_tab(page, title: str):
    return page.locator(".widget-tab .lm-TabBar-tab", has_text=title).first


def test_pick_a_log_test_it_and_compare(page, lab_server, request):
    open_notebook(page, lab_server, NOTEBOOK)
    run_all_cells(page)
    wait_for_rows(page, "log", 10)  # the Logs grid (tests/browser/grids.py)
    click_row(page, "log", 3)
    detail = page.locator(".pt-log-detail").first
    detail.get_by_text("Context").first.wait_for()
    page.locator(".pt-test-prompt button, button.pt-test-prompt").first.click()

    title = page.locator(".pt-tester-title").first
    title.get_by_text("from log").wait_for()
    page.locator(".pt-context-mode button", has_text="Raw JSON").click()  # fields by default
    context = page.locator(".pt-context textarea").first
    current = json.loads(context.input_value())
    current["browser_note"] = "edited in the browser"
    context.fill(json.dumps(current, indent=2))
    context.press("Tab")  # the context syncs on change

    page.locator("button.pt-run, .pt-run button").first.click()
    # opened from a log, the Tester runs as-logged: the model that served that log
    served = re.compile(r"^(azure/westus/gpt-4(-turbo|o)|openai/gpt-4o-mini)$")
    page.locator(".pt-result").first.get_by_text(served).first.wait_for()
    comparison = page.locator(".pt-comparison").first
    assert "Logged answer" in comparison.inner_text()
    page.screenshot(path=str(output_dir(request.config) / "tester_result.png"), full_page=True)


def test_secrets_typed_in_the_browser_never_reach_the_saved_notebook(page, lab_server):
    open_notebook(page, lab_server, NOTEBOOK)
    run_all_cells(page)
    widget_tab(page, "Secrets").click()
    box = page.locator(".pt-secret-OPENAI_ORG input").first
    box.fill(SENTINEL)
    page.locator("button.pt-save-OPENAI_ORG, .pt-save-OPENAI_ORG button").first.click()
    status = page.locator(".pt-secret-status").first
    status.get_by_text("…cdef").wait_for()
    assert box.input_value() == ""
    saved = save_notebook(page, lab_server, NOTEBOOK)
    text = json.dumps(saved)
    assert "application/vnd.jupyter.widget-state+json" in text  # state really was saved
    attacks.record("notebook", "saved notebook (contents API)", "secret-search", SENTINEL in text)
    assert SENTINEL not in text
    on_disk = (lab_server.root_dir / NOTEBOOK).read_text()
    attacks.record("notebook", "saved notebook (disk)", "secret-search", SENTINEL in on_disk)
    assert SENTINEL not in on_disk and "widget-state" in on_disk

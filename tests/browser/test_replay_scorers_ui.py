"""The Replay tab in a real JupyterLab and Chromium: choose a check scorer, replay, see its
column in the rows and its line in the summary."""

from __future__ import annotations

import pytest

from .conftest import output_dir
from .grids import click_row, column, search, wait_for_rows
from .lab import open_notebook, run_all_cells

pytestmark = pytest.mark.browser

NOTEBOOK = "prompt_tester.ipynb"


def widget_tab(page, title: str):
    return page.locator(".widget-tab .lm-TabBar-tab", has_text=title).first


def test_replay_with_a_check_scorer_shows_its_column(page, lab_server, request):
    open_notebook(page, lab_server, NOTEBOOK)
    run_all_cells(page)
    wait_for_rows(page, "log", 10)  # the Logs grid (tests/browser/grids.py)
    search(page, "log", "support-reply")  # a support reply: it signs off as Acme Support
    click_row(page, "log", 0)
    page.locator(".pt-log-detail").first.get_by_text("Context").first.wait_for()
    page.locator(".pt-test-prompt button, button.pt-test-prompt").first.click()
    page.locator(".pt-tester-title").first.get_by_text("from log").wait_for()

    widget_tab(page, "Replay").click()
    limit = page.locator(".pt-replay-limit input").first
    limit.fill("2")
    limit.press("Tab")  # number inputs sync on change
    contains = page.locator(".pt-scorer-contains input").first
    contains.fill("Acme Support")  # every support reply signs off so
    contains.press("Tab")
    page.locator(".pt-scorers-chosen").first.get_by_text("contains").wait_for()
    page.locator("button.pt-replay-run, .pt-replay-run button").first.click()

    summary = page.locator(".pt-replay-scores").first
    summary.get_by_text("pass rate").wait_for(timeout=120_000)
    assert "contains" in summary.inner_text() and "100%" in summary.inner_text()
    assert wait_for_rows(page, "replay", 2) == 2
    scores = column(page, "replay", "contains")  # the scorer's column in the grid
    assert scores == ["1.00", "1.00"], scores
    page.screenshot(path=str(output_dir(request.config) / "replay_scorers.png"), full_page=True)

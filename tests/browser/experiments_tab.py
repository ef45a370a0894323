"""The Experiments tab in the browser, on an app already open (``test_app_views``' demo test
calls it, so no second notebook is started): two stored experiments filtered by their
dataset, the base blessed, the other compared with it, an item's word diff, the history
plotted, then the item opened in the Tester. Screenshots: test-output/browser/experiments_*.png.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from tests.support.experiment_runs import REGRESSED, experiment_pair

from .grids import ROWS, click_row, column, rows, wait_for_rows

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import Locator, Page


def store_two(alice: Any) -> tuple[str, Any, Any]:
    """Two experiments over a fresh dataset (stored before the tab lists them)."""
    dataset = f"refunds-{uuid.uuid4().hex[:6]}"
    base, other = experiment_pair(alice, dataset)
    first = alice.experiments._store(base, name="production answers", note="the baseline")
    second = alice.experiments._store(other, name="keep it short", note="one line added")
    return dataset, first, second


def check_experiments_tab(
    page: Page, app: Locator, folder: Path, stored: tuple[str, Any, Any], shoot: Any
) -> None:
    """Drive the tab as a user does; ``app`` is the app's tab widget, ``shoot`` the
    screenshot helper of the calling test."""
    dataset = stored[0]
    page.locator(".widget-tab .lm-TabBar-tab", has_text="Experiments").first.click()
    page.locator(".pt-experiments-dataset select").first.select_option(label=dataset)
    # the filter applies in the kernel: wait until the grid holds just the dataset's two
    page.wait_for_function(
        "sel => document.querySelectorAll(sel).length === 2",
        arg=f".pt-experiments-grid {ROWS}",
        timeout=30_000,
    )
    assert column(page, "experiments", "name") == ["keep it short", "production answers"]
    assert column(page, "experiments", "dataset") == [f"{dataset}@1"] * 2
    assert column(page, "experiments", "polite: mean [95%]")[0].startswith("0.75 [")
    # the base: bless it; the grid stars it
    click_row(page, "experiments", 1)
    page.locator(".pt-experiment-detail", has_text="the baseline").first.wait_for()
    page.locator("button.pt-experiment-bless").first.click()
    page.wait_for_function(
        "sel => [...document.querySelectorAll(sel)].some(td => td.innerText.trim() === '★')",
        arg=f".pt-experiments-grid {ROWS} td",
    )
    # the other: the blessed one becomes the base; Compare
    row = rows(page, "experiments").filter(has_text="keep it short").first
    row.locator("td").nth(1).click()
    base_picker = page.locator(".pt-experiment-base select").first
    # (ipywidgets writes an option's spaces as no-break spaces)
    page.wait_for_function(
        "el => el.selectedOptions[0]?.text.replace(/\\u00a0/g, ' ').startsWith('★ production')",
        arg=base_picker.element_handle(),
    )
    page.locator("button.pt-experiment-compare").first.click()
    summary = page.locator(".pt-experiment-summary").first
    summary.get_by_text("item(s) matched").wait_for()
    text = summary.inner_text()
    assert "McNemar" in text and "What else differs" in text, text
    wait_for_rows(page, "experiment-items", 8, timeout_ms=30_000)
    results = column(page, "experiment-items", "result")
    assert results[: len(REGRESSED)] == ["✗ regression"] * len(REGRESSED), results
    # an item: both answers and the word diff
    click_row(page, "experiment-items", 0)
    page.locator(".pt-experiment-diff .pt-wdiff").first.wait_for()
    # the history of the dataset
    page.locator(".pt-experiment-metric select").first.select_option(label="polite")
    page.locator("button.pt-experiment-plot").first.click()
    page.locator(".pt-experiment-history img").first.wait_for()
    shoot(page, app, folder / "experiments_compare.png")
    shoot(page, page.locator(".pt-experiment-summary").first, folder / "experiments_summary.png")
    items = page.locator(".pt-experiment-items-grid").first
    shoot(page, items, folder / "experiments_items.png")
    # the item opens in the Tester with the other's answer
    page.locator("button.pt-experiment-open").first.click()
    page.locator(".widget-tab .lm-TabBar-tab.lm-mod-current", has_text="Tester").wait_for()
    page.locator(".pt-answer", has_text="Order shipped.").first.wait_for()
    shoot(page, app, folder / "experiments_open_in_tester.png")

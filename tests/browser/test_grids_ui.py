"""The Logs, Replay and Compare grids (itables' ITable widget) in a real JupyterLab and
Chromium: each sorts, searches and selects (a selected row shows its detail or opens in the
Tester), no column is drawn zero-wide (the Replay and Compare grids are drawn while their tab
is hidden), and the grids' JavaScript comes from the wheel, never from a CDN. A screenshot of
each grid's tab is kept under test-output/browser/ (grid_logs.png, grid_replay.png,
grid_compare.png), and of a log's detail pane (log_detail.png)."""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

import pytest

from .conftest import output_dir
from .grids import (
    click_row,
    column,
    header_widths,
    rows,
    search,
    sort_by,
    wait_for_rows,
)
from .lab import open_notebook, run_all_cells

pytestmark = pytest.mark.browser

NOTEBOOK = "prompt_tester.ipynb"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def widget_tab(page, title: str):
    return page.locator(".widget-tab .lm-TabBar-tab", has_text=title).first


def _numbers(cells: list[str]) -> list[float]:
    return [float(c) for c in cells if c]


def _screenshot(page, path) -> None:
    """The app's tabs at the top of the view (the notebook scrolls inside JupyterLab)."""
    page.locator(".widget-tab").first.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(path))


def _no_zero_width(page, name: str) -> None:
    widths = header_widths(page, name)
    assert widths and all(w > 20 for w in widths.values()), widths


def test_grids_sort_search_select_and_open(page, lab_server, request):
    remote: list[str] = []
    page.on(
        "request",
        lambda r: (
            remote.append(r.url)
            if urllib.parse.urlparse(r.url).hostname not in LOCAL_HOSTS
            and not r.url.startswith(("data:", "blob:"))
            else None
        ),
    )
    open_notebook(page, lab_server, NOTEBOOK)
    run_all_cells(page)
    shots = output_dir(request.config)

    # --- Logs: one page of rows, sorted by latency, searched, a row's detail, Test prompt
    count = wait_for_rows(page, "log", 10)
    assert count == 50, count  # the first page, all of it in the browser
    _no_zero_width(page, "log")
    assert "Page 1 · 50 logs · more" in page.locator(".pt-log-page").first.inner_text()
    sort_by(page, "log", "latency (s)")
    latencies = _numbers(column(page, "log", "latency (s)"))
    assert latencies == sorted(latencies) and len(latencies) > 10, latencies
    sort_by(page, "log", "cost (USD)", descending=True)
    costs = _numbers(column(page, "log", "cost (USD)"))
    assert costs == sorted(costs, reverse=True), costs
    # a plain word of a preview (DataTables' smart search reads quotes as a phrase)
    word = next(
        w
        for text in column(page, "log", "answer preview")
        for w in text.split()
        if re.fullmatch(r"[A-Za-z]{5,}", w)
    )
    search(page, "log", word)
    previews = column(page, "log", "answer preview")
    # the search reads each log's whole answer and context, not the preview: every row whose
    # preview shows the word is among the matches (and others may match further in)
    assert previews and sum(word.lower() in p.lower() for p in previews) >= 1, (word, previews)
    said = page.locator(".pt-log-grid-search-label").first.inner_text()
    assert "logs on this page match" in said and "matched so far" in said, said
    assert "more logs exist" in said, said  # the first of several pages
    search(page, "log", "")
    wait_for_rows(page, "log", 50)
    context_of_third = column(page, "log", "prompt")[2]
    click_row(page, "log", 2)
    detail = page.locator(".pt-log-detail").first
    detail.get_by_text("Context").first.wait_for()
    assert context_of_third in detail.inner_text()
    _screenshot(page, shots / "grid_logs.png")
    # the detail reads like the Tester: chat bubbles, metrics with units, key/value context,
    # and the raw JSON hidden until one click
    assert detail.locator(".pt-msg").count() >= 1
    assert re.search(r"\d+\.\d\d s", detail.locator(".pt-metrics").first.inner_text())
    assert "tokens" in detail.locator(".pt-metrics").first.inner_text()
    assert detail.locator("table.pt-kv th").count() >= 1
    raw = detail.locator("details.pt-raw pre").first
    assert not raw.is_visible()
    detail.locator("details.pt-raw summary").first.click()
    raw.wait_for(state="visible")
    assert '"context"' in raw.inner_text()
    detail.locator("details.pt-raw summary").first.click()  # closed again for the picture
    detail.scroll_into_view_if_needed()
    detail.screenshot(path=str(shots / "log_detail.png"))
    page.locator(".pt-test-prompt button, button.pt-test-prompt").first.click()
    page.locator(".pt-tester-title").first.get_by_text("from log").wait_for()

    # --- Replay: drawn while hidden; rows land, sort by similarity, search, open in Tester
    widget_tab(page, "Replay").click()
    limit = page.locator(".pt-replay-limit input").first
    limit.fill("4")
    limit.press("Tab")  # number inputs sync on change
    page.locator("button.pt-replay-run, .pt-replay-run button").first.click()
    page.locator(".pt-replay-summary").first.get_by_text("answered").first.wait_for(timeout=120_000)
    assert wait_for_rows(page, "replay", 4) == 4
    _no_zero_width(page, "replay")
    sort_by(page, "replay", "similarity")
    sims = _numbers(column(page, "replay", "similarity"))
    assert sims == sorted(sims) and len(sims) == 4, sims
    sort_by(page, "replay", "cost (USD)", descending=True)
    costs = _numbers(column(page, "replay", "cost (USD)"))
    assert costs == sorted(costs, reverse=True), costs
    contexts = column(page, "replay", "context")
    search(page, "replay", contexts[1])
    assert column(page, "replay", "context") == [contexts[1]]
    click_row(page, "replay", 0)
    page.locator(".pt-row-scores").first.get_by_text(contexts[1]).wait_for()
    # the raw id, one click from the readable label
    raw_id = page.locator(".pt-row-scores .pt-context-id").first.inner_text()
    assert re.fullmatch(r".+#\d+", raw_id), raw_id
    _screenshot(page, shots / "grid_replay.png")
    # the run as a DataFrame in the tab, and as a CSV download
    page.locator("button.pt-replay-frame, .pt-replay-frame button").first.click()
    frame = page.locator(".pt-replay-frame-view").first
    frame.locator("table.dataframe, table").first.wait_for()
    assert "context_id" in frame.inner_text()
    page.locator("button.pt-replay-csv, .pt-replay-csv button").first.click()
    link = page.locator(".pt-replay-csv-link a").first
    with page.expect_download() as download:
        link.click()
    csv_text = Path(download.value.path()).read_text()
    assert csv_text.startswith("context_id,") and raw_id in csv_text
    opener = page.locator("button.pt-replay-open, .pt-replay-open button").first
    page.wait_for_function("el => !el.disabled", arg=opener.element_handle())
    opener.click()
    # the Tester shows the row's own answer, scores and reasons: no "not run yet" dead end
    shown_row = page.locator(".pt-tester-replay-row").first
    shown_row.get_by_text("Replay row").wait_for()
    assert contexts[1] in shown_row.inner_text()
    answers = page.locator(".pt-comparison").first
    assert "Replayed answer" in answers.inner_text()
    assert "not run yet" not in answers.inner_text()
    assert "lm-mod-current" in (widget_tab(page, "Tester").get_attribute("class") or "")
    shown_row.evaluate("el => el.scrollIntoView({block: 'end'})")
    page.screenshot(path=str(shots / "tester_from_replay_row.png"))

    # --- Compare: the last run against production, sorted by verdict, searched, a pair shown
    widget_tab(page, "Compare").click()
    page.locator("button.pt-compare-run, .pt-compare-run button").first.click()
    page.locator(".pt-compare-summary").first.get_by_text("win rate").wait_for(timeout=180_000)
    assert wait_for_rows(page, "compare", 4) == 4
    _no_zero_width(page, "compare")
    assert "losses, then ties" in page.locator(".pt-compare-grid-page").first.inner_text()
    sort_by(page, "compare", "context")
    pairs = column(page, "compare", "context")
    assert pairs == sorted(pairs), pairs
    search(page, "compare", pairs[-1])
    assert column(page, "compare", "context") == [pairs[-1]]
    click_row(page, "compare", 0)
    shown = page.locator(".pt-compare-detail").first
    shown.get_by_text("Candidate shown first").wait_for()
    text = shown.inner_text()
    assert pairs[-1] in text and "Production's answer" in text, text
    # the reasons name the candidate and production, never the judge's "A" and "B"
    for line in text.splitlines():
        if "shown first:" in line:
            assert not re.search(r"\b[AB]\b", line), line
    summary = page.locator(".pt-compare-summary").first.inner_text()
    assert re.search(r"(?i)(significantly (better|worse)|no clear difference)", summary), summary
    assert re.search(r"\d\.\d\d\u2013\d\.\d\d", summary), summary
    page.locator(".pt-compare-diff").first.wait_for()
    _screenshot(page, shots / "grid_compare.png")
    # the pair's way on: CSV of the comparison, and the candidate's row in the Tester
    page.locator("button.pt-compare-csv, .pt-compare-csv button").first.click()
    with page.expect_download() as download:
        page.locator(".pt-compare-csv-link a").first.click()
    assert Path(download.value.path()).read_text().startswith("context_id,")
    page.locator("button.pt-compare-open, .pt-compare-open button").first.click()
    page.locator(".pt-tester-replay-row").first.get_by_text("Replay row").wait_for()
    assert "lm-mod-current" in (widget_tab(page, "Tester").get_attribute("class") or "")

    # the grids' code came with the page, from the Jupyter server: no CDN, no remote host
    assert not remote, remote
    assert not [u for u in remote if re.search(r"cdn|unpkg|jsdelivr", u)]
    assert rows(page, "log").count() == 50

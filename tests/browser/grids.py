"""Driving the app's grids (itables' ITable widget: DataTables) from Playwright.

A grid is found by its class (`.pt-log-grid`, `.pt-replay-grid`, `.pt-compare-grid`); its
rows are DataTables' `tbody tr` (the "empty" placeholder row excluded), its headers `thead th`
with the title in `.dt-column-title`. Everything waits on DOM states."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

ROWS = "table.dataTable tbody tr:not(:has(td.dt-empty))"


def grid(page: Page, name: str) -> Locator:
    """The grid `name` ("log", "replay", "compare") of the app on the page."""
    return page.locator(f".pt-{name}-grid").first


def rows(page: Page, name: str) -> Locator:
    return grid(page, name).locator(ROWS)


def wait_for_rows(page: Page, name: str, at_least: int, timeout_ms: float = 120_000) -> int:
    """Waits until grid `name` shows at least `at_least` rows; returns how many it shows."""
    selector = f".pt-{name}-grid {ROWS}"
    page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel).length >= n",
        arg=[selector, at_least],
        timeout=timeout_ms,
    )
    return rows(page, name).count()


def column(page: Page, name: str, title: str) -> list[str]:
    """The texts of column `title` in the rows grid `name` shows, top to bottom."""
    return grid(page, name).evaluate(
        """(el, title) => {
            const table = el.querySelector('table.dataTable');
            const heads = [...table.querySelectorAll('thead th')];
            const i = heads.findIndex(th => th.innerText.trim() === title);
            if (i < 0) throw new Error('no column ' + title + ' in ' +
                heads.map(th => th.innerText.trim()).join(' | '));
            return [...table.querySelectorAll('tbody tr')]
                .filter(tr => !tr.querySelector('td.dt-empty'))
                .map(tr => tr.children[i].innerText.trim());
        }""",
        title,
    )


def header_widths(page: Page, name: str) -> dict[str, float]:
    """Each header's drawn width in pixels (a zero means a column drawn while hidden)."""
    return grid(page, name).evaluate(
        """el => Object.fromEntries([...el.querySelectorAll('table.dataTable thead th')]
            .map(th => [th.innerText.trim(), th.getBoundingClientRect().width]))"""
    )


def sort_by(page: Page, name: str, title: str, descending: bool = False) -> None:
    """Clicks header `title` (once ascending, twice descending) and waits for the order."""
    head = grid(page, name).locator("table.dataTable thead th", has_text=title).first
    for want in ["dt-ordering-asc", *(["dt-ordering-desc"] if descending else [])]:
        head.click()
        page.wait_for_function(
            "([el, cls]) => el.classList.contains(cls)", arg=[head.element_handle(), want]
        )


def search(page: Page, name: str, text: str) -> None:
    """Types `text` in the grid's search box and presses Enter; the kernel searches every
    row's whole text and sends the matching rows. Waits until the grid shows them: the
    search's label says how many match (it is empty again once the box is)."""
    box = page.locator(f".pt-{name}-grid-search input").first
    label = page.locator(f".pt-{name}-grid-search-label").first
    before = label.inner_text()
    box.fill(text)
    box.press("Enter")
    if text:
        page.wait_for_function(
            "([el, before]) => el.innerText.includes('match') && el.innerText !== before",
            arg=[label.element_handle(), before],
        )
        # the rows the label counts reached the table
        count = int(label.inner_text().split()[0])
        selector = f".pt-{name}-grid {ROWS}"
        page.wait_for_function(
            "([sel, n]) => document.querySelectorAll(sel).length === n",
            arg=[selector, count],
        )
    else:
        page.wait_for_function("el => el.innerText.trim() === ''", arg=label.element_handle())


def click_row(page: Page, name: str, index: int) -> None:
    """Clicks row `index` (0 = top) of grid `name` and waits until the browser shows it
    selected (the ITable then sends `selected_rows` to the kernel)."""
    row = rows(page, name).nth(index)
    row.locator("td").first.click()
    page.wait_for_function("el => el.classList.contains('selected')", arg=row.element_handle())

"""Driving a real JupyterLab from Playwright: the server handle and page helpers.

Everything waits on DOM states, never on fixed sleeps:

- the notebook is `.jp-NotebookPanel` (the visible one: `:not(.lm-mod-hidden)`);
- the kernel's state is the `data-status` attribute of the toolbar's execution indicator
  (`.jp-Notebook-ExecutionIndicator`: `idle`, `busy`, `initializing`, `connecting`,
  `unknown`, …). It reads `idle` *before* any kernel exists too, while the toolbar's kernel
  name (`[data-jp-item-name="kernelName"]`) still says "No Kernel": a kernel is ready only
  when both say so;
- a code cell that is queued or running shows `[*]:` in its `.jp-InputPrompt`.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prompt_tester_nb.local.jupyter import JupyterServer

if TYPE_CHECKING:  # playwright is imported only where the browser tests run
    from playwright.sync_api import Locator, Page

NOTEBOOK_PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
KERNEL_INDICATOR = ".jp-Notebook-ExecutionIndicator"
KERNEL_NAME = '[data-jp-item-name="kernelName"]'
NO_KERNEL = "No Kernel"
DIALOG = ".jp-Dialog"

# Generous: a cold JupyterLab (first webpack chunk load, kernel start) can take a while.
DEFAULT_TIMEOUT_MS = 60_000
RUN_TIMEOUT_MS = 180_000


# The server the browser tests drive (started by the `lab_server` fixture).
LabServer = JupyterServer


# --- waiting -----------------------------------------------------------------------------------


def notebook_panel(page: Page) -> Locator:
    """The notebook panel in the main area that is currently shown."""
    return page.locator(NOTEBOOK_PANEL).first


def kernel_status(page: Page) -> str | None:
    """The notebook's kernel state as its toolbar shows it (`idle`, `busy`, …), or None."""
    return page.evaluate(
        """([panelSel, indSel]) => {
            const panel = document.querySelector(panelSel);
            const ind = panel && panel.querySelector(indSel);
            return ind ? ind.getAttribute('data-status') : null;
        }""",
        [NOTEBOOK_PANEL, KERNEL_INDICATOR],
    )


def wait_for_kernel_idle(page: Page, timeout_ms: float = DEFAULT_TIMEOUT_MS) -> None:
    """Waits until the visible notebook has a kernel (its toolbar names one) and it is idle.

    A dialog (JupyterLab's kernel chooser, "kernel restarted", …) would block forever, so it
    is accepted with its default button as soon as it appears.
    """
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        remaining = max(deadline - time.monotonic(), 0) * 1000
        try:
            state = page.wait_for_function(
                """([panelSel, indSel, nameSel, noKernel, dialogSel]) => {
                    if (document.querySelector(dialogSel)) return 'dialog';
                    const panel = document.querySelector(panelSel);
                    const ind = panel && panel.querySelector(indSel);
                    const name = panel && panel.querySelector(nameSel);
                    const kernel = name ? name.textContent.trim() : '';
                    return ind && ind.getAttribute('data-status') === 'idle'
                        && kernel && kernel !== noKernel ? 'idle' : false;
                }""",
                arg=[NOTEBOOK_PANEL, KERNEL_INDICATOR, KERNEL_NAME, NO_KERNEL, DIALOG],
                timeout=max(remaining, 1),
            ).json_value()
        except Exception as exc:
            raise AssertionError(
                f"the notebook's kernel did not become idle within {timeout_ms / 1000:.0f} s "
                f"(kernel status: {kernel_status(page)!r})"
            ) from exc
        if state == "idle":
            return
        accept_dialog(page)


def accept_dialog(page: Page) -> str:
    """Accepts the open JupyterLab dialog with its default button; returns the dialog's text."""
    dialog = page.locator(DIALOG).first
    text = dialog.inner_text()
    dialog.locator(".jp-Dialog-button.jp-mod-accept").first.click()
    dialog.wait_for(state="detached")
    return text


# --- notebook actions --------------------------------------------------------------------------


def open_notebook(
    page: Page, lab: LabServer, relpath: str, timeout_ms: float = DEFAULT_TIMEOUT_MS
) -> Locator:
    """Opens `relpath` (relative to the server's root) in a fresh workspace; returns its panel
    once its cells are shown and its kernel is idle."""
    page.goto(lab.lab_url(relpath), wait_until="domcontentloaded", timeout=timeout_ms)
    panel = notebook_panel(page)
    panel.wait_for(state="visible", timeout=timeout_ms)
    panel.locator(".jp-Cell").first.wait_for(state="attached", timeout=timeout_ms)
    name = Path(relpath).name
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current", has_text=name).wait_for(
        timeout=timeout_ms
    )
    wait_for_kernel_idle(page, timeout_ms)
    return panel


def run_command_from_menu(page: Page, menu: str, *commands: str) -> str:
    """Runs a JupyterLab command through the menu bar, e.g. `("Run", "runmenu:run-all")`.

    Menu items carry their command id in `data-command`, which is stable across languages,
    unlike their labels. The first of `commands` found in the menu is clicked and returned
    (JupyterLab's own menus use the generic `runmenu:*` / `docmanager:*` ids that dispatch to
    the current document, not `notebook:*`).
    """
    page.locator("#jp-menu-panel .lm-MenuBar-item").filter(
        has_text=re.compile(rf"^\s*{re.escape(menu)}\s*$")
    ).first.click()
    menu_panel = page.locator(".lm-Menu").first
    menu_panel.wait_for(state="visible")
    for command in commands:
        item = menu_panel.locator(f'.lm-Menu-item[data-command="{command}"]')
        if item.count():
            if "lm-mod-disabled" in (item.first.get_attribute("class") or ""):
                page.keyboard.press("Escape")
                raise AssertionError(f"menu command {command!r} is disabled in {menu!r}")
            item.first.click()
            menu_panel.wait_for(state="detached")
            return command
    page.keyboard.press("Escape")
    raise AssertionError(f"none of {commands} is in the {menu!r} menu")


def run_all_cells(page: Page, timeout_ms: float = RUN_TIMEOUT_MS) -> list[str]:
    """Runs every cell (Run → Run All Cells) and waits until the run is over: some cell was
    seen queued (`[*]`), none is any more, and the kernel is idle.

    Returns the code cells' prompts afterwards (e.g. ["[1]:", "[2]:"]); a run stopped by an
    error leaves the later cells' prompts empty (see `cell_errors`).
    """
    # Watching the DOM from before the click means a very fast run cannot be missed: JupyterLab
    # marks every scheduled cell `[*]` at once, and the kernel's replies come in later tasks.
    page.evaluate(
        """(panelSel) => {
            const panel = document.querySelector(panelSel);
            if (window.__labRun) window.__labRun.observer.disconnect();
            const state = {started: false};
            // Only a `[*]` prompt counts as "started": the kernel also turns busy for its own
            // start-up and for widget comms, which says nothing about our run.
            const check = () => {
                if ([...panel.querySelectorAll('.jp-InputPrompt')]
                        .some(p => p.textContent.includes('*'))) state.started = true;
            };
            state.observer = new MutationObserver(check);
            state.observer.observe(panel, {subtree: true, childList: true, characterData: true});
            window.__labRun = state;
        }""",
        NOTEBOOK_PANEL,
    )
    run_command_from_menu(page, "Run", "runmenu:run-all", "notebook:run-all-cells")
    try:
        outcome = page.wait_for_function(
            """([panelSel, indSel, dialogSel]) => {
                const dialog = document.querySelector(dialogSel);
                if (dialog) return 'dialog: ' + dialog.innerText.replace(/\\s+/g, ' ');
                const state = window.__labRun;
                const panel = document.querySelector(panelSel);
                if (!state || !panel) return false;
                const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                    .map(p => p.textContent);
                if (prompts.some(t => t.includes('*'))) { state.started = true; return false; }
                const ind = panel.querySelector(indSel);
                return state.started && !!ind && ind.getAttribute('data-status') === 'idle'
                    ? 'done' : false;
            }""",
            arg=[NOTEBOOK_PANEL, KERNEL_INDICATOR, DIALOG],
            timeout=timeout_ms,
        ).json_value()
    except Exception as exc:
        raise AssertionError(
            f"Run All Cells did not finish within {timeout_ms / 1000:.0f} s; prompts "
            f"{cell_prompts(page)}, kernel {kernel_status(page)!r}"
        ) from exc
    finally:
        page.evaluate("() => { if (window.__labRun) window.__labRun.observer.disconnect(); }")
    if outcome != "done":  # e.g. "Select Kernel", "Kernel Restarting" (the kernel died)
        raise AssertionError(f"a dialog interrupted Run All Cells: {outcome}")
    return cell_prompts(page)


def cell_prompts(page: Page) -> list[str]:
    """The execution prompts of the code cells, in order ("[3]:", "[*]:", or "" / "[ ]:")."""
    return [
        " ".join(text.split())
        for text in notebook_panel(page).locator(".jp-CodeCell .jp-InputPrompt").all_text_contents()
    ]


def cell_outputs(page: Page) -> list[str]:
    """The text of each code cell's outputs, one string per code cell (empty if none).

    `textContent` is used rather than `innerText`: JupyterLab skips rendering of off-screen
    cells (`content-visibility`), which `innerText` would report as empty.
    """
    return notebook_panel(page).evaluate(
        """(panel) => [...panel.querySelectorAll('.jp-CodeCell')].map(cell =>
            [...cell.querySelectorAll('.jp-OutputArea-output')]
                .map(o => o.textContent.trim()).join('\\n'))"""
    )


def cell_outputs_text(page: Page) -> str:
    """All outputs of the visible notebook as one text (cells separated by blank lines)."""
    return "\n\n".join(text for text in cell_outputs(page) if text)


def cell_errors(page: Page) -> list[str]:
    """The text of every error output (tracebacks) and stderr stream in the notebook."""
    return notebook_panel(page).evaluate(
        """(panel) => [...panel.querySelectorAll(
                '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"],' +
                '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
            .map(o => o.textContent.trim())"""
    )


def save_notebook(
    page: Page, lab: LabServer, relpath: str, timeout_ms: float = DEFAULT_TIMEOUT_MS
) -> dict[str, Any]:
    """Saves the visible notebook (File → Save) and waits until the server has the new version
    and the tab is no longer marked dirty. Returns the saved notebook's JSON (nbformat dict)."""
    api_path = "/api/contents/" + urllib.parse.quote(relpath.lstrip("/"))
    before = lab.api(api_path + "?content=0")["last_modified"]

    def is_the_save(response: Any) -> bool:
        path = urllib.parse.unquote(urllib.parse.urlparse(response.url).path)
        return response.request.method == "PUT" and path.endswith(urllib.parse.unquote(api_path))

    # The page's own PUT of the notebook: when its answer arrives, the server has the file.
    try:
        with page.expect_response(is_the_save, timeout=timeout_ms) as saving:
            run_command_from_menu(page, "File", "docmanager:save")
    except Exception as exc:
        raise AssertionError(f"{relpath} was not saved within {timeout_ms / 1000:.0f} s") from exc
    response = saving.value
    assert response.ok, f"saving {relpath}: HTTP {response.status} {response.text()[:300]}"
    assert lab.api(api_path + "?content=0")["last_modified"] != before, f"{relpath} unchanged"
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current.jp-mod-dirty").wait_for(
        state="detached", timeout=timeout_ms
    )
    return lab.api(api_path)["content"]

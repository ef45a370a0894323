"""Fixtures for the browser tests: a real JupyterLab server and a real headless Chromium.

- `lab_server` (package): JupyterLab on a free loopback port, serving a temporary copy of
  `notebooks/`, with the local stack's settings (the `stack` fixture of tests/conftest.py) in
  its environment, hence in its kernels'. Its log is test-output/browser/lab-server.log.
- `browser` (package): Debian's /usr/bin/chromium launched through Playwright, headless.

Both are started once for all of tests/browser (sub-packages included) and stopped when its
last test is done, not at the end of the session: Playwright's sync API keeps an asyncio loop
marked as running in the main thread for as long as it is open, which breaks every later
test that runs its own loop (pytest-jupyter's `jp_asyncio_loop`: "Cannot close a running
event loop"). For the same reason no test in tests/browser may use asyncio itself.
- `page` (function): a fresh context and page; on failure a screenshot, the page's HTML and
  its console errors are saved under test-output/browser/<test name>/.
- `console_errors` (function): the page's console errors and uncaught exceptions so far.

Without chromium or playwright the tests are skipped, unless `CI` is set: then they fail.
`scripts/install-browser.sh` installs both.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .lab import DEFAULT_TIMEOUT_MS, LabServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from prompt_tester_nb.local.stack import LocalStack

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
VIEWPORT = {"width": 1440, "height": 1000}

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()

# JupyterLab user settings for the test server (a private settings folder): no news/update
# checks (no network, no toast over the page).
LAB_SETTINGS = {
    # Save widget state with the notebook, as a user may: then the saved file is searched
    # for secrets too.
    "@jupyter-widgets/jupyterlab-manager/plugin.jupyterlab-settings": {"saveState": True},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "browser: end-to-end test in a real JupyterLab and headless Chromium (tests/browser)",
    )


def output_dir(config: pytest.Config) -> Path:
    path = Path(config.rootpath) / "test-output" / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- availability ------------------------------------------------------------------------------


def _missing() -> str | None:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (Debian package chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright Python package")
    if not missing:
        return None
    return "browser tests need " + " and ".join(missing) + "; run scripts/install-browser.sh"


def _require_browser() -> None:
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


def pytest_runtest_setup(item: pytest.Item) -> None:
    # Before any fixture: no stack or JupyterLab is started for tests that would be skipped.
    if item.get_closest_marker("browser"):
        _require_browser()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def _failed(item: pytest.Item) -> bool:
    reports = item.stash.get(_REPORTS, {})
    return any(r.failed for r in reports.values())


# --- JupyterLab --------------------------------------------------------------------------------


@pytest.fixture(scope="package")
def lab_server(
    stack: LocalStack, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[LabServer]:
    base = tmp_path_factory.mktemp("lab")
    root = base / "notebooks"
    # A copy: running and saving notebooks in the tests never touches the committed ones.
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    log_path = output_dir(request.config) / "lab-server.log"
    log_path.write_bytes(b"")
    lab = LabServer(root, base / "jupyter", stack.environ(), log_path, lab_settings=LAB_SETTINGS)
    try:
        lab.start()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield lab
    finally:
        lab.stop()


# --- Chromium ----------------------------------------------------------------------------------


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # `launch` gives every run a fresh, throw-away profile (user-data dir).
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def console_errors() -> list[str]:
    """The page's console errors and uncaught exceptions (filled by the `page` fixture)."""
    return []


def _artifact_name(item: pytest.Item) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", item.name).strip("_") or "test"


@pytest.fixture
def page(
    browser: Browser, console_errors: list[str], request: pytest.FixtureRequest
) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.set_default_navigation_timeout(DEFAULT_TIMEOUT_MS)
    tab = context.new_page()
    tab.on(
        "console",
        lambda msg: (
            console_errors.append(f"console.{msg.type}: {msg.text}")
            if msg.type == "error"
            else None
        ),
    )
    tab.on("pageerror", lambda exc: console_errors.append(f"uncaught: {exc}"))
    try:
        yield tab
    finally:
        if _failed(request.node):
            folder = output_dir(request.config) / _artifact_name(request.node)
            folder.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(Exception):
                tab.screenshot(path=str(folder / "failure.png"), full_page=True, timeout=15_000)
            with contextlib.suppress(Exception):
                (folder / "page.html").write_text(tab.content())
            (folder / "console-errors.txt").write_text("\n".join(console_errors) + "\n")
        context.close()

"""A deep link opened while signed out: sign in through the hosted UI, land in the tester with
that log and prompt version (the notebook the server wrote runs once the server accepts the
one-time proof it handed out), run it, sign out — in a real JupyterLab and Chromium."""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

import pytest

from tests.conftest import password_of

from .conftest import output_dir

pytestmark = pytest.mark.browser


@pytest.fixture
def no_handoff():
    """Whatever happens, the next test must not inherit this sign-in."""
    yield
    Path(os.environ["PROMPT_TESTER_SESSION_FILE"]).unlink(missing_ok=True)


def test_deep_link_sign_in_test_and_sign_out(page, lab_server, stack, bob, request, no_handoff):
    entry = next(i for i in bob.logs(limit=50).items if i.version and i.context)
    older = bob.prompt_versions(entry.prompt_id)[-1]
    query = urllib.parse.urlencode(
        {
            "token": lab_server.token,
            "context_id": entry.context_id,
            "prompt_id": entry.prompt_id,
            "version": older,
        }
    )
    checks: list[int] = []  # the page asks the server before running what it wrote
    page.on(
        "response",
        lambda r: checks.append(r.status) if "/prompt-tester/api/run-proof" in r.url else None,
    )
    page.goto(f"{lab_server.url}/lab?reset&{query}", wait_until="domcontentloaded")

    # Signed out: the extension asks first, then the hosted UI takes the credentials.
    page.locator(".prompt-tester-sign-in-button").first.click()
    page.locator("#hosted-signin").wait_for()
    assert page.url.startswith(stack.hosted_ui.url + "/oauth2/authorize")
    page.fill("input[name=username]", "bob@acme.example")
    page.fill("input[name=password]", password_of(stack, "bob@acme.example"))
    page.click("#hosted-submit")

    # Back in JupyterLab, the same link continues: a tester notebook with that log and version.
    title = page.locator(".pt-tester-title").first
    title.get_by_text(entry.context_id).wait_for(timeout=120_000)
    assert f"version {older}" in title.inner_text()
    banner = page.locator(".jp-OutputArea-output", has_text="signed in as").first.inner_text()
    assert "signed in as bob@acme.example" in banner  # the kernel got the browser's sign-in
    context_text = page.locator(".pt-context textarea").first.input_value()
    first_key = next(iter(entry.context))
    assert first_key in context_text
    status = page.locator("#prompt-tester-status")
    status.get_by_text("bob@acme.example").wait_for()
    page.wait_for_function("() => !window.location.search.includes('context_id')")
    assert checks == [204], checks  # its one-time proof, used once

    page.locator("button.pt-run, .pt-run button").first.click()
    page.wait_for_function(  # the test's column of the metrics is filled
        "() => !document.querySelector('.pt-result').innerText.includes('not run yet')"
    )
    page.screenshot(path=str(output_dir(request.config) / "deep_link_result.png"), full_page=True)

    # Sign out from the status bar.
    status.click()
    page.locator(".prompt-tester-sign-out-button").first.click()
    page.wait_for_function(
        "() => document.querySelector('#prompt-tester-status').dataset.state === 'signed-out'"
    )
    assert not Path(os.environ["PROMPT_TESTER_SESSION_FILE"]).exists()
    # and it names whom the app (the kernels) uses now, one way: the server's
    # PROMPT_TESTER_EMAIL (the demo's alice), as the app's "signed in as" does
    status.get_by_text("Prompt Tester: alice@acme.example").wait_for()
    assert "PROMPT_TESTER_EMAIL" in (status.get_attribute("title") or "")

"""A link never runs a notebook the product did not write: `/lab/tree/<x>.ipynb?prompt-tester-
run=1` with no proof, a forged one, or the demo's proof for another notebook opens <x> and
runs nothing (<x> writes a file when run: it never appears), in a real JupyterLab and Chromium.
The demo's URL and the deep link still run theirs (tests/browser/test_app_views.py,
test_deep_link.py)."""

from __future__ import annotations

import urllib.parse
import uuid

import nbformat
import pytest

from prompt_tester_nb.local.jupyter import PROOF_PARAM, RUN_PARAM
from prompt_tester_nb.server.run_proof import launch_proof, new_launch_key

from .conftest import output_dir
from .lab import DIALOG, cell_prompts, notebook_panel, run_all_cells, wait_for_kernel_idle

pytestmark = pytest.mark.browser


def _planted(lab_server, marker) -> str:
    """A notebook the product did not write (as a cloned repository brings one): when it
    runs, it writes ``marker``."""
    name = f"colleague-{uuid.uuid4().hex[:8]}.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A notebook nobody asked the Prompt Tester to run"),
        nbformat.v4.new_code_cell(f"open({str(marker)!r}, 'w').write('ran')"),
    ]
    nbformat.write(nb, lab_server.root_dir / name)
    return name


def _with_run(url: str, proof: str | None) -> str:
    extra = {RUN_PARAM: "1", **({PROOF_PARAM: proof} if proof is not None else {})}
    return f"{url}&{urllib.parse.urlencode(extra)}"


def test_a_link_to_a_notebook_the_product_did_not_write_runs_nothing(page, lab_server, request):
    marker = lab_server.root_dir / f"ran-{uuid.uuid4().hex[:8]}.txt"
    name = _planted(lab_server, marker)
    # (the proof in the URL, what the notice says: the server's reason when it was asked)
    attempts = {
        "no proof": (None, "no proof"),
        "forged proof": (launch_proof(new_launch_key(), name), "not this server's proof"),
        "the demo's proof for its own notebook": (
            launch_proof(lab_server.run_key, "prompt_tester.ipynb"),
            "not this server's proof",
        ),
        "a made-up one-time proof": ("o." + uuid.uuid4().hex, "unknown or was used"),
    }
    for attempt, (proof, why) in attempts.items():
        page.goto(_with_run(lab_server.lab_url(name), proof), wait_until="domcontentloaded")
        # Settled: the extension said it did not run it, the notebook is open, its kernel idle.
        notice = page.get_by_text(f"Opened {name} without running it").first
        notice.wait_for()
        assert why in notice.inner_text(), (attempt, notice.inner_text())
        wait_for_kernel_idle(page)
        assert page.locator(DIALOG).count() == 0, attempt  # nothing to click through
        assert all(p in ("", "[ ]:") for p in cell_prompts(page)), (attempt, cell_prompts(page))
        assert not marker.exists(), f"{attempt}: the notebook ran"
        # the run parameters are gone: a reload cannot retry them
        page.wait_for_function(
            "(names) => !names.some(n => window.location.search.includes(n))",
            arg=[RUN_PARAM, PROOF_PARAM],
        )
    notebook_panel(page).screenshot(path=str(output_dir(request.config) / "link_not_run.png"))

    # The positive control: the notebook does write the file when the user runs it.
    run_all_cells(page)
    assert marker.read_text() == "ran"
    marker.unlink()

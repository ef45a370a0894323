"""Smoke test: the tester notebook runs in a real JupyterLab, in a real browser."""

from __future__ import annotations

import hashlib

import pytest

from .conftest import NOTEBOOKS, output_dir
from .lab import cell_errors, cell_outputs_text, open_notebook, run_all_cells, save_notebook

pytestmark = pytest.mark.browser

NOTEBOOK = "prompt_tester.ipynb"
SESSION_REPR = "prompt_tester_nb.Session alice@acme.example"


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_prompt_tester_notebook_runs(page, lab_server, console_errors, request):
    committed = _digest(NOTEBOOKS / NOTEBOOK)
    open_notebook(page, lab_server, NOTEBOOK)

    prompts = run_all_cells(page)

    assert prompts and all(p.startswith("[") and p[1:-2].isdigit() for p in prompts), prompts
    assert cell_errors(page) == []
    text = cell_outputs_text(page)
    assert SESSION_REPR in text, text
    assert not [e for e in console_errors if e.startswith("uncaught:")], console_errors
    page.screenshot(path=str(output_dir(request.config) / "lab_smoke.png"))

    # Saving writes the server's copy, never the committed notebook.
    saved = save_notebook(page, lab_server, NOTEBOOK)
    assert SESSION_REPR in str(saved["cells"])
    assert _digest(NOTEBOOKS / NOTEBOOK) == committed

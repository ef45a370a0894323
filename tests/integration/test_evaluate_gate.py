"""notebooks/evaluate.ipynb is the team's regression test: its gate must fail on a worse draft.

nbval runs the notebook as committed (the candidate passes its gate, `make test`'s second
run); here the same notebook runs in a real kernel against the test stack with the draft
swapped for a worse one, and must stop at the gate with the reason.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def _run(tmp_path: Path, stack, monkeypatch, draft: str) -> nbformat.NotebookNode:
    # a copy, so the committed record is never written to by this run
    for name in ("evaluate.ipynb", "evaluate_cache.sqlite"):
        shutil.copy(NOTEBOOKS / name, tmp_path / name)
    for key, value in stack.environ().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PROMPT_TESTER_SESSION_FILE", str(tmp_path / "session.json"))
    monkeypatch.setenv("EVALUATE_DRAFT", draft)
    nb = nbformat.read(tmp_path / "evaluate.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3").execute(cwd=str(tmp_path))
    return nb


def test_the_gate_fails_the_notebook_on_a_worse_draft(tmp_path, stack, monkeypatch, model):
    with pytest.raises(CellExecutionError) as info:
        _run(tmp_path, stack, monkeypatch, "worse")
    assert info.value.ename == "RegressionError"  # verdict.raise_for_failure()
    assert "the gate failed: min_win_rate" in str(info.value)


def test_the_gate_passes_the_candidate_on_other_data(tmp_path, stack, monkeypatch, model):
    nb = _run(tmp_path, stack, monkeypatch, "candidate")
    last = nb.cells[-1].outputs[-1]["data"]["text/plain"]
    assert "('min_win_rate'" in last and "False" not in last

"""Committed notebooks carry outputs (nbval compares them) but no widget state and no secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
FORBIDDEN = ("demo-openai-key", "demo-azure-key", "Demo-Alice-2026!", "SENTINEL", "IdToken", "eyJ")


def test_there_are_the_notebooks():
    assert {p.name for p in NOTEBOOKS} >= {
        "prompt_tester.ipynb",
        "python_api.ipynb",
        "behaviours_and_secrets.ipynb",
        "replay.ipynb",
        "evaluate.ipynb",
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_outputs_but_no_widget_state_or_secret(path: Path):
    text = path.read_text()
    nb = json.loads(text)
    assert "widgets" not in nb.get("metadata", {})
    assert "application/vnd.jupyter.widget-state+json" not in text
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert sum(bool(c.get("outputs")) for c in code) >= len(code) // 2  # nbval has references
    for word in FORBIDDEN:
        assert word not in text, word

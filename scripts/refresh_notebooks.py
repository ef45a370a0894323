"""Re-execute the notebooks against a fresh stack and save their outputs (the nbval reference).

    prompt-tester run --seed-time 2026-11-01T12:00:00Z -- python scripts/refresh_notebooks.py

Widget state is not stored (it could hold user data), and outputs are kept, so nbval compares
each rerun with what is committed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def main(names: list[str]) -> int:
    paths = [NOTEBOOKS / n for n in names] if names else sorted(NOTEBOOKS.glob("*.ipynb"))
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=300, kernel_name="python3", store_widget_state=False).execute(
            cwd=str(NOTEBOOKS)
        )
        nb.metadata.pop("widgets", None)
        nbformat.write(nb, path)
        print(f"refreshed {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

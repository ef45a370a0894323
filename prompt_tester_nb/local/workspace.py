"""The demo's working copy of the notebooks: what the user runs and edits lives under the state
directory, so a demo never rewrites the checkout's tracked notebooks or answer records
(``*_cache.sqlite``) and its deep-link notebooks land in an ignored folder."""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["demo_workspace"]


def demo_workspace(notebook: str | Path, state_dir: str | Path) -> Path:
    """Copy ``notebook``'s folder to ``state_dir/notebooks`` and return the notebook's path in
    the copy. Only files the copy lacks are copied, so the user's edits and new answers survive
    a restart; ``prompt-tester demo --reset`` (which removes the state directory) starts afresh.
    """
    source = Path(notebook).resolve()
    if not source.is_file():
        raise FileNotFoundError(f"notebook: {notebook} does not exist")
    copy = Path(state_dir).resolve() / "notebooks"
    for path in sorted(source.parent.rglob("*")):
        relative = path.relative_to(source.parent)
        if any(part in (".ipynb_checkpoints", "prompt-tester") for part in relative.parts):
            continue  # Jupyter's checkpoints and deep-link notebooks are not the demo's
        target = copy / relative
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    return copy / source.name
